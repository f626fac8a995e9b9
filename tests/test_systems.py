"""jaxrl.experiment.systems: the family-of-systems runner and figure script, on a fake system,
and the system-module interface of every family (preference_rms, exploration_rewards)."""

import dataclasses
import importlib
import json
import types

import numpy as np
import pytest

from jaxrl.config import Config
from jaxrl.experiment import ResultsStore, to_frame
from jaxrl.experiment.claims import Claim, ci_greater, estimate
from jaxrl.experiment.sweep import SeededSweep
from jaxrl.experiment.systems import figures_main, numeric_leaves, run_system

FAMILIES = ("preference_rms", "exploration_rewards", "process_rewards")


@dataclasses.dataclass(frozen=True)
class ToySettings(Config):
    steps: int = 10
    """budget"""


def _toy_module():
    calls = []

    def run(settings, seeds, seed):
        calls.append(seeds)
        rng = np.random.default_rng(seed)
        return {"a": (rng.normal(size=seeds) + 5).tolist(), "b": rng.normal(size=seeds).tolist()}

    def claims(summary):
        a, b = estimate(summary["a"], "mean"), estimate(summary["b"], "mean")
        check = ci_greater("a", a, "b", b)
        q, rule = {"a": a, "b": b}, "a's CI above b's"
        return [Claim.from_check("toy.sys.a_gt_b", "toy", "Paper", "a beats b.", q, rule, check)]

    def figure(summary, cl, out):
        path = out / "toy_sys.png"
        path.write_bytes(b"png")
        return path

    m = types.SimpleNamespace(Settings=ToySettings, QUICK=ToySettings(), PAPER=ToySettings(20))
    m.run, m.claims, m.figure, m.calls = run, claims, figure, calls
    return m


@dataclasses.dataclass(frozen=True)
class ToySweep(SeededSweep):
    seeds: int = 4
    """seeds"""
    sys: ToySettings = ToySettings()


def test_run_system_stores_once_and_figures_write_claims(tmp_path, capsys):
    m = _toy_module()
    cfg = ToySweep(results=str(tmp_path / "results"))
    store = ResultsStore(cfg.results)
    run = run_system("toy", "sys", m, cfg, store)
    summary = run.read_json("summary")
    assert run.is_done and run.config["system"] == "sys" and run.config["seeds"] == 4
    assert len(summary["a"]) == 4 and summary["wall_s"] >= 0
    assert "toy.sys.a_gt_b: reproduced" in capsys.readouterr().out
    out = tmp_path / "out"
    paths = figures_main("toy", {"sys": m}, None, ["--results", cfg.results, "--out", str(out)])
    assert [p.name for p in paths] == ["toy_sys.png"]
    claims = json.loads((out / "claims.json").read_text())["toy"]
    assert [c["id"] for c in claims["claims"]] == ["toy.sys.a_gt_b"]
    assert "sys: 4 seeds, steps 10" in claims["budget"]
    df = to_frame(tmp_path / "results")
    assert set(df.metric) == {"a", "b", "wall_s"} and set(df["cfg.system"]) == {"sys"}
    a = df[df.metric == "a"].sort_values("seed")
    assert list(a.seed) == [0, 1, 2, 3] and np.allclose(a.value, summary["a"])
    assert df[df.metric == "wall_s"].value.tolist() == [summary["wall_s"]]


def test_numeric_leaves_flattens_the_summary():
    s = {"a": [1.0, 2.0], "b": {"c": [[1, 2], [3, 4]], "name": "x", "d": 3}}
    s["ragged"] = [[1], [1, 2]]
    out = numeric_leaves(s)
    assert set(out) == {"a", "b/c", "b/d"}
    np.testing.assert_array_equal(out["b/c"], [[1, 2], [3, 4]])
    assert out["b/d"].shape == ()


@pytest.mark.parametrize("family", FAMILIES)
def test_every_system_has_the_interface(family):
    config = importlib.import_module(f"experiments.{family}.config")
    for name, m in config.MODULES.items():
        for attr in ("Settings", "QUICK", "PAPER", "run", "claims", "figure"):
            assert hasattr(m, attr), f"{name} lacks {attr}"
        assert isinstance(m.QUICK, m.Settings) and isinstance(m.PAPER, m.Settings)
        assert getattr(config.PRESETS["quick"], name) == m.QUICK
        assert getattr(config.PRESETS["paper"], name) == m.PAPER
        assert m.__doc__ and "claim" in m.__doc__.lower()
    assert set(config.SYSTEMS) == set(config.MODULES)
    sweep = type(config.PRESETS["quick"])
    with pytest.raises(ValueError, match="systems"):
        sweep(systems=(config.SYSTEMS[0], "nope"))
