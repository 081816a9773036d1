"""Does evaluating (and exporting) a Polyak-averaged policy beat the online one? Both are in every snapshot of a
Squint run with ``agent.policy_average_tau`` > 0, so each snapshot is evaluated twice on the same seeded episodes
and the difference is the averaging alone (same run, same data, same episodes).

    python benchmarks/policy_average.py runs/time_to_success/cpu_30 [--episodes 100] [--last 5] [--jobs 2]
    python benchmarks/policy_average.py runs/time_to_success/cpu_30 --snapshot snapshot_0003.pt

Reads the ``seed_*/snapshots/snapshot_*.pt`` that benchmarks/time_to_success.py leaves and evaluates the last
``--last`` snapshots of every seed, or those named by ``--snapshot`` (episode i starts from seed ``--eval-seed``
+ i, as time_to_success does). Prints one line per snapshot and a JSON last line with the mean success of each
policy and the paired difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

# run as a script, this file's folder is on sys.path: the seeded evaluation is time_to_success.py's
from time_to_success import seeded_successes


def evaluate(snapshot: str, which: str, episodes: int, seed_base: int) -> dict:
    """Success of the ``which`` ('online' or 'averaged') policy of one snapshot (a worker process)."""
    import torch

    torch.set_num_threads(1)
    from policies.squint.checkpoint import load_agent

    agent, cfg, payload = load_agent(snapshot)
    agent.train(False)
    if agent.averaged_policy is None:
        raise SystemExit(f"{snapshot}: trained with agent.policy_average_tau=0, it holds no averaged policy")
    if which == "online":
        agent.averaged_policy = None  # the agent's evaluation path then runs its online policy

    def act(obs):
        return agent.act(obs, 0, eval_mode=True)

    counters = payload["counters"]
    successes = seeded_successes(act, cfg.env, episodes, seed_base)
    return {"snapshot": snapshot, "policy": which, "episodes": episodes, "successes": successes,
            "time_s": float(counters["time_s"]), "frame": int(counters["frame"])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--last", type=int, default=5, help="snapshots per seed, the latest ones")
    parser.add_argument(
        "--snapshot", action="append", default=[], metavar="NAME",
        help="these snapshots of every seed instead of the last ones (repeatable), e.g. snapshot_0003.pt",
    )  # fmt: skip
    parser.add_argument("--eval-seed", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    snapshots = [
        snap
        for run in sorted(args.work_dir.glob("seed_*"))
        for snap in (
            [run / "snapshots" / name for name in args.snapshot if (run / "snapshots" / name).exists()]
            if args.snapshot
            else sorted((run / "snapshots").glob("snapshot_*.pt"))[-args.last :]
        )
    ]
    if not snapshots:
        raise SystemExit(f"no seed_*/snapshots/snapshot_*.pt under {args.work_dir}")
    pool = ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn"))
    with pool:
        futures = [
            pool.submit(evaluate, str(snap), which, args.episodes, args.eval_seed)
            for snap in snapshots
            for which in ("online", "averaged")
        ]
        rows = [f.result() for f in futures]
    pairs = []
    for online, averaged in zip(rows[::2], rows[1::2], strict=True):
        name = str(Path(online["snapshot"]).relative_to(args.work_dir))
        pairs.append({"snapshot": name, "minutes": round(online["time_s"] / 60, 1), "frame": online["frame"],
                      "online": online["successes"] / online["episodes"],
                      "averaged": averaged["successes"] / averaged["episodes"]})  # fmt: skip
        p = pairs[-1]
        print(f"{name} ({p['minutes']} min, {p['frame']} frames): online {p['online']:.2f}, "
              f"averaged {p['averaged']:.2f}", flush=True)  # fmt: skip
    mean = {k: sum(p[k] for p in pairs) / len(pairs) for k in ("online", "averaged")}
    summary = {"work_dir": str(args.work_dir), "episodes": args.episodes, "snapshots": len(pairs),
               "mean_online": round(mean["online"], 4), "mean_averaged": round(mean["averaged"], 4),
               "mean_difference": round(mean["averaged"] - mean["online"], 4),
               "averaged_better": sum(p["averaged"] > p["online"] for p in pairs),
               "online_better": sum(p["online"] > p["averaged"] for p in pairs), "pairs": pairs}  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
