"""Each robot fact, the camera-geometry formula, the atomic write and config (de)serialisation: one definition.

Static, over the source of every package and benchmark (``ast``; tests are free to restate values to check
them). A second copy of a fact is how the predecessor's real-arm transfer failed: two joint tables that
disagreed, 4095 ticks here and 4096 there, a focal length computed one way in calibration and another in the
twin. So a copy fails here, with the place to import from instead.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("common", "robot", "resources", "sim", "policies", "calibration", "so101_deploy", "benchmarks")

# name -> the one module that may define it (assignment, def or class, at any level)
ONE_DEFINITION = {
    "JOINT_NAMES": "robot/so101.py",
    "SO101_JOINTS": "robot/so101.py",
    "SERVO_IDS": "robot/so101.py",
    "GRIPPER_OPEN_RAD": "robot/so101.py",
    "GRIPPER_CLOSED_RAD": "robot/so101.py",
    "HOME_TOOL_POSITION_M": "robot/so101.py",
    "MAX_JOINT_STEP_RAD": "robot/so101.py",
    "JointSpec": "robot/so101.py",
    "NormMode": "robot/so101.py",
    "TICKS_PER_TURN": "robot/encoder.py",
    "TICK_RAD": "robot/encoder.py",
    "LEROBOT_TICKS_PER_DEGREE": "robot/encoder.py",
    "fov_deg": "robot/camera_geometry.py",
    "focal_px": "robot/camera_geometry.py",
    "pinhole_matrix": "robot/camera_geometry.py",
    "home_pose": "sim/poses.py",  # needs the IK, so it lives in sim; its inputs come from robot.so101
    "top_down_pose": "sim/poses.py",
    "register_task": "sim/tasks/registry.py",
    "privileged_slices": "sim/tasks/base.py",
    "STAGES": "sim/tasks/lift/config.py",  # lift's curriculum; another task declares its own Task.stages
    "PRIVILEGED_LAYOUT": "sim/tasks/lift/config.py",
    "LiftLayout": "sim/tasks/lift/config.py",
    "atomic_path": "common/atomic_file.py",
    "apply_overrides": "common/config.py",
}
JOINT_NAME_STRINGS = {"shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"}
# |value| rounded to 4 decimals: the SO-101's joint limits and the top-down wrist angle
ROBOT_NUMBERS = {1.9199, 1.7453, 1.69, 1.6581, 2.7438, 2.8412, 0.1745, 1.5708}
ENCODER_NUMBERS = {4095, 4096}
ATOMIC_CALLS = {"os.replace", "os.rename", "os.fsync", "tempfile.mkstemp", "tempfile.NamedTemporaryFile"}
CONFIG_CALLS = {"OmegaConf.structured", "OmegaConf.to_object", "OmegaConf.merge"}


@functools.cache
def sources() -> tuple[tuple[str, ast.Module], ...]:
    """(path relative to the repo, parsed module) for every source file; packages not created yet are absent."""
    return tuple(
        (path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), filename=str(path)))
        for folder in SOURCE_DIRS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "__pycache__" not in path.parts
    )


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def defined_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def calls(tree: ast.Module) -> Iterator[ast.Call]:
    yield from (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def function_name(call: ast.Call) -> str:
    return dotted(call.func).rsplit(".", 1)[-1]


def test_each_fact_has_exactly_one_definition():
    where: dict[str, list[str]] = {name: [] for name in ONE_DEFINITION}
    for path, tree in sources():
        for name in defined_names(tree) & set(ONE_DEFINITION):
            where[name].append(path)
    wrong = {name: paths for name, paths in where.items() if paths != [ONE_DEFINITION[name]]}
    assert not wrong, f"define these once, in the module named in ONE_DEFINITION, and import them: {wrong}"


def test_joint_names_and_servo_ids_are_written_only_in_the_robot_spec():
    found = []
    for path, tree in sources():
        if path.startswith("robot/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                names = [
                    e.value
                    for e in node.elts
                    if isinstance(e, ast.Constant) and e.value in JOINT_NAME_STRINGS
                ]
                if len(names) >= 2:
                    found.append(f"{path}:{node.lineno} joint names {names}")
            elif isinstance(node, ast.Dict):
                ids = {
                    k.value: v.value
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant)
                    and k.value in JOINT_NAME_STRINGS
                    and isinstance(v, ast.Constant)
                }
                if len(ids) >= 2 and all(isinstance(v, int) and 1 <= v <= 6 for v in ids.values()):
                    found.append(f"{path}:{node.lineno} servo IDs {ids}")
    assert not found, f"import JOINT_NAMES / SERVO_IDS from robot.so101 instead: {found}"


def test_joint_limits_wrist_angles_and_encoder_scales_are_numbers_only_in_robot():
    found = []
    for path, tree in sources():
        if path.startswith("robot/"):
            continue
        reads = {id(arg) for call in calls(tree) if function_name(call) == "read" for arg in call.args}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
                continue
            value = node.value
            if isinstance(value, float) and round(abs(value), 4) in ROBOT_NUMBERS:
                found.append(f"{path}:{node.lineno} {value!r} (a joint limit or wrist angle: robot.so101)")
            if isinstance(value, int | float) and value in ENCODER_NUMBERS and id(node) not in reads:
                found.append(f"{path}:{node.lineno} {value!r} (encoder ticks: robot.encoder)")
    assert not found, found


def test_camera_geometry_formula_is_written_once():
    """No tan(radians(fov) / 2) and no degrees(2 atan(extent / 2f)) outside robot/camera_geometry.py."""
    found = []
    for path, tree in sources():
        if path == "robot/camera_geometry.py":
            continue
        for call in calls(tree):
            name = function_name(call)
            inner = {function_name(c) for arg in call.args for c in ast.walk(arg) if isinstance(c, ast.Call)}
            if name == "tan" and inner & {"radians", "deg2rad"}:
                found.append(f"{path}:{call.lineno} tan of an angle in degrees")
            if name in ("degrees", "rad2deg") and inner & {"atan", "arctan"}:
                found.append(f"{path}:{call.lineno} field of view from a focal length")
    assert not found, f"use robot.camera_geometry (half_fov_tan, focal_px, fov_deg, pinhole_matrix): {found}"


def test_atomic_writes_and_config_deserialisation_live_only_in_common():
    found = []
    for path, tree in sources():
        for call in calls(tree):
            name = dotted(call.func)
            # Path.replace(target) / Path.rename(target): one positional argument (str.replace takes two)
            path_rename = (
                function_name(call) in ("replace", "rename")
                and len(call.args) == 1
                and not call.keywords
                and name not in ("dataclasses.replace", "replace")  # a copy of a dataclass, not a file
            )
            if (name in ATOMIC_CALLS or path_rename) and path != "common/atomic_file.py":
                found.append(f"{path}:{call.lineno} {name or function_name(call)} (common.atomic_file)")
            if name in CONFIG_CALLS and path != "common/config.py":
                found.append(f"{path}:{call.lineno} {name} (common.config)")
    assert not found, found
