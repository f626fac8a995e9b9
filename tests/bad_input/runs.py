"""Bad input to the experiment layer: CLIs and configs, resume, results on disk, figures (``run-``).

Positive counterparts (a corrupt latest checkpoint falls back with a warning, a finished run is
reported on ``--resume``, a stray ``DONE`` directory is skipped) are in tests/test_runner.py and
tests/test_results_verify.py.
"""

from __future__ import annotations

import json

import numpy as np

from bad_input.case import Case
from experiments.pbrs.experiment import PBRSConfig
from experiments.ppo_classic.experiment import PRESETS as PPO_PRESETS
from experiments.ppo_classic.experiment import PPOClassic
from experiments.ppo_classic.schema import SCHEMA as PPO_SCHEMA
from experiments.rlhf_shaping.config import PRESETS as RLHF_PRESETS
from experiments.rlhf_shaping.config import RLHFShaping
from jaxrl.config import cli
from jaxrl.experiment.results import ResultsError, ResultsKeyError, ResultsStore, merge_shards
from jaxrl.experiment.runner import run_chunked
from jaxrl.experiment.schema import SchemaError
from jaxrl.experiment.sweep import NothingToResume, open_run

RUN_ID = "20260101-000000-fake"


def ppo_config(env: str = "CartPole-v1", steps: int = 4096, seeds: int = 2) -> dict:
    """A ppo_classic config.json like the experiment writes (2 evaluation points)."""
    return {
        "env": env,
        "experiment": {"envs": [env], "seeds": seeds, "seed": 0, "num_chunks": 2},
        "static": {
            "num_envs": 4,
            "num_steps": 128,
            "total_timesteps": steps,
            "num_chunks": 2,
            "deterministic_eval": True,
            "num_eval_envs": 8,
        },
    }


