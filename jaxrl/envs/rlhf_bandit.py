"""A toy RLHF testbed: a contextual bandit with a gold reward and a learned Bradley–Terry proxy.

The smallest setting in which "reward over-optimisation" (Gao, Schulman & Hilton 2023) happens
for the same reason as in RLHF: the proxy reward model is fitted on preferences between responses
of the *reference* (SFT) policy and extrapolates wrongly where that policy puts little mass.

**Testbed** (:class:`RLHFTestbedConfig`, :func:`build_testbed`; everything from one seed):

* ``C`` prompts (contexts) ``c`` and ``K`` responses ``a``. Response ``a`` has a content vector
  ``z_a ~ N(0, I_d)`` and a *length* ``ℓ_a ~ U[0, 1]``; prompt ``c`` has a taste vector
  ``u_c ~ N(0, I_d/d)``.
* **Gold reward** ``g(c, a) = u_c·z_a + h(ℓ_a)`` with ``h(ℓ) = κ·ℓ·(1 − ℓ/(2ℓ*))``: the quality
  term plus a length term that helps up to ``ℓ*`` (default 0.35) and hurts beyond (h(1) < 0).
* **Reference policy** ``π_ref(a|c) ∝ exp(τ·u_c·z_a − λ·ℓ_a)``: somewhat quality-aware and
  short-winded (λ = 8 puts ~90% of the mass on ℓ < 0.3), like an SFT model.
* **Proxy reward model**: :class:`jaxrl.rewards.preference.RewardMLP` on features
  ``[one_hot(c), z_a, ℓ_a]``, fitted by Bradley–Terry on ``num_pairs`` pairs of responses both
  drawn from ``π_ref(·|c)`` (c uniform), labelled with noise ``P(a ≻ b) = σ(β·(g_a − g_b))``.
  On that data longer is better (h is increasing below ℓ*), and the MLP extrapolates the trend to
  long responses that the gold reward penalises: proxy keeps rising with ℓ, gold peaks and falls.
  The RM is evaluated once on all ``C × K`` (prompt, response) pairs and normalised to mean 0,
  std 1 under the reference distribution (as RLHF pipelines normalise their RMs on SFT samples);
  the env looks rewards up in ``[C, K]`` tables.

**Environment** (:class:`RLHFBandit`; jaxrl env contract, episodes of one step):

* observation ``one_hot(c)`` float32 ``[C]`` (c uniform at reset); action: response id in ``[K]``;
* ``reward`` = the proxy ``r(c, a)`` (the learner optimises the proxy, as in RLHF);
* ``terminated = True`` on every step (a bandit), never ``truncated``
  (``max_steps_in_episode = 1``; terminated wins);
* ``info`` reward channels: ``"proxy_reward"`` r(c, a); ``"gold_reward"`` and ``"true_reward"``
  g(c, a); ``"reference_reward"`` r(c, a_ref) for one fresh reference response
  ``a_ref ~ π_ref(·|c)`` (PAR/LSC's reference, ``jaxrl.shaping.stream``); ``"gold_win_reward"``
  = 1[g(c, a) > g(c, a_ref)] (+½ on ties), the gold win rate against the reference, PAR's metric.

``make("rlhf_bandit", seed=0, ...)`` builds the testbed (trains the RM, ~1 s) and the env;
``env.testbed`` keeps the tables, the RM and the preference data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from jaxrl.envs.checks import check_at_least, check_finite, check_positive
from jaxrl.envs.core import Array, Environment
from jaxrl.envs.registry import register, registered_names
from jaxrl.rewards.preference import (
    BTFit,
    PreferenceData,
    bt_labels,
    preference_accuracy,
    preference_pairs,
    train_bt_reward_model,
)


@dataclass(frozen=True)
class RLHFTestbedConfig:
    """Everything that defines a testbed (hashable)."""

    seed: int = 0
    num_contexts: int = 8
    num_responses: int = 64
    feature_dim: int = 4
    length_weight: float = 8.0
    """κ: slope of the gold length term at ℓ = 0"""
    length_peak: float = 0.35
    """ℓ*: the length the gold reward likes best"""
    ref_quality_temp: float = 1.0
    """τ: how strongly π_ref prefers gold quality"""
    ref_length_penalty: float = 8.0
    """λ: how short-winded π_ref is"""
    num_pairs: int = 256
    """preference pairs for the reward model (few, all from π_ref)"""
    bt_beta: float = 2.0
    """label noise: P(a ≻ b) = σ(β (g_a − g_b)); inf = noise-free"""
    rm_hidden: tuple[int, ...] = (64, 64)
    rm_steps: int = 1000
    rm_learning_rate: float = 3e-3
    rm_weight_decay: float = 1e-4


class RLHFTestbed(NamedTuple):
    """The testbed's tables and fitted reward model."""

    config: RLHFTestbedConfig
    features: Array  # [C, K, F] reward-model input [one_hot(c), z_a, ℓ_a]
    lengths: Array  # [K]
    quality: Array  # [C, K] u_c·z_a
    gold: Array  # [C, K]
    ref_logits: Array  # [C, K] (unnormalised) log π_ref
    proxy: Array  # [C, K] the fitted RM on every (c, a)
    rm: BTFit
    pairs: PreferenceData  # the RM's training pairs
    pair_gold: tuple[Array, Array]  # gold rewards of (chosen, rejected)

    @property
    def ref_probs(self) -> Array:
        return jax.nn.softmax(self.ref_logits, axis=-1)


