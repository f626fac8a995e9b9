"""VPL: personalised RLHF by variational preference learning, against a unimodal BT model.

**System** (Poddar et al. 2024, "Personalizing RLHF with Variational Preference Learning"):
RLHF that fits one reward model averages over users whose preferences differ, and serves
subgroups poorly. VPL infers a user-specific latent ``z`` from a few of the user's labelled
pairs and learns a reward ``r(x, z)`` and a policy ``π(a | s, z)`` conditioned on it
(:mod:`jaxrl.rewards.vpl`: a mean-pooled pair encoder, a Gaussian posterior, the ELBO).

**Small-scale form.** The multi-user testbed (:mod:`jaxrl.envs.preference_testbed`; default: 2
user types, 70% value quality, 30% harmlessness). ``train_users`` annotators, each of a type drawn
by population fraction, label ``context_pairs + target_pairs`` pairs from π_ref (with
``flip_rate`` label noise). VPL trains on them by the ELBO; the baseline is a unimodal BT RM
(:func:`jaxrl.rewards.preference.train_bt_reward_model`) on the same pooled pairs. At inference
a new user of each type answers ``context_pairs`` (≤ 8) queries; its ``z_u`` (posterior mean)
gives the reward table ``T[u] = r(features, z_u)`` and the bandit's ``context[u] = z_u`` (so
the policy is ``π(a | p, z)``); PPO learns from ``T`` through ``bandit_table_reward``. Kept: the
latent-variable BT model, ELBO with the reparameterisation trick, few-shot inference of z, a
z-conditioned reward and policy. Dropped: language models, the paper's reward scaling and
active query selection.

**Measured per user type** (``eval_users`` fresh users of each type, held-out π_ref pairs with
gold labels): RM accuracy against that user's gold ordering, and the policy's normalised gold
utility ``(J_u − J_ref,u)/(J_opt,u − J_ref,u)`` (exact, from the final policy's logits).

**Claim** (issue 18): with two or more user types a unimodal BT model averages them and fails the
minority type, while VPL recovers each type's gold utility from ≤ 8 queries.
**Verdict rules** (IQM over seeds with 95% bootstrap CIs; :func:`ci_greater`):

* (acc) VPL's minority-type RM accuracy CI lies above BT's (point above only: partial);
* (gold) VPL's minority-type normalised gold CI lies above BT's (point above only: partial);
* (each) VPL's normalised gold CI lower limit ≥ ``RECOVER`` for every type (some: partial).
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from experiments.preference_rms.common import bandit_static, normalise_on_reference
from jaxrl.agents.normalizer import normalize
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams
from jaxrl.envs.preference_bandit import PreferenceBandit
from jaxrl.envs.preference_testbed import (
    PreferenceTestbedConfig,
    build_preference_testbed,
    expected_gold,
    sample_pairs,
)
from jaxrl.experiment.claims import (
    Check,
    Claim,
    ci_bound,
    ci_greater,
    claims_caption,
    combine,
    estimate,
)
from jaxrl.experiment.sweep import run_sweep
from jaxrl.rewards.preference import RewardMLP, preference_pairs, train_bt_reward_model
from jaxrl.rewards.reward_model import bandit_table_reward
from jaxrl.rewards.vpl import VPLModel, encode_mean, latent_reward, train_vpl, user_pairs

EXPERIMENT = "preference_rms"
CITATION = "VPL (Poddar et al. 2024, Personalizing RLHF with Variational Preference Learning)"
RECOVER = 0.8


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    testbed_seed: int = 0
    """seed of the testbed's tables (default config: 2 user types, 70/30)"""
    train_users: int = 256
    """annotators in the training set (types drawn by population fraction)"""
    context_pairs: int = 8
    """queries the encoder sees per user (training and inference), <= 8 per the claim"""
    target_pairs: int = 16
    """further pairs per training user whose likelihood the ELBO scores"""
    flip_rate: float = 0.1
    """label-flip probability of every annotator"""
    latent_dim: int = 4
    """dimension of z"""
    kl_weight: float = 0.01
    """β, the ELBO's KL weight"""
    rm_steps: int = 1000
    """AdamW steps of each reward model (VPL and BT)"""
    rm_learning_rate: float = 3e-3
    """AdamW step size of each reward model"""
    users_per_batch: int = 64
    """training users per VPL step (a fresh context/target split of each one every step)"""
    eval_users: int = 32
    """fresh users per type for the accuracy (each with its own context queries)"""
    eval_pairs: int = 64
    """held-out gold-labelled pairs per evaluation user"""
    ppo_steps: int = 32768
    """PPO environment steps per run"""

    def check(self) -> None:
        for f in ("train_users", "target_pairs", "latent_dim", "rm_steps", "eval_users"):
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(1 <= self.context_pairs <= 8, "context_pairs", "must be in [1, 8]")
        self.require(self.eval_pairs >= 1, "eval_pairs", "must be >= 1")
        self.require(self.ppo_steps >= 512, "ppo_steps", "must be >= 512 (one PPO update x 2)")
        self.require(0.0 <= self.flip_rate < 0.5, "flip_rate", "must be in [0, 0.5)")
        self.require(self.kl_weight >= 0.0, "kl_weight", "must be >= 0")
        self.require(self.rm_learning_rate > 0.0, "rm_learning_rate", "must be > 0")
        self.require(self.testbed_seed >= 0, "testbed_seed", "must be >= 0")


