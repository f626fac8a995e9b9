"""SAM: off-policy adversarial imitation (Blondé & Kalousis 2019; papers.md §3, theory.md §3).

An off-policy learner (TD3 by default, or SAC) whose reward is learned: every gradient update

1. samples an expert minibatch (uniformly, with replacement, from the demonstrations, which are
   closed over as constants) and uses the agent's replay minibatch as the negatives;
2. takes **one** discriminator step (:func:`jaxrl.rewards.adversarial.train_adversarial_step`:
   BCE + entropy bonus + λ·gradient penalty of static type ``gp_type``);
3. **relabels** the sampled replay transitions with the *current* (just updated) discriminator:
   the :func:`~jaxrl.rewards.adversarial.adversarial_reward` RewardTransform, with the
   discriminator's variables as its params, is applied to the replay batch,
   ``r = softplus(D(s, a))`` (the minimax reward ``−log(1 − σ(D))``), and the relabelled batch
   goes to the base agent's update. Rewards stored at insertion time would go stale as ``D``
   changes, so the buffer's reward column is never used: the trainer is built with a transform
   that stores 0 (the environment's reward never reaches the learner; it is only *logged*, as
   ``return_env_reward`` / ``return_true_reward``, and evaluated, as ``eval_return`` on the
   ``true_reward`` channel, which is the imitation return).

Composition, no changes to ``offpolicy_common``: the base agent's four pure functions are taken
from the base trainer (``td3.make_train(...).agent``) and wrapped into a new
:class:`~jaxrl.agents.offpolicy_common.OffPolicyAgent` whose state is
``SAMState(base, disc)``; ``build_trainer`` then runs it like any off-policy agent.

Hyperparameters: :class:`SAMHParams` ``(agent, disc, purple, spectral_norm)``, all traced, so
one ``jit`` vmaps seeds × λ (or any other field of
:class:`~jaxrl.rewards.adversarial.AdversarialHParams`) and runs with and without spectral
normalisation. The penalty *type* is static (one ``jit`` per type); a run with λ = 0 trains as
without a penalty (the penalty's gradient enters the loss times 0; its key is split off either
way), which is how a no-penalty run shares a penalty type's ``jit``
(``tests/test_sam.py`` compares both). ``gamma`` and ``transform`` are forwarded from the agent's
hyperparameters (what ``build_trainer`` reads).

Extra per-row metrics (means over the row's updates): ``d_loss``, ``d_accuracy``,
``d_grad_pen``, ``d_grad_norm_agent`` / ``d_grad_norm_expert`` (mean ‖∇_{s,a} D‖ at the agent /
expert minibatch, after the step), ``d_grad_norm_max``, ``d_reward_agent`` /
``d_reward_expert`` and ``learned_reward`` (mean relabelled reward of the replay minibatch).

Paper options (all static and off by default, :class:`SAMStatic`): ``n_step`` (paper: 10; every
step of the window is relabelled, :mod:`jaxrl.agents.nstep`), ``absorbing`` (DAC; expert
terminals add expert absorbing samples, :func:`expert_arrays`), ``layer_norm`` (actor and
critics), ``disc_negative_slope``, ``spectral_norm``, ``label_smoothing``; the entropy bonus is
the traced ``AdversarialHParams.ent_reg_scale`` (0.001; 0 turns it off).

PURPLE (static ``purple``, off by default; :mod:`jaxrl.rewards.purple`): a forward model
``f(s, a) → s'`` takes one Adam step on the replay minibatch's first steps (MSE) every update,
then the relabelled reward becomes ``ψ·softplus(D)``, ``ψ = max(exp(−GP_f/σ), ψ_min)``,
``GP_f = relu(‖∂f/∂(s, a)‖_F − f_targ)²`` at every relabelled step, σ the running std of GP_f
over the sampled transitions; ``f_targ`` and ``ψ_min`` are the traced ``SAMHParams.purple``.
Metrics: ``purple_scale`` (mean ψ over the sampled transitions; exactly 1 when PURPLE is off,
since then ``r`` is not modulated) and, always, ``q_jacobian_norm``: mean over the critic
minibatch of ``‖∇_{s,a} Q1(s, a)‖₂`` of the first critic after its update (the quantity PURPLE
should lower, theory.md §3 bounds it by the reward's Lipschitz constant).

Not implemented: parameter-space noise, observation normalisation of the discriminator's input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents import nstep, sac, td3
from jaxrl.agents.absorbing import prepare_env
from jaxrl.agents.critic import Critic
from jaxrl.agents.hparams import broadcast_hparams, check_range
from jaxrl.agents.offpolicy_common import (
    OffPolicyAgent,
    OffPolicyTrainer,
    build_trainer,
    replay_transition,
)
from jaxrl.rewards.adversarial import (
    AdversarialHParams,
    adversarial_reward,
    default_hparams,
    gail_config,
    train_adversarial_step,
)
from jaxrl.rewards.discriminator import (
    DiscBatch,
    DiscriminatorConfig,
    DiscState,
    init_discriminator,
    set_spectral_norm,
)
from jaxrl.rewards.penalties import GP_TYPES, input_gradient_norms
from jaxrl.rewards.preconditioning import (
    PurpleConfig,
    PurpleState,
    init_purple,
    train_forward_model_step,
)
from jaxrl.rewards.purple import PurpleHParams, forward_penalty, modulation
from jaxrl.shaping.stream import update_running_stats
from jaxrl.shaping.transform import RewardTransform


@dataclass(frozen=True)
class SAMStatic(td3.TD3Static):
    """The base learner's static fields (``policy_delay`` is ignored by SAC) plus the
    discriminator's static settings (network, penalty type and sidedness, optimiser)."""

    base: Literal["td3", "sac"] = "td3"
    gp_type: str = "wgan"
    """gradient-penalty distribution: wgan / dragan / nagard / none (static: one jit each)"""
    one_sided: bool = True
    """relu(‖∇D‖ − k)² (liayn run_003/006) instead of (‖∇D‖ − k)²"""
    disc_hidden_sizes: tuple[int, ...] = (100, 100)
    disc_negative_slope: float = 0.1
    """LeakyReLU slope of the discriminator's hidden layers (paper: 0.1; 0 is ReLU)"""
    spectral_norm: bool = True
    label_smoothing: bool = False
    disc_learning_rate: float = 5e-4
    expert_batch_size: int = 0
    """expert minibatch size; 0 means ``batch_size`` (wgan interpolates equal-size batches)"""
    purple: bool = False
    """PURPLE: multiply the learned reward by ψ from a learned forward model's Jacobian norm"""
    purple_hidden_sizes: tuple[int, ...] = (100, 100)
    """the forward model's hidden layers (LeakyReLU 0.1)"""
    purple_learning_rate: float = 1e-3
    """the forward model's Adam step size"""

    def check(self) -> None:
        super().check()
        self.require_sizes("disc_hidden_sizes")
        self.require(self.disc_learning_rate > 0, "disc_learning_rate", "must be > 0")
        self.require(self.disc_negative_slope >= 0, "disc_negative_slope", "must be >= 0")
        self.require(self.gp_type in GP_TYPES, "gp_type", f"must be one of {GP_TYPES}")
        self.require(self.expert_batch_size >= 0, "expert_batch_size", "must be >= 0")
        self.require_sizes("purple_hidden_sizes")
        self.require(self.purple_learning_rate > 0, "purple_learning_rate", "must be > 0")
        self.require(
            self.gp_type != "wgan" or self.expert_batch_size in (0, self.batch_size),
            "expert_batch_size",
            "wgan interpolates expert and agent samples pairwise: must equal batch_size",
        )

    def base_static(self):
        """The base learner's own static config (the shared off-policy fields)."""
        from dataclasses import fields

        # absorbing=False: SAM wraps the env itself (the base builds its networks on it)
        cls = td3.TD3Static if self.base == "td3" else sac.SACStatic
        names = {f.name for f in fields(cls)} - {"absorbing"}
        return cls(**{n: getattr(self, n) for n in names})

    def disc_config(self, obs_dim: int, action_dim: int) -> DiscriminatorConfig:
        return gail_config(
            obs_dim,
            action_dim,
            hidden_sizes=tuple(self.disc_hidden_sizes),
            negative_slope=self.disc_negative_slope,
            spectral_norm=self.spectral_norm,
            learning_rate=self.disc_learning_rate,
            gp_type=self.gp_type,
            one_sided=self.one_sided,
            label_smoothing=self.label_smoothing,
            reward_type="minimax",
        )

    def purple_config(self, obs_dim: int, action_dim: int) -> PurpleConfig | None:
        """The forward model's config, ``None`` when PURPLE is off."""
        if not self.purple:
            return None
        hidden = tuple(self.purple_hidden_sizes)
        return PurpleConfig(obs_dim, action_dim, hidden, self.purple_learning_rate)