def gold_length_term(lengths, weight=8.0, peak=0.35):
    """``h(ℓ) = κ·ℓ·(1 − ℓ/(2ℓ*))``: increasing below ℓ*, maximal ``κℓ*/2`` at ℓ*."""
    return weight * lengths * (1.0 - lengths / (2.0 * peak))


def build_tables(cfg: RLHFTestbedConfig):
    """``(features [C,K,F], lengths [K], quality [C,K], gold [C,K], ref_logits [C,K])``."""
    C, K, d = cfg.num_contexts, cfg.num_responses, cfg.feature_dim
    k_u, k_z, k_l = jax.random.split(jax.random.key(cfg.seed), 3)
    u = jax.random.normal(k_u, (C, d)) / np.sqrt(d)
    z = jax.random.normal(k_z, (K, d))
    lengths = jax.random.uniform(k_l, (K,))
    quality = u @ z.T
    gold = quality + gold_length_term(lengths, cfg.length_weight, cfg.length_peak)[None, :]
    ref_logits = cfg.ref_quality_temp * quality - cfg.ref_length_penalty * lengths[None, :]
    features = jnp.concatenate(
        [
            jnp.broadcast_to(jnp.eye(C)[:, None, :], (C, K, C)),
            jnp.broadcast_to(z[None], (C, K, d)),
            jnp.broadcast_to(lengths[None, :, None], (C, K, 1)),
        ],
        axis=-1,
    )
    return features, lengths, quality, gold, ref_logits


def sample_preferences(key, features, gold, ref_logits, num_pairs: int, beta: float):
    """``num_pairs`` BT-labelled pairs of two ``π_ref`` responses to a uniform prompt.

    Returns ``(PreferenceData, (gold_chosen, gold_rejected))``."""
    C = gold.shape[0]
    k_c, k_a, k_b, k_lab = jax.random.split(key, 4)
    c = jax.random.randint(k_c, (num_pairs,), 0, C)
    a = jax.random.categorical(k_a, ref_logits[c])
    b = jax.random.categorical(k_b, ref_logits[c])
    g_a, g_b = gold[c, a], gold[c, b]
    a_pref = bt_labels(k_lab, g_a, g_b, beta)
    data = preference_pairs(features[c, a], features[c, b], a_pref)
    return data, (jnp.where(a_pref, g_a, g_b), jnp.where(a_pref, g_b, g_a))


