"""Library mutants: plausible bugs patched into ``jaxrl`` functions must make the theory-check
suite fail. This is the test of the tests: a check that still passes with the bug in place has
no teeth for that bug.

Each mutant replaces one library function (everywhere it is bound, so ``from x import f`` copies
are patched too; jit caches are cleared around it) and names the checks that must catch it (by a
substring of their names). The checks run with the suite's case counts and no shrinking, since
only the verdict matters here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import pytest

from theory_checks.__main__ import discover
from theory_checks.harness import run_check

CASES = None  # the default count: kill rates are judged on the same cases as the suite


@dataclass(frozen=True)
class Mutant:
    """``module.attr`` replaced by ``make(original)``; ``checks``: name substrings that catch it."""

    name: str
    module: str
    attr: str
    make: Callable
    checks: tuple[str, ...]


@contextlib.contextmanager
def patched(module: str, attr: str, make: Callable):
    """Replace ``module.attr`` in every loaded module that binds the same object."""
    original = getattr(sys.modules[module], attr)
    replacement = make(original)
    holders = [
        m
        for m in list(sys.modules.values())
        if m is not None and getattr(m, attr, None) is original
    ]
    for m in holders:
        setattr(m, attr, replacement)
    _clear_caches()
    try:
        yield
    finally:
        for m in holders:
            setattr(m, attr, original)
        _clear_caches()


def _clear_caches() -> None:
    """jit caches, and the ``functools.cache``-d helpers of the check modules (which may hold
    results computed with the unpatched library)."""
    jax.clear_caches()
    for name, module in list(sys.modules.items()):
        if name.startswith("theory_checks.") and module is not None:
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


# ----------------------------------------------------------------------------- the mutants
def _terminal_potential_kept(original):
    """Transitions whose discount ignores ``terminated``: Φ(terminal) is collected."""

    def table_transitions(R, gamma, terminal_mask=None, time=0):
        tr = original(R, gamma, terminal_mask, time)
        return tr._replace(discount=jnp.ones_like(tr.discount) * gamma)

    return table_transitions


def _transform_gamma(original):
    """PBRS whose F uses a fixed γ' = 0.5 instead of the learner's discount."""

    def potential_based(phi_fn, gamma=None, coefficient=1.0, allow_gamma_mismatch=False):
        return original(phi_fn, 0.5, coefficient, allow_gamma_mismatch=True)

    return potential_based


def _truncation_as_termination(original):
    """PBRS that drops γΦ(s') on truncated steps too (treats a time limit as a terminal)."""

    def potential_based(phi_fn, gamma=None, coefficient=1.0, allow_gamma_mismatch=False):
        t = original(phi_fn, gamma, coefficient, allow_gamma_mismatch)

        def apply(params, state, tr):
            cut = jnp.asarray(tr.truncated, tr.discount.dtype)
            return t.apply(params, state, tr._replace(discount=tr.discount * (1 - cut)))

        return t._replace(apply=apply)

    return potential_based


def _dynamic_wrong_time(original):
    """Dynamic PBRS reading the next potential at the current time: γΦ(s', t) − Φ(s, t)."""
    from jaxrl.shaping.potential import potential_shaping

    def dynamic_potential(phi_fn_t, gamma=None, coefficient=1.0):
        t = original(phi_fn_t, gamma, coefficient)

        def apply(params, state, tr):
            now = jnp.asarray(tr.time)
            F = potential_shaping(phi_fn_t(tr.obs, now), phi_fn_t(tr.next_obs, now), tr.discount)
            return tr.reward + params * F, state

        return t._replace(apply=apply)

    return dynamic_potential


def _negated(original):
    """The function's (pytree) output with its sign flipped."""
    return lambda *a, **k: jax.tree.map(jnp.negative, original(*a, **k))


def _neumann_without_step(original):
    """Neumann series ``Σ (I − H)^k v`` (α = 1 in both places)."""

    def neumann_inverse_vp(v, inner_grad_fn, theta_star, phi, K, alpha, *rest, **kw):
        return original(v, inner_grad_fn, theta_star, phi, K, 1.0, *rest, **kw)

    return neumann_inverse_vp


def _sqrt_kl(original):
    """√KL where √χ² is meant."""
    from jaxrl.regularizers.occupancy import kl

    return lambda mu, mu_ref, axis=None: jnp.sqrt(jnp.maximum(kl(mu, mu_ref, axis=axis), 0.0))


def _uncentred_par(original):
    """PAR without the reference: ``σ(k·r)``."""
    return lambda r, r_ref, k=1.0, link="sigmoid": original(r, jnp.zeros_like(r_ref), k, link)


def _clip_keeps_positive(original):
    """Clip that only shifts, ``r − η``, keeping positive rewards."""
    return lambda r, eta=0.0: jnp.asarray(r, jnp.result_type(float)) - eta


def _delta_off_by_one(original):
    """Delta whose episode-end flag lands one step early."""

    def delta_rewards(rewards, done=None, mask=None, keep_last=False):
        early = None if done is None else jnp.roll(jnp.asarray(done, bool), -1, axis=0)
        return original(rewards, early, mask, keep_last)

    return delta_rewards


def _open_gate(original):
    """A gate that lets every lower-priority channel through."""
    return lambda values, thresholds: jnp.ones_like(jnp.asarray(values))


def _occupancy_unnormalised(original):
    """Occupancy without the (1 − γ) factor."""

    def occupancy_measure(mdp, pi):
        mu = original(mdp, pi)
        return jnp.where(mdp.gamma < 1, mu / (1 - mdp.gamma), mu)

    return occupancy_measure


def _no_canonicalisation(original):
    """EPIC's canonicalisation replaced by the identity (Pearson on raw rewards)."""
    return lambda R, gamma, state_dist, action_dist: R


def _transposed_policy_transition(original):
    """``P_π`` built with the wrong contraction (``P[s', a, s]``)."""
    return lambda mdp, pi: jnp.einsum("sa,tas->st", pi, mdp.P)


def _loose_value_iteration(original):
    """Value iteration stopped at a loose tolerance (1e-3) whatever the caller asks."""
    return lambda mdp, tol=1e-12, max_iters=100_000: original(mdp, 1e-3, max_iters)


def _advice_sign(original):
    """Look-ahead advice with the potentials swapped: ``Φ(s, a) − discount·Φ(s', a')``."""
    return lambda phi_sa_tm1, phi_sa_t, discount_t: phi_sa_tm1 - discount_t * phi_sa_t


def _sarsa_bootstraps_on_s(original):
    """SARSA bootstrapping on the current state's value instead of the next state's."""

    def sarsa_update(q, s, a, r, discount, s_next, a_next, alpha):
        target = r + discount * q[s, a_next]
        return q.at[s, a].add(alpha * (target - q[s, a]))

    return sarsa_update


def _oprl_without_reference(original):
    """OPRL step rewards ``β log π_φ`` with the reference policy's log-probabilities dropped."""
    return lambda logits_phi, logits_ref, beta, paths: original(
        logits_phi, jnp.zeros_like(logits_ref), beta, paths
    )


_P, _S, _G = "jaxrl.shaping.potential", "jaxrl.mdp.solvers", "jaxrl.shaping.gating"
MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "Phi(terminal) not zeroed",
        _P,
        "table_transitions",
        _terminal_potential_kept,
        ("1.1 PBRS", "1.5 episodic"),
    ),
    Mutant(
        "transform gamma != learner gamma", _P, "potential_based", _transform_gamma, ("1.1 PBRS",)
    ),
    Mutant(
        "truncation treated as termination",
        _P,
        "potential_based",
        _truncation_as_termination,
        ("1.5 episodic",),
    ),
    Mutant(
        "dynamic potential read at the wrong time",
        _P,
        "dynamic_potential",
        _dynamic_wrong_time,
        ("1.3 dynamic",),
    ),
    Mutant(
        "look-ahead advice sign", _P, "lookahead_advice_reward", _advice_sign, ("4 look-ahead",)
    ),
    Mutant(
        "SARSA bootstraps on s",
        "jaxrl.agents.td_updates",
        "sarsa_update",
        _sarsa_bootstraps_on_s,
        ("4 look-ahead",),
    ),
    Mutant(
        "hypergradient sign flip",
        "jaxrl.bilevel.hypergradient",
        "ift_hypergradient",
        _negated,
        ("6 BARFI",),
    ),
    Mutant(
        "Neumann without the step size",
        "jaxrl.bilevel.hypergradient",
        "neumann_inverse_vp",
        _neumann_without_step,
        ("7 BARFI",),
    ),
    Mutant(
        "sqrt KL in place of sqrt chi2",
        "jaxrl.regularizers.occupancy",
        "sqrt_chi2",
        _sqrt_kl,
        ("12 correlated", "13 ORPO"),
    ),
    Mutant("uncentred PAR", "jaxrl.shaping.stream", "par_reward", _uncentred_par, ("17",)),
    Mutant(
        "clip keeps positive rewards",
        "jaxrl.shaping.prm",
        "clip_rewards",
        _clip_keeps_positive,
        ("16a",),
    ),
    Mutant(
        "off-by-one in delta", "jaxrl.shaping.prm", "delta_rewards", _delta_off_by_one, ("16b",)
    ),
    Mutant("gate lets low-priority rewards through", _G, "gate_weights", _open_gate, ("18",)),
    Mutant(
        "occupancy not normalised",
        _S,
        "occupancy_measure",
        _occupancy_unnormalised,
        ("0c occupancy",),
    ),
    Mutant(
        "EPIC without canonicalisation",
        "jaxrl.analysis.epic",
        "_canonicalize",
        _no_canonicalisation,
        ("14a", "14b"),
    ),
    Mutant("transposed P_pi", _S, "policy_transition", _transposed_policy_transition, ("0a",)),
    Mutant("value iteration stopped early", _S, "value_iteration", _loose_value_iteration, ("0b",)),
    Mutant(
        "OPRL step reward without the reference",
        "jaxrl.rewards.oprl",
        "implicit_step_rewards",
        _oprl_without_reference,
        ("19a",),
    ),
)


def test_at_least_fifteen_mutants():
    assert len(MUTANTS) >= 15, f"only {len(MUTANTS)} library mutants"


@pytest.mark.heavy
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_suite_catches_mutant(mutant: Mutant):
    checks = [c for c in discover() if any(k in c.name for k in mutant.checks)]
    assert checks, f"no check matches {mutant.checks}"
    # That the named checks pass without the mutant (on the same cases) is their own tests' job
    # (theory_checks/check_*.py run in the same suite); here only the mutant's verdict matters,
    # so stop at the first check that fails.
    with patched(mutant.module, mutant.attr, mutant.make):
        caught = any(
            not run_check(c, cases=CASES, shrink=False, verdict_only=True).passed for c in checks
        )
    assert caught, f"mutant {mutant.name!r} survives every check in {[c.name for c in checks]}"
