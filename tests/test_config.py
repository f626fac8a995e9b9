"""Tests for jaxrl.config (type validation, value checks, JSON, --profile CLI) and the
sweep configs and helpers of jaxrl.experiment.sweep built on it."""

import dataclasses
import json
from typing import Literal, Optional

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.config import (
    Config,
    cli,
    config_hash,
    from_json_dict,
    to_json_dict,
    validate_types,
)
from jaxrl.experiment.results import ResultsStore
from jaxrl.experiment.sweep import (
    SeededSweep,
    SweepConfig,
    broadcast_runs,
    grid_keys,
    open_run,
    per_seed,
    run_sweep,
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


# ----------------------------------------------------------------------------- sweep configs
@dataclasses.dataclass(frozen=True)
class ToySweep(SeededSweep):
    seeds: int = 4
    """Seeds per λ."""
    lambdas: tuple[float, ...] = (0.1, 1.0)
    """λ grid."""

    def check(self) -> None:
        super().check()
        self.require(all(x >= 0 for x in self.lambdas), "lambdas", "must be >= 0")


def test_sweep_config_inheritance_checks_json_and_recorded_fields():
    cfg = ToySweep()
    names = [f.name for f in dataclasses.fields(cfg)]
    base = ["seeds", "results", "resume", "resume_or_new", "tensorboard", "seed", "shard"]
    assert names == [*base, "lambdas"]  # base fields first
    assert (cfg.seeds, cfg.results, cfg.resume, cfg.seed, cfg.shard) == (
        4,
        "results",
        False,
        0,
        False,
    )
    with pytest.raises(ValueError, match=r"ToySweep\.seeds = 0 is invalid: must be positive"):
        ToySweep(seeds=0)
    with pytest.raises(ValueError, match="lambdas"):
        ToySweep(lambdas=(-1.0,))
    with pytest.raises(TypeError, match="'shard'"):
        ToySweep(shard=1)
    assert cfg.recorded() == {"seeds": 4, "seed": 0, "shard": False, "lambdas": (0.1, 1.0)}
    assert set(cfg.recorded("shard")) == {"seeds", "seed", "lambdas"}
    d = json.loads(json.dumps(to_json_dict(cfg.replace(results="r", resume=True))))
    assert from_json_dict(ToySweep, d) == cfg.replace(results="r", resume=True)
    assert isinstance(cfg, SweepConfig) and not isinstance(SweepConfig(), SeededSweep)


def test_sweep_config_cli_flags_and_help(capsys):
    presets = {"quick": ToySweep(), "paper": ToySweep(seeds=16)}
    args = ["--profile", "paper", "--seed", "3", "--shard", "--lambdas", "0.5", "--resume"]
    cfg = cli(presets, args=args + ["--results", "out"])
    assert cfg == ToySweep(seeds=16, seed=3, shard=True, lambdas=(0.5,), resume=True, results="out")
    with pytest.raises(SystemExit):
        cli(presets, args=["--profile", "paper", "--help"])
    out = capsys.readouterr().out
    assert "Seeds per λ." in out and "16" in out  # the subclass's help text, the preset's value
    assert "results root directory" in out and "base PRNG seed" in out  # inherited help


def test_sweep_grid_keys_and_per_seed_values_are_group_major():
    keys = jax.random.key_data(grid_keys(7, 3, 2))
    assert keys.shape == (6, 2)
    np.testing.assert_array_equal(keys[:3], keys[3:])  # common random numbers across groups
    np.testing.assert_array_equal(
        keys[:3], jax.random.key_data(jax.random.split(jax.random.key(7), 3))
    )
    assert len(set(map(tuple, np.asarray(keys[:3]).tolist()))) == 3
    lam = per_seed([0.1, 1.0], 3, np.float32)
    assert lam.dtype == np.float32
    np.testing.assert_array_equal(lam, np.float32([0.1, 0.1, 0.1, 1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(per_seed([(1, 2), (3, 4)], 2), [[1, 2], [1, 2], [3, 4], [3, 4]])
    tree = broadcast_runs({"a": 2.0, "b": jnp.ones(2)}, 3)
    assert tree["a"].shape == (3,) and tree["b"].shape == (3, 2) and float(tree["a"][2]) == 2.0


def test_open_run_resumes_and_run_sweep_vmaps(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    cfg = ToySweep(seeds=2, lambdas=(1.0, 2.0))
    run = open_run(store, "toy", {"experiment": cfg.recorded()}, cfg, "2 λ x 2 seeds")
    assert f"[toy] 2 λ x 2 seeds -> {run.path}" in capsys.readouterr().out
    again = open_run(store, "toy", {"experiment": cfg.recorded()}, cfg.replace(resume=True))
    assert again.path == run.path  # the unfinished run with the same config is reopened

    def init(key, hp):
        return jnp.zeros(()) + jax.random.uniform(key) * 0.0

    def chunk(state, hp):
        state = state + hp
        return state, {"total": state[None]}

    keys = grid_keys(cfg.seed, cfg.seeds, len(cfg.lambdas))
    hp = jnp.asarray(per_seed(cfg.lambdas, cfg.seeds, np.float32))
    metrics = run_sweep(cfg, None, (init, chunk), keys, hp, num_chunks=3, progress=False)
    np.testing.assert_allclose(metrics["total"], [[1, 2, 3], [1, 2, 3], [2, 4, 6], [2, 4, 6]])


def test_open_run_resume_returns_a_finished_sweep_member(tmp_path):
    # A resumed sweep re-opens its members by run id: finished ones come back as they are.
    store = ResultsStore(tmp_path)
    cfg = ToySweep(seeds=2, lambdas=(1.0,))
    run_config = {"experiment": cfg.recorded(), "method": "a"}
    run = open_run(store, "toy", run_config, cfg, run_id="sweep-a")
    run.mark_done()
    resumed = cfg.replace(resume=True)
    again = open_run(store, "toy", run_config, resumed, run_id="sweep-a")
    assert again.path == run.path and again.is_done
    with pytest.raises(ValueError, match="config.json differs"):
        open_run(store, "toy", {**run_config, "method": "b"}, resumed, run_id="sweep-a")
    with pytest.raises(FileExistsError, match="finished"):  # without resume: still an error
        open_run(store, "toy", run_config, cfg, run_id="sweep-a")
