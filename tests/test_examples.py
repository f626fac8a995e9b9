"""The scripts in ``examples/`` run, in their ``--smoke`` mode, as ``python -m examples.<name>``
runs them (``runpy``, in this process: the import of JAX is not paid again). Both are in the
default suite, so CI runs them; the PPO one costs ~18 s of CPU, nearly all of it compiling."""

import runpy
import sys

import numpy as np
import pytest


def _run(monkeypatch, tmp_path, name):
    """``python -m examples.<name> --smoke`` in ``tmp_path``; returns the module's globals."""
    monkeypatch.chdir(tmp_path)  # the example writes under ./results/
    monkeypatch.setattr(sys, "argv", [f"examples/{name}.py", "--smoke"])
    return runpy.run_module(f"examples.{name}", run_name="__main__")


# ~18 s of CPU (measured on a loaded 2-core machine), nearly all of it compiling the vmapped PPO
# program (init ~4 s, one chunk ~8 s): over the default suite's per-test budget.
@pytest.mark.heavy
def test_custom_potential_smoke(monkeypatch, tmp_path, capsys):
    g = _run(monkeypatch, tmp_path, "custom_potential")
    png = tmp_path / "results/examples/custom_potential.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    coefs, seeds, m = g["COEFS"], g["SEEDS"], g["metrics"]
    runs = len(coefs) * seeds
    # one vmapped call: every run's coefficient, coefficient-major as the keys
    np.testing.assert_array_equal(np.asarray(g["hp"].transform), np.repeat(coefs, seeds))
    assert m["eval_return"].shape == (runs, g["static"].num_chunks)
    np.testing.assert_array_equal(m["eval_env_steps"][:, -1], g["STEPS"])
    assert np.isfinite(m["eval_return"]).all()
    # the potential reaches the learner through hp.transform: c = 0 learns from the env reward
    # itself, c > 0 from a different (shaped) reward
    env_r = np.asarray(m["return_env_reward"]).reshape(len(coefs), seeds, -1)
    learner_r = np.asarray(m["return_learner_reward"]).reshape(len(coefs), seeds, -1)
    assert coefs[0] == 0.0 and coefs[1] > 0.0
    np.testing.assert_array_equal(learner_r[0], env_r[0])
    assert np.abs(learner_r[1] - env_r[1]).max() > 1e-3
    out = capsys.readouterr().out
    for c, (point, _, _) in zip(coefs, g["stats"].values(), strict=True):
        assert f"c = {c:g}: final IQM eval return {point[-1]:.1f}" in out


@pytest.mark.heavy
def test_new_theory_check_smoke(monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _run(monkeypatch, tmp_path, "new_theory_check")
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    assert "example: positive reward scaling | 10 " in out  # the smoke case count
    for mutation in ("negative scale", "state-dependent scale"):
        assert f"  ok   {mutation}" in out
