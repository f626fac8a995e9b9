"""ORPO agent: all methods run under jit/vmap; the occupancy penalty pulls towards the reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import Probe

from jaxrl.agents.orpo import ORPOStatic, make_orpo
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.agents.trainer import Trainer
from jaxrl.rewards import DiscBatch, discriminator_logits, penalty_from_logits

STATIC = PPOStatic(
    num_envs=8,
    num_steps=16,
    total_timesteps=8 * 16 * 24,
    num_minibatches=4,
    hidden_sizes=(16,),
    eval_steps=1,
    num_eval_envs=16,
)


def _reference_params(action: int):
    """A reference policy that (almost) always takes ``action`` on the 'action' probe."""
    net = make_train(STATIC, Probe("action")).network
    params = net.init(jax.random.key(0), jnp.zeros((1,)))
    bias = params["params"]["MLP_0"]["Dense_1"]["bias"]
    params["params"]["MLP_0"]["Dense_1"]["bias"] = bias.at[action].set(10.0)
    return params


@pytest.mark.heavy
@pytest.mark.parametrize("method", ["none", "om", "ad_kl", "ad_chi2"])
def test_methods_run_and_report(method):
    orpo = ORPOStatic(method=method, disc_hidden=(16,), disc_epochs=2)
    trainer = make_orpo(
        STATIC, orpo, Probe("action"), _reference_params(0), eval_channels=("true_reward",)
    )
    assert isinstance(trainer, Trainer)
    hp = PPOHParams(learning_rate=3e-3, aux_coef=0.1).broadcast(2)
    _, metrics = jax.jit(jax.vmap(trainer))(jax.random.split(jax.random.key(0), 2), hp)
    assert metrics["eval_true_reward"].shape == (2, 1)
    assert np.all(np.isfinite(metrics["loss_total"]))
    if method == "om":
        assert {"om_penalty", "disc_accuracy"} <= set(metrics)
    if method.startswith("ad"):
        assert "ad_penalty" in metrics


@pytest.mark.heavy
def test_strong_regularisation_keeps_the_reference_behaviour():
    # The probe pays +1 for action 1; the reference always takes action 0. Unregularised PPO
    # learns action 1 (return 1); with a large occupancy penalty it stays with the reference
    # (return -1), and the discriminator tells the two policies apart while they differ.
    ref = _reference_params(0)
    results = {}
    for method, lam in (("none", 0.0), ("om", 5.0), ("ad_kl", 5.0)):
        orpo = ORPOStatic(method=method, divergence="kl", disc_hidden=(16,), disc_epochs=4)
        trainer = make_orpo(STATIC, orpo, Probe("action"), ref, eval_channels=("true_reward",))
        hp = PPOHParams(learning_rate=3e-3, aux_coef=lam, gamma=0.5)
        _, m = jax.jit(trainer)(jax.random.key(1), hp)
        results[method] = float(m["eval_true_reward"][-1])
    assert results["none"] == pytest.approx(1.0)
    assert results["om"] < 0.0 and results["ad_kl"] < 0.0, results


@pytest.mark.heavy
@pytest.mark.parametrize("divergence", ["kl", "sqrt_chi2"])
def test_penalty_is_the_trained_discriminator_on_the_current_rollout(divergence):
    # One update: the penalty reward comes from the discriminator *after* this update's
    # training, evaluated on this update's current-policy rollout (the logits of the
    # discriminator's final pass are reused, not recomputed).
    orpo = ORPOStatic(method="om", divergence=divergence, disc_hidden=(16,), disc_epochs=2)
    trainer = make_orpo(
        STATIC, orpo, Probe("action"), _reference_params(0), eval_channels=("true_reward",)
    )
    hp = PPOHParams(learning_rate=3e-3, aux_coef=0.1)
    state = jax.jit(trainer.init)(jax.random.key(3), hp)
    _, traj = jax.jit(trainer.ppo.rollout)(state.current, hp)
    new, metrics = jax.jit(trainer.update)(state, hp)
    batch = DiscBatch(traj.obs, traj.u)
    d = discriminator_logits(new.disc.config, new.disc.variables, batch)
    pen = penalty_from_logits(d, divergence, orpo.penalty_clip)
    np.testing.assert_allclose(metrics["om_penalty"], pen.mean(), rtol=1e-5, atol=1e-6)
    d_before = discriminator_logits(state.disc.config, state.disc.variables, batch)
    assert not np.allclose(d, d_before)  # trained in this update