def ppo_metrics(seeds: int = 2, steps: int = 4096, nan: str | None = None) -> dict:
    """Arrays matching ppo_classic's schema: 8 updates, 2 evaluations at steps/2 and steps."""
    sizes = {"seed": seeds, "update": 8, "eval": 2}
    rng = np.random.default_rng(0)
    out = {}
    for spec in PPO_SCHEMA.metrics:
        shape = tuple(sizes[a] for a in spec.axes)
        out[spec.name] = rng.normal(size=shape).astype(spec.dtype)
    out["eval_env_steps"] = np.tile(np.array([steps // 2, steps], np.int32), (seeds, 1))
    if nan is not None:
        out[nan] = np.full_like(out[nan], np.nan)
    return out


def fake_ppo_run(root, run_id=RUN_ID, config=None, metrics=None, done=True):
    """A ppo_classic run directory under ``root`` (finished: checksums and DONE written)."""
    run = ResultsStore(root).create("ppo_classic", config or ppo_config(), run_id=run_id)
    run.write_metrics("metrics", ppo_metrics() if metrics is None else metrics, schema=PPO_SCHEMA)
    if done:
        run.mark_done()
    return run


def legacy(run):
    """The run as written before checksums existed (no checksums.json)."""
    (run.path / "checksums.json").unlink()
    return run


def ppo_figure(root):
    from paper_figures.ppo_classic import main

    return main(["--results", str(root), "--out", str(root / "out")])


# ------------------------------------------------------------------ CLIs and configs
def _ppo_cli(*args):
    return cli(PPO_PRESETS, None, args=list(args))


def _rlhf_cli(*args):
    return cli(RLHF_PRESETS, None, args=list(args))


def _theory_checks(*args):
    from theory_checks.__main__ import main

    return main(list(args))


# ------------------------------------------------------------------ results on disk
def _truncated_metrics(tmp):
    run = legacy(fake_ppo_run(tmp))
    data = (run.path / "metrics.npz").read_bytes()
    (run.path / "metrics.npz").write_bytes(data[: len(data) // 2])
    return run.load_metrics()


def _empty_metrics(tmp):
    run = legacy(fake_ppo_run(tmp))
    (run.path / "metrics.npz").write_bytes(b"")
    return run.load_metrics(schema=PPO_SCHEMA)


def _metrics_checksum_mismatch(tmp):
    run = fake_ppo_run(tmp)
    other = ppo_metrics()
    other["eval_return"] = other["eval_return"] + 1.0
    np.savez(run.path / "metrics.npz", **other)  # rewritten after DONE, still a valid .npz
    return run.load_metrics(schema=PPO_SCHEMA)


def _bad_config_json(tmp):
    run = legacy(fake_ppo_run(tmp))
    (run.path / "config.json").write_text('{"env": "CartPole-v1", ')
    return run.config


def _config_checksum_mismatch(tmp):
    run = fake_ppo_run(tmp)
    (run.path / "config.json").write_text(json.dumps(ppo_config("Pendulum-v1")))
    return run.config


def _bad_provenance_json(tmp):
    run = legacy(fake_ppo_run(tmp))
    (run.path / "provenance.json").write_text("not json at all")
    return run.provenance


def _config_missing_key(tmp):
    cfg = ppo_config()
    del cfg["env"]
    fake_ppo_run(tmp, config=cfg)
    return ppo_figure(tmp)


def _metrics_missing_key(tmp):
    m = ppo_metrics()
    del m["eval_return"]
    run = ResultsStore(tmp).create("ppo_classic", ppo_config(), run_id=RUN_ID)
    run.write_metrics("metrics", m)  # written without the schema
    run.mark_done()
    return ppo_figure(tmp)


def _merge_unfinished(tmp):
    return merge_shards([fake_ppo_run(tmp, done=False)])


# ------------------------------------------------------------------ resume
def _resume_nothing(tmp):
    cfg = PPOClassic(resume=True, results=str(tmp))
    return open_run(ResultsStore(tmp), "ppo_classic", {"experiment": cfg.recorded()}, cfg, "x")


def _resume_changed_config(tmp):
    old = PPOClassic(seeds=3, results=str(tmp))
    store = ResultsStore(tmp)
    store.create("ppo_classic", {"experiment": old.recorded()}, run_id="20260101-000000-old")
    cfg = PPOClassic(seeds=4, resume=True, results=str(tmp))  # a changed flag: another config
    return open_run(store, "ppo_classic", {"experiment": cfg.recorded()}, cfg, "x")


# ------------------------------------------------------------------ figures
def _figure_nan(tmp):
    fake_ppo_run(tmp, metrics=ppo_metrics(nan="eval_return"))
    return ppo_figure(tmp)


def _figure_config_mismatch(tmp):
    # config.json says Pendulum-v1 (262144 steps), the metrics are a 4096-step CartPole run's
    cfg = ppo_config("Pendulum-v1", steps=262_144)
    fake_ppo_run(tmp, config=cfg, metrics=ppo_metrics(steps=4096))
    return ppo_figure(tmp)


def _figure_seed_mismatch(tmp):
    fake_ppo_run(tmp, config=ppo_config(seeds=5), metrics=ppo_metrics(seeds=2))
    return ppo_figure(tmp)


def _run_chunked_zero_chunks():
    return run_chunked(
        lambda k, h: k, lambda s, h: (s, {}), None, None, num_chunks=0, run=None, resume=False
    )


CASES = [
    # CLIs and config values
    Case("run-cli-seed-negative", lambda: _ppo_cli("--seed", "-5"), ValueError, ("seed", "-5")),
    Case(
        "run-cli-rlhf-kl-coefs-negative",
        lambda: _rlhf_cli("--kl-coefs", "-1.0"),
        ValueError,
        ("kl_coefs", "-1.0"),
    ),
    Case(
        "run-cli-rlhf-prm-horizon-zero",
        lambda: _rlhf_cli("--prm-horizon", "0"),
        ValueError,
        ("prm_horizon", "= 0", ">= 1"),
    ),
    Case(
        "run-cli-rlhf-testbed-seed-negative",
        lambda: _rlhf_cli("--testbed-seed", "-1"),
        ValueError,
        ("testbed_seed", "-1"),
    ),
    Case("run-cli-seeds-zero", lambda: _ppo_cli("--seeds", "0"), ValueError, ("seeds", "0")),
    Case(
        "run-cli-unknown-profile",
        lambda: _ppo_cli("--profile", "bogus"),
        ValueError,
        ("bogus", "quick"),
    ),
    Case(
        "run-theory-checks-examples-zero",
        lambda: _theory_checks("--examples", "0"),
        SystemExit,
        ("--examples", "0", ">= 1"),
    ),
    Case(
        "run-config-unknown-env",
        lambda: PPOClassic(envs=("Bogus-v0",)),
        ValueError,
        ("envs", "Bogus-v0"),
    ),
    Case(
        "run-config-steps-zero",
        lambda: PPOClassic(cartpole_steps=0),
        ValueError,
        ("cartpole_steps", "0"),
    ),
    Case(
        "run-config-pbrs-checkpoints-zero",
        lambda: PBRSConfig(checkpoints=0),
        ValueError,
        ("checkpoints", "0"),
    ),
    Case(
        "run-config-rlhf-chi2-coefs-negative",
        lambda: RLHFShaping(chi2_coefs=(0.1, -0.3)),
        ValueError,
        ("chi2_coefs", "-0.3"),
    ),
    Case(
        "run-config-wrong-type-seeds",
        lambda: PPOClassic(seeds="3"),
        TypeError,
        ("seeds", "'3'", "int"),
    ),
    Case(
        "run-config-wrong-type-envs",
        lambda: PPOClassic(envs="CartPole-v1"),
        TypeError,
        ("envs", "'CartPole-v1'", "tuple"),
    ),
    Case(
        "run-config-wrong-type-coef-element",
        lambda: RLHFShaping(kl_coefs=(0.1, "x")),
        TypeError,
        ("kl_coefs[1]", "'x'", "float"),
    ),
    Case("run-config-wrong-type-bool", lambda: PPOClassic(shard=1), TypeError, ("shard", "bool")),
    Case("run-chunked-zero-chunks", _run_chunked_zero_chunks, ValueError, ("num_chunks=0",)),
    # results on disk
    Case(
        "run-metrics-truncated",
        _truncated_metrics,
        ResultsError,
        ("metrics.npz", RUN_ID, "BadZipFile"),
        needs_tmp=True,
    ),
    Case(
        "run-metrics-empty", _empty_metrics, ResultsError, ("metrics.npz", RUN_ID), needs_tmp=True
    ),
    Case(
        "run-metrics-checksum-mismatch",
        _metrics_checksum_mismatch,
        ResultsError,
        ("checksum mismatch", "metrics.npz", RUN_ID),
        needs_tmp=True,
    ),
    Case(
        "run-config-json-invalid",
        _bad_config_json,
        ResultsError,
        ("config.json", RUN_ID, "not valid JSON"),
        needs_tmp=True,
    ),
    Case(
        "run-config-json-checksum-mismatch",
        _config_checksum_mismatch,
        ResultsError,
        ("checksum mismatch", "config.json", RUN_ID),
        needs_tmp=True,
    ),
    Case(
        "run-provenance-json-invalid",
        _bad_provenance_json,
        ResultsError,
        ("provenance.json", RUN_ID),
        needs_tmp=True,
    ),
    Case(
        "run-config-missing-key",
        _config_missing_key,
        ResultsKeyError,
        ("'env'", "config.json", RUN_ID),
        needs_tmp=True,
    ),
    Case(
        "run-metrics-missing-key",
        _metrics_missing_key,
        SchemaError,
        ("eval_return", "metrics.npz", RUN_ID),
        needs_tmp=True,
    ),
    Case(
        "run-merge-unfinished-shard",
        _merge_unfinished,
        ValueError,
        (RUN_ID, "not finished"),
        needs_tmp=True,
    ),
    # resume
    Case(
        "run-resume-nothing-to-resume",
        _resume_nothing,
        NothingToResume,
        ("--resume", "ppo_classic", "--resume-or-new"),
        needs_tmp=True,
    ),
    Case(
        "run-resume-after-config-change",
        _resume_changed_config,
        NothingToResume,
        ("this config", "20260101-000000-old", "--resume-or-new"),
        needs_tmp=True,
    ),
    # figures
    Case(
        "run-figure-nan-metric",
        _figure_nan,
        SchemaError,
        ("eval_return", RUN_ID, "non-finite"),
        needs_tmp=True,
    ),
    Case(
        "run-figure-config-data-mismatch",
        _figure_config_mismatch,
        ResultsError,
        (RUN_ID, "eval_env_steps", "4096", "262144"),
        needs_tmp=True,
    ),
    Case(
        "run-figure-seed-count-mismatch",
        _figure_seed_mismatch,
        ResultsError,
        (RUN_ID, "seeds", "5"),
        needs_tmp=True,
    ),
]