class SAMHParams(NamedTuple):
    """Traced hyperparameters: the base agent's, the discriminator loss's (λ, k, σ, c_ent),
    PURPLE's (``f_targ``, ``psi_min``; unused while ``SAMStatic.purple`` is off) and
    ``spectral_norm``, the per-run switch (1 on, 0 off) of the discriminator's spectral
    normalisation (used only when ``SAMStatic.spectral_norm`` builds it; runs with and without
    it then share one ``vmap``)."""

    agent: Any = td3.TD3HParams()
    disc: Any = AdversarialHParams()
    purple: Any = PurpleHParams()
    spectral_norm: Any = 1.0

    @property
    def gamma(self):
        return self.agent.gamma

    @property
    def transform(self):
        return self.agent.transform

    broadcast = broadcast_hparams

    def check(self) -> SAMHParams:
        self.agent.check()
        for name in AdversarialHParams._fields:
            check_range("SAMHParams.disc", name, getattr(self.disc, name), 0.0)
        check_range("SAMHParams.purple", "f_targ", self.purple.f_targ, 0.0)
        check_range("SAMHParams.purple", "psi_min", self.purple.psi_min, 0.0, 1.0)
        if not np.all(np.isin(np.asarray(self.spectral_norm), (0.0, 1.0))):
            raise ValueError(f"SAMHParams.spectral_norm must be 0 or 1, got {self.spectral_norm}")
        return self


