"""Every fault case of issue 17, tried against the real commands: how many end clearly, how many with torque off.

    python benchmarks/fault_matrix.py [--only SUBSTRING] [--list]

Cases live in ``benchmarks/faults/*.py`` (modules starting with ``_`` are helpers): each exposes
``cases() -> list[(name, callable)]``, each callable returning ``{"clear": bool, "torque_off": bool | None}``
(``clear``: the command ended as a user can act on it: the expected exit code, one named line, no traceback;
``torque_off``: torque read back off on the servos afterwards, None where the case never reaches a bus). A case
that raises counts as not clear. A table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def case_modules() -> list:
    sys.path.insert(0, str(HERE))
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE / "faults")]) if not m.name.startswith("_"))
    return [importlib.import_module(f"faults.{name}") for name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="Run only cases whose name contains this.")
    parser.add_argument("--list", action="store_true", help="List the cases and exit.")
    args = parser.parse_args()
    cases = [
        (f"{module.__name__.split('.')[-1]}:{name}", fn)
        for module in case_modules()
        for name, fn in module.cases()
        if args.only in name
    ]
    if args.list:
        print("\n".join(name for name, _ in cases))
        return
    rows = []
    t_all = time.perf_counter()
    for name, fn in cases:
        t0 = time.perf_counter()
        try:
            result = fn()
            note = result.get("note", "")
        except Exception as exc:  # noqa: BLE001 - a harness: a broken case is a result, not a crash
            result, note = {"clear": False, "torque_off": None}, f"case raised {type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
        rows.append((name, bool(result["clear"]), result["torque_off"], time.perf_counter() - t0, note))
        print(
            f"{name:<48} clear={'yes' if rows[-1][1] else 'NO ':<3} torque_off="
            f"{ {True: 'yes', False: 'NO', None: '-'}[result['torque_off']]:<3} {rows[-1][3]:6.1f} s  {note[:90]}",
            flush=True,
        )
    summary = {
        "cases_tried": len(rows),
        "clear": sum(r[1] for r in rows),
        "torque_off_verified": sum(r[2] is True for r in rows),
        "torque_off_checked": sum(r[2] is not None for r in rows),
        "not_clear": [r[0] for r in rows if not r[1]],
        "torque_left_on": [r[0] for r in rows if r[2] is False],
        "seconds": round(time.perf_counter() - t_all, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
