#!/usr/bin/env bash
# The main job on the embedded simulation: train briefly, export ONNX, run it through `so101 run` on the
# digital twin, and print success and latency. Everything stays under runs/demo/.
# The deployable task throughout: the smoke preset trains and exports stage 0 (home start), the twin resets to it
# (cube in the workspace, arm at rest) and `so101 run` moves the arm home itself before each episode.
set -euo pipefail
OUT=${DEMO_DIR:-runs/demo}
PRESET=${DEMO_PRESET:-smoke}
rm -rf "$OUT" && mkdir -p "$OUT"

so101 --version
so101 doctor

echo "== 1. train (preset $PRESET)"
so101 train --preset "$PRESET" run_dir="$OUT/train"

echo "== 2. export"
so101 export "$OUT/train" -o "$OUT/policy.onnx"

echo "== 3. digital twin"
so101 twin --stage 0 --json --out-dir "$OUT/twin" > "$OUT/twin.json" 2> "$OUT/twin.log" &
TWIN_PID=$!
trap 'kill -TERM $TWIN_PID 2>/dev/null; wait $TWIN_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$OUT/twin.json" ] && break; sleep 0.2; done
field() { python3 -c "import json,sys; print(json.load(open('$OUT/twin.json'))['$1'])"; }

echo "== 4. so101 run on the twin"
so101 run --policy "$OUT/policy.onnx" --port "$(field port)" --camera "$(field camera_url)" \
  --calibration "$(field calibration)" --twin "$(field control_url)" --start-pose home --yes \
  --episodes 2 --max-steps 100 --packet-timeout-ms 50 --out "$OUT/run" --json | tail -n 1 > "$OUT/run_summary.json"

python3 - "$OUT/run_summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["timings_ms"]
print(f"demo: {s['successes']}/{s['episodes']} episodes succeeded on the twin "
      f"(deployable task; the smoke preset trains for seconds and is not expected to succeed)")
print(f"demo: loop period p50 {t['period_ms']['p50']:.1f} ms, frame-to-command p99 {t['compute_ms']['p99']:.2f} ms, "
      f"inference p50 {t['inference_ms']['p50']:.2f} ms; telemetry in {s['out_dir']}")
PY