def sam_hparams(
    agent=None, purple: PurpleHParams | None = None, spectral_norm=1.0, **disc
) -> SAMHParams:
    """``SAMHParams(agent, default_hparams(**disc), purple, spectral_norm)`` (float arrays; λ is
    ``grad_pen_scale``; ``purple`` defaults to ``f_targ=5``, ``psi_min=0.7``)."""
    purple = PurpleHParams() if purple is None else purple
    purple = PurpleHParams(*(jnp.asarray(v, jnp.float32) for v in purple))
    agent = td3.TD3HParams() if agent is None else agent
    sn = jnp.asarray(spectral_norm, jnp.float32)
    return SAMHParams(agent, default_hparams(**disc), purple, sn)


class SAMState(NamedTuple):
    base: Any
    disc: DiscState
    purple: PurpleState | None = None
    """the forward model and the running GP_f moments (``None`` while PURPLE is off)"""


def zero_reward() -> RewardTransform:
    """Stores reward 0 in the buffer: SAM relabels every sampled batch, so the environment's
    reward is never available to the learner."""
    return RewardTransform(
        lambda p: (), lambda p, s, tr: (jnp.zeros_like(tr.reward, jnp.float32), s), ()
    )


def expert_arrays(demos, absorbing: bool = False) -> DiscBatch:
    """Constant ``DiscBatch(obs, action)`` of the demonstrations (anything with those fields).

    ``absorbing`` (DAC): observations gain the indicator 0, and each ``terminated`` demo row
    adds one expert absorbing sample ``(s_abs, 0)`` (the agent's replay holds one self-loop per
    stored terminal; :mod:`jaxrl.agents.absorbing`), so ``D`` learns the absorbing reward.
    """
    obs = np.asarray(demos.obs, np.float32)
    action = np.asarray(demos.action, np.float32)
    if absorbing:
        if getattr(demos, "terminated", None) is None:
            raise ValueError("absorbing=True needs demonstrations with a `terminated` field")
        terminated = np.asarray(demos.terminated, bool).reshape(-1)
        if terminated.shape[0] != obs.shape[0]:
            raise ValueError(f"demos.terminated has {terminated.shape[0]} rows, obs {len(obs)}")
        n_abs = int(terminated.sum())
        s_abs = np.zeros((n_abs, obs.shape[-1] + 1), np.float32)
        s_abs[:, -1] = 1.0
        obs = np.concatenate([np.pad(obs, ((0, 0), (0, 1))), s_abs])
        action = np.concatenate([action, np.zeros((n_abs, *action.shape[1:]), np.float32)])
    return DiscBatch(jnp.asarray(obs, jnp.float32), jnp.asarray(action, jnp.float32))