QUICK = Settings()
PAPER = Settings(train_users=512, rm_steps=3000, eval_users=64, ppo_steps=65536)


def _users_of(key, tb, types, n_pairs, flip_rate):
    """Pairs of users with the given types ``[B]``: :class:`UserPairs` ``[B, n_pairs, ·]`` and
    gold utilities ``[B, n_pairs]`` of a and b. One draw per type, selected by each user's type."""
    B, U = types.shape[0], tb.shape[0]
    per_type = [
        sample_pairs(k, tb, B * n_pairs, user=u, flip_rate=flip_rate)
        for u, k in enumerate(jax.random.split(key, U))
    ]
    pick = lambda f: sum(
        jnp.where((types == u).reshape((B,) + (1,) * (getattr(pt, f).ndim)), 1, 0)
        * getattr(pt, f).reshape(B, n_pairs, *getattr(pt, f).shape[1:])
        for u, pt in enumerate(per_type)
    )
    up = user_pairs(pick("x_a"), pick("x_b"), pick("label"))
    return up, pick("gold_a"), pick("gold_b")


def _split(up, n):
    take = lambda s: type(up)(*(a[:, s] for a in up))
    return take(slice(0, n)), take(slice(n, None))


def _fit_rms(key, tb, s: Settings, model: VPLModel):
    """One seed: data, VPL and BT fits, per-type accuracies ``[U]`` and reward tables ``[U,P,K]``
    plus VPL's contexts ``z [U, Z]``."""
    U, P, K = tb.shape
    k_types, k_train, k_vpl, k_bt, k_eval = jax.random.split(key, 5)
    types = jax.random.categorical(k_types, jnp.log(tb.user_fractions), shape=(s.train_users,))
    pairs, _, _ = _users_of(k_train, tb, types, s.context_pairs + s.target_pairs, s.flip_rate)
    fit = train_vpl(
        k_vpl,
        model,
        pairs,
        s.context_pairs,
        s.rm_steps,
        s.rm_learning_rate,
        s.kl_weight,
        users_per_batch=s.users_per_batch,
    )
    flat = lambda a: a.reshape(-1, *a.shape[2:])
    bt_data = preference_pairs(flat(pairs.x_a), flat(pairs.x_b), flat(pairs.label) > 0.5)
    bt = train_bt_reward_model(k_bt, bt_data, steps=s.rm_steps, learning_rate=s.rm_learning_rate)
    bt_model = RewardMLP((64, 64))
    # evaluation users: eval_users per type, context queries then gold-labelled held-out pairs
    etypes = jnp.repeat(jnp.arange(U), s.eval_users)
    ev, g_a, g_b = _users_of(k_eval, tb, etypes, s.context_pairs + s.eval_pairs, s.flip_rate)
    ectx, eheld = _split(ev, s.context_pairs)
    g = (g_a - g_b)[:, s.context_pairs :]
    z = encode_mean(fit.params, model, ectx)  # [U * eval_users, Z]
    d_vpl = latent_reward(fit.params, model, eheld.x_a, z[:, None]) - latent_reward(
        fit.params, model, eheld.x_b, z[:, None]
    )
    d_bt = bt_model.apply(bt.params, eheld.x_a) - bt_model.apply(bt.params, eheld.x_b)

    def acc(d):  # per type, over pairs whose gold utilities differ
        ok = ((jnp.sign(d) == jnp.sign(g)) & (g != 0)).reshape(U, -1).sum(1)
        return ok / jnp.maximum((g != 0).reshape(U, -1).sum(1), 1)

    z_u = z.reshape(U, s.eval_users, -1)[:, 0]  # the first evaluation user of each type
    t_vpl = jax.vmap(lambda zu: latent_reward(fit.params, model, tb.features, zu))(z_u)
    t_bt = jnp.broadcast_to(bt_model.apply(bt.params, tb.features), (U, P, K))
    return {
        "acc_vpl": acc(d_vpl),
        "acc_bt": acc(d_bt),
        "table_vpl": normalise_on_reference(t_vpl, tb),
        "table_bt": normalise_on_reference(t_bt, tb),
        "z": z_u,
        "kl": fit.kls[-1],
    }


