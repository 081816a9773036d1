"""Bus round trip: sync read of 6 positions + sync write of 6 goals, through the emulator at 1 Mbaud, paced.

The emulator runs in its own process with real-time byte pacing (a reply arrives when its last bit would
have crossed a 1 Mbaud wire, after each servo's Return_Delay_Time, 0 after the LeRobot set-up), so the
floor is the theoretical wire time printed alongside. Two drivers run in the same process and session:

- ``so101``: FeetechBus (one lock, select-based wait, our timeout);
- ``sdk``: the bare feetech-servo-sdk (GroupSyncRead.txRxPacket + GroupSyncWrite, stock PortHandler).

Prints p50/p99 per driver, their ratio to the wire time, and the driver's CPU time per cycle (the stock
PortHandler busy-waits for replies). Last line: one JSON object.

    python benchmarks/bus_latency.py [--cycles 2000] [--plot docs/bus_latency.png]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import scservo_sdk as scs

from robot.so101 import SERVO_IDS
from so101_deploy.hardware.bus import BusConfig, FeetechBus
from so101_deploy.hardware.tables import BITS_PER_BYTE_ON_WIRE, STS3215_CONTROL_TABLE
from so101_deploy.twin.emulator import EmulatorConfig, EmulatorProcess

POS = STS3215_CONTROL_TABLE["Present_Position"]
GOAL = STS3215_CONTROL_TABLE["Goal_Position"]


def wire_time_s(n_servos: int, baudrate: int, return_delay_s: float = 0.0) -> float:
    """Bytes on the wire for one cycle (protocol 0 packet sizes), at 10 bits per byte, plus reply delays."""
    sync_read = 8 + n_servos  # FF FF FE LEN 82 addr len ids.. CHK
    replies = n_servos * (6 + POS.size)  # FF FF id LEN ERR data.. CHK each
    sync_write = 8 + n_servos * (1 + GOAL.size)  # FF FF FE LEN 83 addr len [id data..].. CHK
    return (sync_read + replies + sync_write) * BITS_PER_BYTE_ON_WIRE / baudrate + n_servos * return_delay_s


def measure(cycle, n: int, warmup: int = 100) -> tuple[np.ndarray, float]:
    for _ in range(warmup):
        cycle()
    out = np.empty(n)
    cpu0 = time.process_time()
    for i in range(n):
        t0 = time.perf_counter()
        cycle()
        out[i] = time.perf_counter() - t0
    return out, (time.process_time() - cpu0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--baudrate", type=int, default=1_000_000)
    parser.add_argument("--plot", default="", help="write a latency histogram PNG here")
    args = parser.parse_args()

    names, ids = list(SERVO_IDS), list(SERVO_IDS.values())
    goals = {name: 2048 for name in names}
    results: dict[str, dict[str, float]] = {}
    samples: dict[str, np.ndarray] = {}
    with EmulatorProcess(EmulatorConfig(pace=True, baudrate=args.baudrate)) as emu:
        bus = FeetechBus(BusConfig(port=emu.port, baudrate=args.baudrate))
        bus.connect()
        bus.configure()  # Return_Delay_Time 0, as on a deployed arm
        bus.torque_on()

        def ours() -> None:
            bus.read_positions()
            bus.write_goal_positions(goals)

        samples["so101"], cpu_ours = measure(ours, args.cycles)
        bus.close(torque_off=False)

        port = scs.PortHandler(emu.port)
        port.setBaudRate(args.baudrate)
        ph = scs.PacketHandler(0)
        reader = scs.GroupSyncRead(port, ph, POS.address, POS.size)
        writer = scs.GroupSyncWrite(port, ph, GOAL.address, GOAL.size)
        for mid in ids:
            reader.addParam(mid)
            writer.addParam(mid, [scs.SCS_LOBYTE(2048), scs.SCS_HIBYTE(2048)])

        def sdk() -> None:
            if reader.txRxPacket() != scs.COMM_SUCCESS:
                raise RuntimeError("stock SDK sync read failed")
            writer.txPacket()

        samples["sdk"], cpu_sdk = measure(sdk, args.cycles)
        port.closePort()

    wire = wire_time_s(len(ids), args.baudrate)
    print(
        f"bus round trip (sync read {len(ids)} positions + sync write {len(ids)} goals), {args.cycles} cycles, "
        f"{args.baudrate} baud, paced emulator in its own process"
    )
    print(f"theoretical wire time: {wire * 1e6:.0f} us per cycle")
    for key, cpu in (("so101", cpu_ours), ("sdk", cpu_sdk)):
        lat = samples[key]
        p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
        results[key] = {
            "p50_us": round(p50 * 1e6, 1),
            "p99_us": round(p99 * 1e6, 1),
            "max_us": round(lat.max() * 1e6, 1),
            "p50_over_wire": round(p50 / wire, 2),
            "cpu_us_per_cycle": round(cpu * 1e6, 1),
        }
        r = results[key]
        print(
            f"{key:>6}: p50 {r['p50_us']:.0f} us ({r['p50_over_wire']:.2f}x wire)  p99 {r['p99_us']:.0f} us  "
            f"max {r['max_us']:.0f} us  driver CPU {r['cpu_us_per_cycle']:.0f} us/cycle"
        )
    ratio = results["so101"]["p50_us"] / results["sdk"]["p50_us"]
    print(f"so101/sdk p50 ratio: {ratio:.2f}; CPU ratio: {cpu_ours / cpu_sdk:.2f}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
        bins = np.linspace(0, max(np.percentile(s, 99.5) for s in samples.values()) * 1e3, 80)
        for key, s in samples.items():
            ax.hist(s * 1e3, bins=bins, alpha=0.6, label=f"{key} (p50 {np.median(s) * 1e3:.2f} ms)")
        ax.axvline(wire * 1e3, color="k", linestyle="--", label=f"wire time {wire * 1e3:.2f} ms")
        ax.set_xlabel("sync read + sync write round trip (ms)")
        ax.set_ylabel("cycles")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"histogram: {args.plot}")
    print(
        json.dumps(
            {
                "benchmark": "bus_latency",
                "cycles": args.cycles,
                "baudrate": args.baudrate,
                "wire_us": round(wire * 1e6, 1),
                **results,
                "so101_over_sdk_p50": round(ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
