"""ORPO (Laidlaw, Singhal & Dragan, ICLR 2025): PPO regularised towards a reference policy.

Each iteration (papers.md §1.3):

1. roll out the current policy π and, in a second rollout as long, the reference policy π_ref;
2. train the discriminator first (``disc_epochs`` passes; the released code under-trains it), so
   that ``d(s, a) ≈ log μ_π(s, a) / μ_ref(s, a)``;
3. augment the current policy's rewards, ``r' = r − λ·penalty(d)`` (KL: d; χ²: e^d − 1;
   √χ²: (e^d − 1)/√trimmed-mean; TV: sign d), recompute GAE on ``r'`` and take PPO's update.
   The augmentation is the ``occupancy_penalty`` RewardTransform (params ``(λ, disc params)``),
   chained after the trainer's own transform: it is applied to the whole rollout ``[T, N]`` at
   once (the √χ² normaliser is a batch statistic), once the discriminator is trained.

**Cost** (``benchmarks/orpo_throughput.py``, CPU, tomato, the experiment's settings): about
2.0–2.2× plain PPO's time per learner step. The discriminator's ``disc_epochs`` passes over
the ``2 × batch`` samples are FLOP-for-FLOP about PPO's own ``update_epochs`` passes, so they
make almost all of the difference (half of an ORPO update); the reference rollout adds a few
percent. Fewer epochs are cheaper but weaken the regulariser at a given λ (``--quality``
there): keep the default unless the λ grid is re-tuned.

``method="none"`` is plain PPO on the same rollouts (λ unused); ``method="ad_kl"`` /
``"ad_chi2"`` is the action-distribution baseline: no discriminator, instead
``(1/(1 − γ))·β·E_s D(π(·|s) ‖ π_ref(·|s))`` added to PPO's loss. λ and β are both
``PPOHParams.aux_coef``, so one ``vmap`` sweeps them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.agents.ppo import RunnerState, make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.agents.trainer import TrainerBase
from jaxrl.config import Config
from jaxrl.regularizers.action_divergence import ad_chi2_penalty, ad_kl_penalty
from jaxrl.rewards.discriminator import DiscBatch, DiscState, init_discriminator
from jaxrl.rewards.occupancy_ratio import (
    PENALTIES,
    OccupancyPenaltyParams,
    occupancy_penalty,
    orpo_config,
    penalty_from_logits,
    train_occupancy_ratio,
)
from jaxrl.shaping.transform import RewardTransform, Transition

METHODS = ("none", "om", "ad_kl", "ad_chi2")


@dataclass(frozen=True)
class ORPOStatic(Config):
    """Static ORPO settings (the PPO part is a separate ``PPOStatic``)."""

    method: Literal["none", "om", "ad_kl", "ad_chi2"] = "om"
    """"om": occupancy-measure regularisation; "ad_*": action-distribution baseline"""
    divergence: Literal["kl", "chi2", "sqrt_chi2", "tv"] = "sqrt_chi2"
    """occupancy divergence whose penalty reward is subtracted (method "om")"""
    state_only: bool = False
    """discriminator on s only (state occupancy) instead of (s, a)"""
    disc_hidden: tuple[int, ...] = (256, 256)
    disc_epochs: int = 8
    """discriminator passes per update; its cost grows linearly with them"""
    disc_minibatches: int = 4
    """Adam steps per discriminator pass (same FLOPs whatever the number)"""
    disc_learning_rate: float = 1e-3
    penalty_clip: float = 1000.0
    """ORPO's discriminator_reward_clip (tomato: 1000)"""

    def check(self) -> None:
        self.require(self.method in METHODS, "method", f"expected one of {METHODS}")
        self.require(self.divergence in PENALTIES, "divergence", f"expected one of {PENALTIES}")
        self.require(self.disc_epochs > 0, "disc_epochs", "must be positive")
        self.require(self.disc_minibatches > 0, "disc_minibatches", "must be positive")
        self.require(all(h > 0 for h in self.disc_hidden), "disc_hidden", "sizes must be > 0")
        self.require(self.disc_learning_rate > 0, "disc_learning_rate", "must be > 0")
        self.require(self.penalty_clip > 0, "penalty_clip", "must be > 0")


class ORPOState(NamedTuple):
    current: RunnerState
    reference: RunnerState  # train_state.params = π_ref, never updated
    disc: DiscState | tuple  # () unless method == "om"
    key: jax.Array


@dataclass(frozen=True, eq=False)  # hashed by identity: jit caches on the callable
class ORPOTrainer(TrainerBase):
    """The :class:`~jaxrl.agents.trainer.Trainer` protocol; ``transform`` is the base (PPO)
    transform, ``penalty`` the occupancy-penalty transform chained after it (method "om")."""

    static: PPOStatic
    orpo: ORPOStatic
    ppo: Any
    transform: RewardTransform
    penalty: RewardTransform
    init: Any
    update: Any
    chunk: Any

    def evaluate(self, state: ORPOState, hp: PPOHParams, channel=None):
        """The current policy's evaluation returns (``ppo.evaluate`` on ``state.current``)."""
        return self.ppo.evaluate(state.current, hp, channel)

    def check(self, hparams: PPOHParams, allow_gamma_mismatch: bool = False) -> PPOHParams:
        return self.ppo.check(hparams, allow_gamma_mismatch)