def q_jacobian_norm(critic_net: Critic, critic_params, obs, action):
    """``mean_B ‖∇_{s,a} Q1(s, a)‖₂`` (``[]``) of the first of the twin critics (params with a
    leading ``[2]`` axis) at ``obs [B, obs_dim]``, ``action [B, A]``."""
    q1 = jax.tree.map(lambda p: p[0], critic_params)
    obs_dim = obs.shape[-1]
    x = jnp.concatenate([obs, jnp.asarray(action, obs.dtype)], axis=-1)
    q = lambda xi: critic_net.apply(q1, xi[:obs_dim], xi[obs_dim:])
    return input_gradient_norms(q, x).mean()


def wrap_agent(
    base: OffPolicyAgent,
    disc_config: DiscriminatorConfig,
    expert: DiscBatch,
    expert_batch_size: int,
    critic_net: Critic,
    purple_config: PurpleConfig | None = None,
) -> OffPolicyAgent:
    """SAM around ``base``: discriminator step (and forward-model step with PURPLE),
    relabelling, then ``base.update``. ``critic_net``: the base's critic (for
    ``q_jacobian_norm``); ``purple_config``: the forward model, ``None`` for no PURPLE."""
    learned = adversarial_reward(disc_config)  # params: the discriminator's variables
    n_expert = int(expert.obs.shape[0])
    if n_expert == 0:
        raise ValueError("SAM needs at least one expert transition")

    def init(key, hp: SAMHParams) -> SAMState:
        k_base, k_disc = jax.random.split(key)
        purple = None
        if purple_config is not None:
            # fold_in: base and D start as without PURPLE (paired on/off comparisons)
            purple = init_purple(jax.random.fold_in(key, 1), purple_config)
        disc = init_discriminator(k_disc, disc_config)
        if disc_config.spectral_norm:
            disc = disc.replace(batch_stats=set_spectral_norm(disc.batch_stats, hp.spectral_norm))
        return SAMState(base.init(k_base, hp.agent), disc, purple)

    def explore(state: SAMState, obs, key, hp: SAMHParams):
        return base.explore(state.base, obs, key, hp.agent)

    def act(state: SAMState, obs, key, deterministic: bool):
        return base.act(state.base, obs, key, deterministic)

    def update(state: SAMState, batch, key, hp: SAMHParams):
        k_exp, k_disc, k_base = jax.random.split(key, 3)
        idx = jax.random.randint(k_exp, (expert_batch_size,), 0, n_expert)
        expert_b = DiscBatch(expert.obs[idx], expert.action[idx])
        first = nstep.first_steps(batch)  # the sampled transitions (step 0 of a window)
        agent_b = DiscBatch(first.obs, first.action.astype(jnp.float32))
        disc, dm = train_adversarial_step(state.disc, expert_b, agent_b, k_disc, hp.disc)
        # relabel every replayed step ([B] or [B, n]) with the just-updated D
        relabel = lambda tr: learned.apply(disc.variables, (), replay_transition(tr, hp.gamma))[0]
        purple, psi_mean = state.purple, jnp.ones((), jnp.float32)
        if purple is not None:
            purple, relabel, psi_mean = purple_relabel(purple, first, relabel, hp.purple)
        batch = nstep.replace_rewards(batch, relabel)
        reward = nstep.first_steps(batch).reward
        base_state, metrics = base.update(state.base, batch, k_base, hp.agent)
        q_norm = q_jacobian_norm(critic_net, base_state.critic.params, first.obs, first.action)
        keep = (
            "loss",
            "accuracy",
            "grad_pen",
            "grad_norm_agent",
            "grad_norm_expert",
            "grad_norm_max",
            "reward_agent",
            "reward_expert",
        )
        metrics = {**metrics, **{f"d_{k}": dm[k] for k in keep}, "learned_reward": reward.mean()}
        metrics |= {"q_jacobian_norm": q_norm, "purple_scale": psi_mean}
        return SAMState(base_state, disc, purple), metrics

    return OffPolicyAgent(init=init, explore=explore, update=update, act=act)


