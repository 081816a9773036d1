"""The config system: presets, dot-list overrides, and errors that name the key and the nearest valid one."""

from dataclasses import dataclass, field

import pytest
import yaml

from common.config import ConfigError, flat_keys, load_config, nearest_key, save_resolved


@dataclass
class _Inner:
    image_size: int = 84
    fovy: float = 60.0
    name: str = "wrist"


@dataclass
class _Schema:
    seed: int = 1
    num_train_envs: int = 8
    env: _Inner = field(default_factory=_Inner)
    sizes: tuple[int, int] = (1, 2)


def test_flat_keys_expand_nested_dataclasses():
    assert flat_keys(_Schema) == ["seed", "num_train_envs", "env.image_size", "env.fovy", "env.name", "sizes"]


def test_overrides_are_typed_and_applied():
    cfg = load_config(
        _Schema, None, ["env.image_size=64", "num_train_envs=2", "env.fovy=55.5", "sizes=[3,4]"]
    )
    assert isinstance(cfg, _Schema) and isinstance(cfg.env, _Inner)
    assert (cfg.env.image_size, cfg.num_train_envs, cfg.env.fovy, tuple(cfg.sizes)) == (64, 2, 55.5, (3, 4))


def test_unknown_key_names_nearest_valid_key():
    with pytest.raises(ConfigError) as err:
        load_config(_Schema, None, ["env.imge_size=64"])
    msg = str(err.value)
    assert "'env.imge_size'" in msg and "'env.image_size'" in msg and "\n" not in msg


def test_unknown_top_level_key_points_into_nested_key():
    assert nearest_key("image_size", flat_keys(_Schema)) == "env.image_size"


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError) as err:
        load_config(_Schema, None, ["env.image_size=big"])
    assert "env.image_size" in str(err.value) and "big" in str(err.value)


def test_malformed_override():
    with pytest.raises(ConfigError, match="key=value"):
        load_config(_Schema, None, ["env.image_size"])


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_config(_Schema, "nope", [])


def test_save_resolved_round_trips(tmp_path):
    cfg = load_config(_Schema, None, ["seed=7"])
    path = save_resolved(cfg, tmp_path / "config.yaml")
    data = yaml.safe_load(path.read_text())
    assert data["seed"] == 7 and data["env"]["image_size"] == 84 and data["sizes"] == [1, 2]
    assert not list(tmp_path.glob("*.tmp"))