def rollout_transition(traj, gamma) -> Transition:
    """The PPO rollout ``[T, N]`` as the penalty transform sees it (``u`` is the action)."""
    return Transition(
        obs=traj.obs,
        action=traj.u,
        reward=traj.reward,
        next_obs=traj.next_obs,
        terminated=traj.terminated,
        truncated=traj.truncated,
        discount=gamma * (1.0 - traj.terminated),
        channels={},
        time=jnp.zeros(traj.terminated.shape, jnp.int32),  # unused by the penalty
    )


def make_orpo(
    static: PPOStatic,
    orpo: ORPOStatic,
    env,
    ref_params,
    transform=None,
    env_params=None,
    eval_channels: tuple[str, ...] = ("true_reward", "proxy_reward"),
) -> ORPOTrainer:
    """Build ORPO (or its baselines) on top of ``make_train``'s PPO pieces.

    Args:
      static, orpo: PPO and ORPO static settings.
      env: environment (gymnax-1.0 contract); the learner's base reward is the env reward after
        ``transform`` (e.g. the proxy reward).
      ref_params: the reference policy's network params (same ``ActorCritic`` architecture),
        e.g. PPO trained on the true reward with ε-random actions, loaded via ``load_params``.
      eval_channels: reward channels reported by the per-chunk evaluation.
    """
    extra_loss = None
    if orpo.method in ("ad_kl", "ad_chi2"):
        penalty = ad_kl_penalty if orpo.method == "ad_kl" else ad_chi2_penalty

        def extra_loss(params, mb, hp):
            logits, _, _ = ppo.network.apply(params, mb.obs)
            ref_logits, _, _ = ppo.network.apply(ref_params, mb.obs)
            ad = penalty(logits, ref_logits, hp.gamma, hp.aux_coef)
            return ad, {"ad_penalty": ad}

    env_params = env.default_params if env_params is None else env_params
    ppo = make_train(static, env, transform, env_params, extra_loss=extra_loss)
    obs_dim = math.prod(env.observation_space(env_params).shape)
    disc_config = orpo_config(
        obs_dim,
        ppo.policy.action_dim,
        discrete=not ppo.policy.continuous,
        inputs="s" if orpo.state_only else "sa",
        hidden_sizes=orpo.disc_hidden,
        learning_rate=orpo.disc_learning_rate,
        num_epochs=orpo.disc_epochs,
        num_minibatches=orpo.disc_minibatches,
    )
    use_om = orpo.method == "om"
    penalty_tf = occupancy_penalty(disc_config, orpo.divergence, clip=orpo.penalty_clip)

    def init(key: jax.Array, hp: PPOHParams) -> ORPOState:
        k_cur, k_ref, k_disc, key = jax.random.split(key, 4)
        current = ppo.init(k_cur, hp)
        reference = ppo.init(k_ref, hp)
        reference = reference._replace(train_state=reference.train_state.replace(params=ref_params))
        disc = init_discriminator(k_disc, disc_config)
        disc = disc if use_om else ()
        return ORPOState(current, reference, disc, key)

    def update(state: ORPOState, hp: PPOHParams):
        current, traj = ppo.rollout(state.current, hp)
        reference, disc, key = state.reference, state.disc, state.key
        extra = {}
        if use_om:
            reference, traj_ref = ppo.rollout(reference, hp)
            key, k_disc = jax.random.split(key)
            disc, dm = train_occupancy_ratio(
                disc,
                DiscBatch(traj.obs, traj.u),
                DiscBatch(traj_ref.obs, traj_ref.u),
                k_disc,
                return_logits=True,  # the final pass's d on traj: the om_penalty metric
            )
            pen_params = OccupancyPenaltyParams(hp.aux_coef, disc.variables)
            reward, _ = penalty_tf.apply(pen_params, (), rollout_transition(traj, hp.gamma))
            traj = traj._replace(reward=reward)
            pen = penalty_from_logits(dm["logits_pi"], orpo.divergence, orpo.penalty_clip)
            extra = {
                "om_penalty": pen.mean(),
                "disc_accuracy": dm["accuracy"],
                "disc_loss": dm["final_loss"],
                "disc_logit_pi": dm["mean_logit_pi"],
            }
        adv, targets = ppo.advantages(current, traj, hp)
        current, metrics = ppo.learn(current, traj, adv, targets, hp)
        return ORPOState(current, reference, disc, key), {**metrics, **extra}

    def chunk(state: ORPOState, hp: PPOHParams):
        state, metrics = jax.lax.scan(
            lambda s, _: update(s, hp), state, None, static.updates_per_chunk
        )
        evals = ppo.evaluate(state.current, hp, tuple(eval_channels))
        for name, value in evals.items():
            metrics[f"eval_{name}"] = value[None]
        metrics["eval_env_steps"] = (state.current.update * static.batch_size)[None]
        return state, metrics

    return ORPOTrainer(
        static=static,
        orpo=orpo,
        ppo=ppo,
        transform=ppo.transform,
        penalty=penalty_tf,
        init=init,
        update=update,
        chunk=chunk,
    )