def _ppo(tb, tables, contexts, key, steps):
    """PPO on the bandit, one run per ``tables [n, U, P, K]`` with the bandit's ``context`` param
    ``contexts [n, U, Z]`` (per run, so the policy sees each run's own z); one vmapped program.
    Returns each run's exact gold utility per user type ``[n, U]``."""
    U, P, K = tb.shape
    n, Zd = contexts.shape[0], contexts.shape[-1]
    env = PreferenceBandit(tb, context_dim=Zd)
    static = bandit_static(steps, num_chunks=1)
    tr = bandit_table_reward(P, U)

    def trainer(ctx):
        return make_train(static, env, tr, env.default_params.replace(context=ctx))

    base = trainer(jnp.zeros((U, Zd)))
    hp = base.check(PPOHParams(learning_rate=5e-3, gamma=0.99, ent_coef=0.01))
    hp = hp.broadcast(n)._replace(transform=jnp.asarray(tables, jnp.float32))
    init = lambda k, h: trainer(h[1]).init(k, h[0])
    chunk = lambda st, h: trainer(h[1]).chunk(st, h[0])
    keys = jax.random.key_data(jax.random.split(key, n))
    _, state = run_sweep(
        None, None, (init, chunk), keys, (hp, contexts), num_chunks=1, progress=False,
        return_state=True,
    )  # fmt: skip

    def gold(params, stats, ctx):  # exact per-type gold of the final policy
        obs = jnp.concatenate(
            [
                jnp.broadcast_to(jnp.eye(P)[None], (U, P, P)),
                jnp.broadcast_to(jnp.eye(U)[:, None], (U, P, U)),
                jnp.broadcast_to(ctx[:, None], (U, P, Zd)),
            ],
            -1,
        )
        logits = base.network.apply(params, normalize(stats, obs, static.normalize_obs))[0]
        return expected_gold(tb, logits)  # [U]

    ts = state.train_state
    return np.asarray(jax.vmap(gold)(ts.params, state.obs_stats, contexts))


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """All seeds' RMs (vmapped), then 2 x seeds PPO runs (VPL, BT) in one vmapped program."""
    settings.check()
    tb = build_preference_testbed(PreferenceTestbedConfig(seed=settings.testbed_seed))
    U, P, K = tb.shape
    model = VPLModel(settings.latent_dim, (64, 64))
    keys = jax.random.split(jax.random.key(seed), seeds + 1)
    rms = jax.jit(jax.vmap(lambda k: _fit_rms(k, tb, settings, model)))(keys[:seeds])
    tables = jnp.concatenate([rms["table_vpl"], rms["table_bt"]])
    ctxs = jnp.concatenate([rms["z"], jnp.zeros_like(rms["z"])])
    j = _ppo(tb, tables, ctxs, keys[seeds], settings.ppo_steps)  # [2 seeds, U]
    j_ref = np.asarray(expected_gold(tb, tb.ref_logits))
    j_opt = np.asarray(jnp.mean(jnp.max(tb.gold, -1), -1))
    norm = (j - j_ref) / (j_opt - j_ref)
    fr = np.asarray(tb.user_fractions)
    col = lambda a: [[float(v) for v in a[:, u]] for u in range(U)]  # [U][seeds]
    return {
        "user_fractions": fr.tolist(),
        "minority": int(np.argmin(fr)),
        "acc_vpl": col(np.asarray(rms["acc_vpl"])),
        "acc_bt": col(np.asarray(rms["acc_bt"])),
        "gold_vpl": col(norm[:seeds]),
        "gold_bt": col(norm[seeds:]),
        "final_kl": [float(v) for v in np.asarray(rms["kl"])],
        "context_pairs": settings.context_pairs,
    }