def build_testbed(cfg: RLHFTestbedConfig = RLHFTestbedConfig()) -> RLHFTestbed:
    """Tables, preference data from π_ref, and the Bradley–Terry proxy fitted to them."""
    features, lengths, quality, gold, ref_logits = build_tables(cfg)
    k_data, k_rm = jax.random.split(jax.random.fold_in(jax.random.key(cfg.seed), 1))
    pairs, pair_gold = sample_preferences(
        k_data, features, gold, ref_logits, cfg.num_pairs, cfg.bt_beta
    )
    rm = train_bt_reward_model(
        k_rm,
        pairs,
        cfg.rm_hidden,
        cfg.rm_steps,
        cfg.rm_learning_rate,
        cfg.rm_weight_decay,
    )
    raw = rm.reward(features)
    # Normalise the RM on the reference distribution (mean 0, std 1 over prompts and π_ref
    # responses), as RLHF pipelines do; BT identifies the RM only up to an offset anyway.
    p = jax.nn.softmax(ref_logits, axis=-1)
    mu = jnp.mean(jnp.sum(p * raw, -1))
    sd = jnp.sqrt(jnp.mean(jnp.sum(p * (raw - mu) ** 2, -1)))
    proxy = (raw - mu) / sd
    return RLHFTestbed(
        cfg, features, lengths, quality, gold, ref_logits, proxy, rm, pairs, pair_gold
    )


def policy_summary(testbed: RLHFTestbed, logits) -> dict[str, float]:
    """Exact expected gold/proxy reward and mean length of a policy ``logits [C, K]``
    (uniform prompts)."""
    p = jax.nn.softmax(jnp.asarray(logits), axis=-1)
    return {
        "gold": float(jnp.mean(jnp.sum(p * testbed.gold, -1))),
        "proxy": float(jnp.mean(jnp.sum(p * testbed.proxy, -1))),
        "length": float(jnp.mean(p @ testbed.lengths)),
    }


def describe_testbed(testbed: RLHFTestbed) -> dict[str, Any]:
    """Reference, gold-optimal and proxy-optimal policies' gold/proxy (the over-optimisation gap),
    and the RM's accuracy on its own (training-distribution) pairs."""
    big = 1e4
    one_hot = lambda t: big * jax.nn.one_hot(jnp.argmax(t, -1), t.shape[-1])
    return {
        "reference": policy_summary(testbed, testbed.ref_logits),
        "gold_optimal": policy_summary(testbed, one_hot(testbed.gold)),
        "proxy_optimal": policy_summary(testbed, one_hot(testbed.proxy)),
        "rm_label_accuracy": float(
            preference_accuracy(testbed.rm.params, testbed.rm.model.apply, testbed.pairs)
        ),
        "rm_gold_accuracy": float(
            preference_accuracy(
                testbed.rm.params, testbed.rm.model.apply, testbed.pairs, *testbed.pair_gold
            )
        ),
    }


# ----------------------------------------------------------------------------- environment
@struct.dataclass
class RLHFBanditParams:
    """Traced env params: the reward tables (swap in another RM's table without recompiling)."""

    gold: Array  # [C, K]
    proxy: Array  # [C, K]
    ref_logits: Array  # [C, K]
    max_steps_in_episode: int = 1


@struct.dataclass
class RLHFBanditState:
    context: Array  # [] int32
    time: Array  # [] int32