def purple_relabel(purple: PurpleState, first, relabel, hp: PurpleHParams):
    """One forward-model step on the sampled transitions ``first`` ``[B]``, then the PURPLE
    relabelling ``tr -> ψ(s, a)·relabel(tr)`` (every step of a window) with σ from the running
    GP_f moments updated by the sampled transitions only (a window's later steps may be cut).

    Returns ``(purple', relabel', mean ψ over first)``.
    """
    purple, _ = train_forward_model_step(purple, first.obs, first.action, first.next_obs)
    net = purple.config.network()
    penalty = lambda tr: forward_penalty(net.apply, purple.params, tr.obs, tr.action, hp.f_targ)[0]
    moments = update_running_stats(purple.moments, penalty(first))
    psi = lambda tr: modulation(penalty(tr), moments, hp.psi_min)

    def relabel_purple(tr):
        r = relabel(tr)
        return r * psi(tr).astype(r.dtype)

    return purple.replace(moments=moments), relabel_purple, psi(first).mean()


def make_train(static: SAMStatic, env, demos, env_params=None) -> OffPolicyTrainer:
    """The SAM trainer: ``trainer(key, SAMHParams)`` or ``trainer.init``/``trainer.chunk``.

    ``demos``: expert samples with ``obs [N, obs_dim]`` and ``action [N, action_dim]`` (e.g. a
    :class:`jaxrl.experiment.demonstrations.Demonstrations`).
    """
    env_params = env.default_params if env_params is None else env_params
    static.check()
    # DAC: the indicator feature is added here, once; D and the base see obs_dim + 1 features
    env = prepare_env(env, static.absorbing, env_params)
    base_mod = td3 if static.base == "td3" else sac
    base_trainer = base_mod.make_train(static.base_static(), env, None, env_params)
    policy = base_trainer.policy
    if not policy.continuous:
        raise ValueError("SAM here needs continuous actions (the discriminator takes (s, a))")
    obs_dim = int(np.prod(env.observation_space(env_params).shape))
    expert = expert_arrays(demos, static.absorbing)
    if expert.obs.shape[-1] != obs_dim or expert.action.shape[-1] != policy.action_dim:
        raise ValueError(
            f"demonstrations have obs/action dims {expert.obs.shape[-1]}/{expert.action.shape[-1]},"
            f" the environment {obs_dim}/{policy.action_dim}"
        )
    # the base's critic network (TD3 and SAC build the same continuous twin critics)
    critic_net = Critic(tuple(static.hidden_sizes), static.activation, None, static.layer_norm)
    agent = wrap_agent(
        base_trainer.agent,
        static.disc_config(obs_dim, policy.action_dim),
        expert,
        static.expert_batch_size or static.batch_size,
        critic_net,
        static.purple_config(obs_dim, policy.action_dim),
    )
    return build_trainer(static, env, env_params, zero_reward(), policy, agent)