def _claim(tag, statement, q, rule, check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.vpl.{tag}", EXPERIMENT, CITATION, statement, q, rule, check
    )


def claims(summary: dict) -> list[Claim]:
    """(acc), (gold), (each) as declared in the module docstring."""
    need = ("acc_vpl", "acc_bt", "gold_vpl", "gold_bt", "minority")
    n_q = summary.get("context_pairs", "<= 8")
    statements = {
        "acc": "A unimodal BT RM fails the minority type's preferences; VPL's few-shot z "
        "recovers them.",
        "gold": "PPO on VPL's z-conditioned reward serves the minority type better than on BT's.",
        "each": f"VPL recovers every type's gold utility from {n_q} queries.",
    }
    rules = {
        "acc": "CI of VPL's minority-type accuracy above BT's",
        "gold": "CI of VPL's minority-type normalised gold above BT's",
        "each": f"CI lower limit of VPL's normalised gold >= {RECOVER} for every type",
    }
    missing = [k for k in need if k not in summary]
    if missing:
        nt = Check("not testable", "summary lacks " + ", ".join(missing))
        return [_claim(t, statements[t], {}, rules[t], nt) for t in statements]
    m = summary["minority"]
    e = {k: [estimate(v) for v in summary[k]] for k in need[:4]}
    out = []
    for tag, metric, name in (("acc", "acc", "accuracy"), ("gold", "gold", "norm. gold")):
        v, b = e[f"{metric}_vpl"][m], e[f"{metric}_bt"][m]
        q = {f"{name} VPL (minority)": v, f"{name} BT (minority)": b}
        out.append(_claim(tag, statements[tag], q, rules[tag], ci_greater("VPL", v, "BT", b)))
    each = {
        f"type {u}": ci_bound(f"VPL norm. gold type {u}", x, "lo", ">=", RECOVER)
        for u, x in enumerate(e["gold_vpl"])
    }
    qe = {f"norm. gold VPL type {u}": x for u, x in enumerate(e["gold_vpl"])}
    out.append(_claim("each", statements["each"], qe, rules["each"], combine(each)))
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Per-type accuracy and normalised gold (IQM, 95% CI) for VPL and BT."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    U = len(summary["acc_vpl"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    lines = []
    for ax, metric, label in ((axes[0], "acc", "RM accuracy vs user's gold"),
                              (axes[1], "gold", "normalised gold utility")):  # fmt: skip
        for i, (name, c) in enumerate((("VPL", "C0"), ("BT", "C1"))):
            ests = [estimate(v) for v in summary[f"{metric}_{name.lower()}"]]
            x = np.arange(U) + (i - 0.5) * 0.35
            y = [e.point for e in ests]
            err = [[e.point - e.lo for e in ests], [e.hi - e.point for e in ests]]
            ax.bar(x, y, 0.35, yerr=err, color=c, label=name, capsize=3)
            lines += [f"{name} {label} type {u}: {e.fmt()}" for u, e in enumerate(ests)]
        ax.set_xticks(
            range(U), [f"type {u} ({f:.0%})" for u, f in enumerate(summary["user_fractions"])]
        )
        ax.set_ylabel(label)
        ax.legend()
    n = len(summary["acc_vpl"][0])
    caption = f"IQM over {n} seeds, 95% CI.\n" + "\n".join(lines) + "\n" + claims_caption(cl)
    fig.text(0.01, -0.02, caption, fontsize=6, va="top", wrap=True)
    path = out / "preference_rms_vpl.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