class RLHFBandit(Environment):
    """One-step contextual bandit over the testbed's tables (see the module docstring)."""

    def __init__(self, testbed: RLHFTestbed):
        super().__init__()
        self.testbed = testbed
        self.num_contexts, self.num_responses = (int(n) for n in testbed.gold.shape)

    @property
    def name(self) -> str:
        return "rlhf_bandit"

    @property
    def num_actions(self) -> int:
        return self.num_responses

    @property
    def default_params(self) -> RLHFBanditParams:
        tb = self.testbed
        return RLHFBanditParams(
            gold=jnp.asarray(tb.gold, jnp.float32),
            proxy=jnp.asarray(tb.proxy, jnp.float32),
            ref_logits=jnp.asarray(tb.ref_logits, jnp.float32),
        )

    def _obs(self, context):
        return jax.nn.one_hot(context, self.num_contexts, dtype=jnp.float32)

    def reset_env(self, key, params):
        c = jax.random.randint(key, (), 0, self.num_contexts)
        state = RLHFBanditState(context=c, time=jnp.zeros((), jnp.int32))
        return self._obs(c), state

    def step_env(self, key, state, action, params):
        c, a = state.context, jnp.asarray(action, jnp.int32)
        a_ref = jax.random.categorical(key, params.ref_logits[c])
        gold, gold_ref = params.gold[c, a], params.gold[c, a_ref]
        proxy = params.proxy[c, a]
        win = jnp.where(gold > gold_ref, 1.0, jnp.where(gold == gold_ref, 0.5, 0.0))
        info = {
            "proxy_reward": proxy,
            "gold_reward": gold,
            "true_reward": gold,
            "reference_reward": params.proxy[c, a_ref],
            "gold_win_reward": win,
        }
        new_state = RLHFBanditState(context=c, time=state.time + 1)
        return self._obs(c), new_state, proxy, jnp.asarray(True), info

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (self.num_contexts,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(self.num_responses)

    def check_params(self, params: RLHFBanditParams) -> None:
        """Raises if a table is not ``[C, K]`` (this env's sizes) or the episode is not 1 step."""
        shape = (self.num_contexts, self.num_responses)
        for field in ("gold", "proxy", "ref_logits"):
            got = tuple(np.shape(getattr(params, field)))
            if got != shape:
                raise ValueError(f"rlhf_bandit: params.{field} has shape {got}, expected {shape}")
        mx = params.max_steps_in_episode
        if isinstance(mx, (int, np.integer)) and (isinstance(mx, bool) or mx != 1):
            raise ValueError(f"rlhf_bandit: max_steps_in_episode must be 1 (a bandit), got {mx!r}")


def _check_config(config: dict[str, Any]) -> RLHFTestbedConfig:
    """``RLHFTestbedConfig(**config)``, refusing unknown fields and out-of-range values."""
    where = "make('rlhf_bandit')"
    fields = list(RLHFTestbedConfig.__dataclass_fields__)
    unknown = sorted(set(config) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown keyword(s) {unknown}; accepted: {fields}")
    cfg = RLHFTestbedConfig(**config)
    check_at_least(where, "seed", cfg.seed, 0)
    for field in ("num_contexts", "num_responses", "feature_dim", "num_pairs", "rm_steps"):
        check_at_least(where, field, getattr(cfg, field), 1)
    for field in ("length_peak", "bt_beta", "rm_learning_rate"):
        check_positive(where, field, getattr(cfg, field))
    for field in ("length_weight", "ref_quality_temp", "ref_length_penalty"):
        check_finite(where, field, getattr(cfg, field))
    check_at_least(where, "rm_weight_decay", cfg.rm_weight_decay, 0.0, integer=False)
    if not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in cfg.rm_hidden):
        raise ValueError(f"{where}: rm_hidden must be layer widths >= 1, got {cfg.rm_hidden!r}")
    return cfg


def make_rlhf_bandit(**config: Any) -> tuple[RLHFBandit, RLHFBanditParams]:
    """``make("rlhf_bandit", **RLHFTestbedConfig fields)``: builds the testbed (trains the RM).

    Sizes must be >= 1 and ``bt_beta``/``length_peak`` > 0 (checked before the RM is trained).
    Actions outside ``[0, num_responses)`` are clipped (debug mode: an error)."""
    cfg = _check_config(config)
    env = RLHFBandit(build_testbed(cfg))
    return env, env.default_params


if "rlhf_bandit" not in registered_names():
    register("rlhf_bandit", make_rlhf_bandit)
