"""PPO through the experiment pipeline: resume equals uninterrupted, NaN stops the run, smoke."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from experiment_helpers import draw_figure, load_declared, run_quick
from probe_envs import Probe

from experiments.ppo_classic.schema import SCHEMA
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.experiment import ResultsStore, run_chunked
from jaxrl.shaping import RewardTransform

SEEDS = 2


def _trainer(transform=None, num_chunks=4):
    static = PPOStatic(
        num_envs=4,
        num_steps=16,
        total_timesteps=4 * 16 * 8,
        num_minibatches=2,
        hidden_sizes=(8,),
        eval_steps=1,
        num_chunks=num_chunks,
    )
    trainer = make_train(static, Probe("obs_action"), transform)
    return trainer, jax.jit(jax.vmap(trainer.init)), jax.jit(jax.vmap(trainer.chunk))


@pytest.mark.heavy
def test_resume_after_kill_equals_uninterrupted(tmp_path):
    trainer, init, chunk = _trainer()
    keys = jax.random.split(jax.random.key(3), SEEDS)
    hp = PPOHParams(learning_rate=1e-3).broadcast(SEEDS)
    store = ResultsStore(tmp_path)
    full = run_chunked(
        init,
        chunk,
        keys,
        hp,
        num_chunks=4,
        run=store.create("a", {"x": 1}),
        resume=False,
        progress=False,
    )
    run = store.create("b", {"x": 1})
    run_chunked(init, chunk, keys, hp, num_chunks=2, run=run, resume=False, progress=False)
    assert not run.is_done  # "killed" after chunk 2 of 4
    resumed = run_chunked(init, chunk, keys, hp, num_chunks=4, run=run, resume=True, progress=False)
    assert set(full) == set(resumed)
    for k in full:
        np.testing.assert_array_equal(full[k], resumed[k], err_msg=k)


def _nan_after(steps: int) -> RewardTransform:
    """Rewards turn NaN after ``steps`` vector-env steps (a stand-in for a diverging transform)."""

    def apply(params, count, tr):
        reward = jnp.where(count >= steps, jnp.nan, tr.reward)
        return reward, count + 1

    return RewardTransform(lambda p: jnp.zeros((), jnp.int32), apply, ())


@pytest.mark.heavy
def test_nan_is_reported_with_its_chunk_and_no_done_marker(tmp_path):
    # 2 updates per chunk × 16 steps per update: NaN from step 40 lies in chunk 1 (updates 2–3).
    trainer, init, chunk = _trainer(_nan_after(40))
    keys = jax.random.split(jax.random.key(0), SEEDS)
    run = ResultsStore(tmp_path).create("nan", {"x": 1})
    with pytest.raises(FloatingPointError, match="chunk 1"):
        run_chunked(
            init,
            chunk,
            keys,
            PPOHParams().broadcast(SEEDS),
            num_chunks=4,
            run=run,
            resume=False,
            progress=False,
            finalize=True,
        )
    assert not run.is_done


def test_unknown_env_fails_before_compiling():
    from jaxrl.envs import make

    with pytest.raises(ValueError, match="CartPole-v1"):
        make("CartPол-v1")


@pytest.mark.heavy
def test_ppo_classic_experiment_and_figure_smoke(tmp_path):
    flags = "--envs CartPole-v1 --cartpole-steps 2048 --num-chunks 2"
    runs = run_quick("ppo_classic", tmp_path, flags)
    (run,) = runs
    assert run.is_done
    assert {"config.json", "provenance.json", "metrics.npz", "DONE"} <= {
        p.name for p in run.path.iterdir()
    }
    metrics = load_declared(run, SCHEMA)
    assert metrics["eval_return"].shape == (2, 2)
    prov = run.provenance
    assert {"git", "versions", "jax", "command"} <= set(prov)
    assert prov["versions"]["jax"] == jax.__version__ and prov["jax"]["backend"] == "cpu"
    png = draw_figure("ppo_classic", tmp_path)
    assert png.exists() and png.stat().st_size > 10_000
