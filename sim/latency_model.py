"""Action latency and camera frame age as measured by the runtime, turned into distributions training draws from.

`so101 run` (on the twin or on a real arm) writes one line per control tick to ``ticks.jsonl``
(``so101_deploy.runtime.telemetry.TickRecord``). From it we keep, per tick:
  - action latency = ``compute_ms + bus_write_ms``: from the observation in hand to the command on the bus
    (the servos' own response is simulated by the actuators);
  - frame age = ``frame_age_ms``: how old the camera frame was when the tick used it;
  - the loop period, to check that training runs at the rate the arm does.
The fit is non-parametric: 101 quantiles of each, so tails (USB hiccups, 40 ms bus spikes) survive as they are.

    python -m sim.latency_model runs/real-0412/ticks.jsonl -o latency.yaml

prints the ``env.randomization.*`` overrides that make training draw from it (``from_telemetry`` also takes the
``ticks.jsonl`` itself and fits it on the fly).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from common.atomic_file import write_text

N_QUANTILES = 101  # 0, 1, ..., 100 percent
SERIES = ("action_latency_ms", "frame_age_ms", "period_ms")


@dataclass
class LatencyModel:
    source: str
    ticks: int
    quantiles: dict[str, list[float]]  # series -> N_QUANTILES values, ms (empty when never measured)

    @property
    def control_hz(self) -> float:
        q = self.quantiles.get("period_ms") or []
        return 1000.0 / q[N_QUANTILES // 2] if q and q[N_QUANTILES // 2] > 0 else float("nan")

    def to_dict(self) -> dict:
        out: dict = {"source": self.source, "ticks": self.ticks, "control_hz_measured": _r(self.control_hz)}
        for name in SERIES:
            q = self.quantiles.get(name) or []
            out[name] = (
                {"p50": _r(q[50]), "p99": _r(q[99]), "max": _r(q[-1]), "quantiles": [_r(v) for v in q]}
                if q
                else None
            )
        return out

    def write(self, path: str | Path) -> Path:
        header = (
            "# Latency model fitted by `python -m sim.latency_model` (quantiles 0..100%, milliseconds).\n"
        )
        return write_text(path, header + yaml.safe_dump(self.to_dict(), sort_keys=False))


def _r(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 3)


def _finite(rows: list[dict], *keys: str) -> np.ndarray:
    vals = []
    for row in rows:
        parts = [row.get(k) for k in keys]
        if all(isinstance(p, int | float) and math.isfinite(p) for p in parts):
            vals.append(sum(parts))
    return np.asarray(vals, dtype=np.float64)


def read_ticks(path: str | Path) -> list[dict]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"telemetry file {str(path)!r} does not exist; `so101 run` writes ticks.jsonl"
        )
    rows, lines = [], path.read_text().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))  # NaN timings are written (and read) as NaN
        except json.JSONDecodeError:
            if n == len(lines):  # a run killed mid-write leaves half a last line
                break
            raise ValueError(f"{path}:{n} is not a JSON tick record") from None
    return rows


def fit_latency_model(path: str | Path) -> LatencyModel:
    """Quantiles of action latency, frame age and period from a runtime ``ticks.jsonl``."""
    rows = read_ticks(path)
    series = {
        "action_latency_ms": _finite(rows, "compute_ms", "bus_write_ms"),
        "frame_age_ms": _finite(rows, "frame_age_ms"),
        "period_ms": _finite(rows, "period_ms"),
    }
    if series["action_latency_ms"].size == 0:
        raise ValueError(
            f"{path} has no tick with both compute_ms and bus_write_ms; record it with `so101 run` "
            "(twin or real arm) so that ticks.jsonl has the timings"
        )
    pct = np.linspace(0, 100, N_QUANTILES)
    quantiles = {k: (np.percentile(v, pct).tolist() if v.size else []) for k, v in series.items()}
    return LatencyModel(source=str(path), ticks=len(rows), quantiles=quantiles)


def load_latency_quantiles(path: str | Path, which: str) -> np.ndarray:
    """The ``which`` series (``action_latency_ms`` or ``frame_age_ms``) of a latency model YAML, or of a
    ``ticks.jsonl`` fitted on the spot."""
    if which not in SERIES:
        raise ValueError(f"unknown latency series {which!r}; valid: {', '.join(SERIES)}")
    path = Path(path).expanduser()
    if path.suffix == ".jsonl":
        q = fit_latency_model(path).quantiles[which]
    else:
        if not path.is_file():
            raise FileNotFoundError(
                f"latency model {str(path)!r} does not exist; make one with "
                "`python -m sim.latency_model ticks.jsonl -o latency.yaml`"
            )
        entry = (yaml.safe_load(path.read_text()) or {}).get(which)
        q = (entry or {}).get("quantiles") or []
    if not q:
        raise ValueError(f"{path} has no {which} measurements; it cannot set that delay")
    return np.asarray(q, dtype=np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.latency_model", description=__doc__.splitlines()[0])
    parser.add_argument("ticks", help="ticks.jsonl written by `so101 run`")
    parser.add_argument("-o", "--out", default="latency.yaml", help="latency model YAML to write")
    args = parser.parse_args(argv)
    try:
        model = fit_latency_model(args.ticks)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = model.write(args.out)
    d = model.to_dict()
    for name in SERIES:
        if d[name]:
            print(
                f"{name:18s} p50 {d[name]['p50']:8.2f}  p99 {d[name]['p99']:8.2f}  max {d[name]['max']:8.2f}"
            )
    print(f"{model.ticks} ticks, loop at {model.control_hz:.1f} Hz -> {out}")
    overrides = [f"env.randomization.latency.enabled=true env.randomization.latency.from_telemetry={out}"]
    if d["frame_age_ms"]:
        overrides.append(
            f"env.randomization.obs_delay.enabled=true env.randomization.obs_delay.from_telemetry={out}"
        )
    if math.isfinite(model.control_hz):
        overrides.append(f"env.control_hz={model.control_hz:.0f}")
    print("train with: " + " ".join(overrides))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
