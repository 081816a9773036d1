"""Image corruption: what the real camera's sensor and MJPG path do to a frame (used by
``policies.wrappers.CameraImageNoise``, before ``preprocess_frame``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.randomize.sampling import Range, uniform

import cv2
import numpy as np


@dataclass
class ImageNoiseConfig:
    """What the real camera's sensor and MJPG path do to a frame, applied before preprocess_frame."""

    enabled: bool = False
    brightness: float = 0.1  # additive, fraction of full scale, +- (per episode: exposure)
    contrast: float = 0.15  # times 1 +- (per episode)
    saturation: float = 0.15  # times 1 +- (per episode)
    channel_gain: float = 0.05  # white balance, per channel times 1 +- (per episode)
    blur_probability: float = 0.3  # an episode is defocused this often
    blur_sigma_px: Range = (0.3, 0.9)
    noise_std: Range = (0.0, 4.0)  # sensor noise, grey levels (std drawn per episode, noise per frame)
    jpeg_quality: tuple[int, int] = (60, 95)  # per episode; 0 or 100 at both ends turns JPEG off


class ImageCorruptor:
    """Exposure, contrast, saturation, white balance, defocus, sensor noise and JPEG, in the order a real
    camera applies them before its MJPG stream reaches us."""

    def __init__(self, cfg: ImageNoiseConfig):
        self.cfg = cfg
        self.params: dict[str, Any] = {}

    def reset(self, rng: np.random.Generator) -> None:
        c = self.cfg
        q_lo, q_hi = c.jpeg_quality
        self.params = {
            "brightness": uniform(rng, (-c.brightness, c.brightness)) * 255.0,
            "contrast": 1.0 + uniform(rng, (-c.contrast, c.contrast)),
            "saturation": 1.0 + uniform(rng, (-c.saturation, c.saturation)),
            "gain": 1.0 + uniform(rng, (-c.channel_gain, c.channel_gain), 3),
            "blur": uniform(rng, c.blur_sigma_px) if rng.uniform() < c.blur_probability else 0.0,
            "noise": uniform(rng, c.noise_std),
            "jpeg": int(rng.integers(q_lo, q_hi + 1)) if q_lo > 0 and q_hi < 100 else 0,
        }

    def __call__(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        img = frame.astype(np.float32)
        grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
        img = grey[..., None] + (img - grey[..., None]) * p["saturation"]
        img = (img - float(grey.mean())) * p["contrast"] + float(grey.mean()) + p["brightness"]
        img = img * p["gain"].astype(np.float32)
        if p["blur"] > 0:
            img = cv2.GaussianBlur(img, (0, 0), p["blur"])
        if p["noise"] > 0:
            img = img + rng.normal(0.0, p["noise"], img.shape).astype(np.float32)
        out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        if p["jpeg"]:
            ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, p["jpeg"]])
            if not ok:
                raise RuntimeError("OpenCV could not JPEG-encode a frame; check the opencv install")
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        return np.ascontiguousarray(out)
