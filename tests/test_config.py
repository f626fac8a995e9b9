"""Tests for jaxrl.experiment.config: type validation, value checks, JSON, --profile CLI."""

import dataclasses
import json
from typing import Literal, Optional

import pytest

from jaxrl.experiment.config import (
    Config,
    cli,
    config_hash,
    from_json_dict,
    to_json_dict,
    validate_types,
)


@dataclasses.dataclass(frozen=True)
class Net:
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes."""
    activation: Literal["relu", "tanh"] = "tanh"
    """Nonlinearity."""


@dataclasses.dataclass(frozen=True)
class Toy(Config):
    """A toy experiment."""

    seeds: int = 2
    """Number of seeds."""
    lr: float = 1e-3
    """Learning rate."""
    greedy_eval: bool = True
    """Evaluate the greedy policy."""
    env: str = "CartPole-v1"
    """Environment id."""
    net: Net = Net()
    """Network."""
    tag: str | None = None
    """Optional run tag."""
    clip: Optional[float] = None  # noqa: UP045 - checks the typing.Optional spelling too
    """Optional gradient clip."""
    shape: tuple[int, int] = (2, 3)
    """A fixed-length tuple."""

    def check(self) -> None:
        self.require(self.seeds > 0, "seeds", "must be positive")
        self.require(self.lr > 0, "lr", "must be positive")


PRESETS = {"quick": Toy(), "paper": Toy(seeds=16, lr=3e-4, net=Net(hidden=(256, 256)))}


@pytest.mark.parametrize(
    "kwargs, field, expected",
    [
        ({"seeds": 2.5}, "seeds", "int"),
        ({"seeds": True}, "seeds", "int"),  # bool is an int subclass, but not a seed count
        ({"lr": "fast"}, "lr", "float"),
        ({"greedy_eval": 1}, "greedy_eval", "bool"),
        ({"env": 3}, "env", "str"),
        ({"net": Net(hidden=(64, "x"))}, "net.hidden[1]", "int"),
        ({"net": Net(activation="gelu")}, "net.activation", "Literal"),
        ({"net": {"hidden": (1,)}}, "net", "Net"),
        ({"tag": 5}, "tag", "None"),
        ({"clip": "no"}, "clip", "float"),
        ({"shape": (1, 2, 3)}, "shape", "tuple"),
        ({"shape": [1, 2]}, "shape", "tuple"),
    ],
)
def test_wrong_type_raises_naming_field(kwargs, field, expected):
    with pytest.raises(TypeError) as e:
        Toy(**kwargs)
    msg = str(e.value)
    assert repr(field) in msg and expected in msg
    bad = next(iter(kwargs.values()))
    if not dataclasses.is_dataclass(bad):
        assert repr(bad) in msg


def test_valid_values_accepted():
    cfg = Toy(lr=1, clip=0.5, tag="x", net=Net(hidden=()))  # int accepted for float
    validate_types(cfg)
    assert cfg.lr == 1


def test_value_check_names_field_and_value():
    with pytest.raises(ValueError, match=r"Toy\.seeds = 0 is invalid: must be positive"):
        Toy(seeds=0)
    with pytest.raises(ValueError, match="lr"):
        PRESETS["quick"].replace(lr=-1.0)


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["quick"].seeds = 3  # type: ignore[misc]


def test_json_round_trip():
    cfg = Toy(seeds=3, tag="a", clip=1.0, net=Net(hidden=(8, 8), activation="relu"))
    d = json.loads(json.dumps(to_json_dict(cfg)))
    assert d["net"] == {"hidden": [8, 8], "activation": "relu"}
    assert from_json_dict(Toy, d) == cfg
    assert config_hash(cfg) == config_hash(from_json_dict(Toy, d)) != config_hash(Toy())
    with pytest.raises(ValueError, match="no fields"):
        from_json_dict(Toy, {**d, "stale_key": 1})


def test_cli_profiles_and_overrides():
    assert cli(PRESETS, args=[]) == PRESETS["quick"]
    assert cli(PRESETS, args=["--profile", "paper"]) == PRESETS["paper"]
    cfg = cli(PRESETS, args=["--profile=paper", "--seeds", "3", "--net.hidden", "8", "8"])
    assert cfg == PRESETS["paper"].replace(seeds=3, net=Net(hidden=(8, 8)))
    assert cli(PRESETS, args=["--seeds", "5"], default_profile="paper").lr == 3e-4


def test_cli_help_shows_profile_values(capsys):
    with pytest.raises(SystemExit) as e:
        cli(PRESETS, "Toy experiment.", args=["--profile", "paper", "--seeds", "3", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--profile" in out and "quick" in out and "paper" in out
    assert "256 256" in out  # the paper preset's values are the defaults shown
    assert "Number of seeds" in out  # field docstrings become help text


def test_cli_rejects_bad_values():
    with pytest.raises(SystemExit):
        cli(PRESETS, args=["--profile", "nope"])
    with pytest.raises(SystemExit):
        cli(PRESETS, args=["--seeds", "0"])  # check() failure is reported as a usage error
