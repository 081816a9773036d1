"""Which torch device a run uses, checked before anything is created, and the CPU process settings."""

from __future__ import annotations

import ctypes
import os

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``; a device this machine lacks is refused here,
    not at the first tensor moved to it, after a run directory and env workers already exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device={name} is not a torch device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={name} but CUDA is not available here; use device=auto or device=cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"device={name} but this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})"
            )
    elif device.type != "cpu":
        raise ValueError(f"device={name}: training runs on cpu or cuda; use device=auto, cpu or cuda:N")
    return device


def set_torch_threads(threads: int, device: torch.device) -> None:
    """Torch's CPU threads (0 = all cores), and the allocator setting below for CPU training."""
    if device.type == "cpu":
        configure_cpu_process(threads)
    else:
        torch.set_num_threads(threads or os.cpu_count() or 1)


def configure_cpu_process(threads: int = 0) -> None:
    """Torch threads, and glibc's malloc told to keep freed activation buffers instead of returning them to the OS.

    By default glibc serves every allocation above 32 MB with a fresh mmap and unmaps it on free, so each
    update would pay page faults and kernel zero-fill for its big activation buffers (about half the time of a
    plain batch-256 update on this CPU). Below 256 MB blocks now come from the heap and are reused, and up to
    1 GB of free heap is kept; anything larger (a replay array, a replay loaded by --resume) is still mmapped
    and goes back to the OS when freed. No-op where glibc is absent.
    """
    torch.set_num_threads(threads or os.cpu_count() or 1)
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # mallopt parameter numbers from <malloc.h>
    libc.mallopt(m_mmap_threshold, 256 << 20)
    libc.mallopt(m_trim_threshold, 1 << 30)
