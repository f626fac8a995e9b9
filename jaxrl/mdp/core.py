"""The finite-MDP container and its (non-jittable) validator.

Conventions (shared by every solver in :mod:`jaxrl.mdp`):

* ``M = (S, A, P, R, γ, d0)`` with rewards on transitions ``R(s, a, s')`` and expected reward
  ``r(s, a) = Σ_{s'} P(s'|s, a) R(s, a, s')``.
* **Terminal states** (``terminal_mask[s] = True``) are absorbing (``P[s, a, s] = 1`` for every
  ``a``) and pay zero reward; their value is 0 for every policy. ``create`` / ``validate_mdp``
  *check* this (they do not silently rewrite ``P`` or ``R``), and the solvers additionally *mask*
  terminal rows (zero reward, zero continuation), so a terminal state has ``V = Q = 0`` even in
  an MDP that was built by hand without validation. Reaching a terminal state is an ordinary
  transition ``R(s, a, s_term)`` and may carry any reward (e.g. a goal bonus).
* ``γ = 1`` is allowed only with an absorbing terminal set reachable from every state (episodic
  tasks); policy evaluation at ``γ = 1`` is then well posed for *proper* policies (those that
  reach the terminal set with probability 1). Improper policies give a singular linear system.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = Any


@jax.jit
def _expected_reward(P: Array, R: Array, terminal_mask: Array) -> Array:
    # jitted so eager callers compile one kernel per shape instead of one per jnp op.
    r = jnp.sum(P * R, axis=-1)
    return jnp.where(terminal_mask[..., None], jnp.zeros_like(r), r)


def _is_concrete(*leaves: Any) -> bool:
    """Whether every leaf is a concrete value (no jax tracer: not under ``jit`` / ``vmap``)."""
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(leaves))


_FIELDS = ("P", "R", "gamma", "init_dist", "terminal_mask")


class TabularMDP:
    """A finite MDP as a pytree: vmap over a batch of them, pass them into ``jit``.

    Attributes:
      P: ``[S, A, S']`` transition probabilities ``P(s'|s, a)``; rows sum to 1.
      R: ``[S, A, S']`` transition rewards ``R(s, a, s')``.
      gamma: ``[]`` discount factor in ``[0, 1]`` (an array, so it can be vmapped/traced).
      init_dist: ``[S]`` initial state distribution ``d0``.
      terminal_mask: ``[S]`` bool, absorbing zero-reward terminal states (all False if none).
      validated: ``True`` only if :func:`validate_mdp` ran on these leaves and passed (not a
        pytree leaf).

    **Validation.** ``TabularMDP(P=..., ...)`` runs :func:`validate_mdp` by default when every
    leaf is concrete, and raises ``ValueError`` / ``TypeError`` on an invalid MDP. Pass
    ``validate=False`` to skip it deliberately; the object then records ``validated=False``.
    Leaves that are jax tracers (an MDP built inside ``jit`` / ``vmap``, e.g. by
    :func:`~jaxrl.mdp.random_mdp`) cannot be checked: the MDP is built with ``validated=False``.
    So are MDPs that come out of pytree operations (``jax.tree.map``, the outputs of ``jit`` /
    ``vmap``) and :meth:`replace` (unless ``replace(..., validate=True)``). The solvers check
    the invariants they depend on themselves at their Python boundary whenever their inputs are
    concrete (see :func:`check_mdp`), so an unvalidated MDP cannot silently give wrong numbers.

    A batch of MDPs (e.g. ``jax.vmap(random_mdp)(keys, ...)``) has a leading batch axis on every
    field; the properties below refer to the last axes so they work on batches too.
    """

    __slots__ = (*_FIELDS, "validated")
    __match_args__ = _FIELDS

    P: Array
    R: Array
    gamma: Array
    init_dist: Array
    terminal_mask: Array
    validated: bool

    def __init__(
        self,
        P: Array,
        R: Array,
        gamma: Array,
        init_dist: Array,
        terminal_mask: Array,
        *,
        validate: bool = True,
    ) -> None:
        for name, value in zip(_FIELDS, (P, R, gamma, init_dist, terminal_mask), strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "validated", False)
        if validate and _is_concrete(P, R, gamma, init_dist, terminal_mask):
            validate_mdp(self)
            object.__setattr__(self, "validated", True)

    def __setattr__(self, name, value):
        raise AttributeError(f"TabularMDP is immutable: use mdp.replace({name}=...)")

    def __repr__(self) -> str:
        shape = getattr(self.P, "shape", None)
        return f"TabularMDP(P.shape={shape}, gamma={self.gamma!r}, validated={self.validated})"

    def __reduce__(self):  # pickle / deepcopy without validating again
        return _rebuild, (*(getattr(self, f) for f in _FIELDS), self.validated)

    # ---- pytree protocol: unflattening never validates (leaves may be tracers or sentinels).
    def tree_flatten(self):
        return tuple(getattr(self, f) for f in _FIELDS), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        del aux
        obj = object.__new__(cls)
        for name, value in zip(_FIELDS, children, strict=True):
            object.__setattr__(obj, name, value)
        object.__setattr__(obj, "validated", False)
        return obj

    def replace(self, *, validate: bool = False, **updates: Array) -> TabularMDP:
        """A copy with some fields replaced; ``validated=False`` unless ``validate=True``."""
        unknown = sorted(set(updates) - set(_FIELDS))
        if unknown:
            raise TypeError(f"TabularMDP.replace: unknown field(s) {unknown}; fields: {_FIELDS}")
        fields = {f: updates.get(f, getattr(self, f)) for f in _FIELDS}
        return TabularMDP(**fields, validate=validate)

    @property
    def n_states(self) -> int:
        return self.P.shape[-3]

    @property
    def n_actions(self) -> int:
        return self.P.shape[-2]

    @property
    def expected_reward(self) -> Array:
        """``[S, A]`` ``r(s, a) = Σ_{s'} P R``, zero on terminal states (by convention)."""
        return _expected_reward(self.P, self.R, self.terminal_mask)

    @classmethod
    def create(
        cls,
        P: Array,
        R: Array,
        gamma: float | Array,
        init_dist: Array | None = None,
        terminal_mask: Array | None = None,
        validate: bool = True,
    ) -> TabularMDP:
        """Build an MDP from arrays; uniform ``init_dist`` and no terminals by default.

        Args:
          P: ``[S, A, S']`` transition probabilities.
          R: ``[S, A, S']`` rewards (or ``[S, A]``, broadcast over ``s'``).
          gamma: scalar discount.
          init_dist: ``[S]``; default uniform over the non-terminal states.
          terminal_mask: ``[S]`` bool; default all False.
          validate: run :func:`validate_mdp` (numpy, only when the arrays are concrete: under
            ``jit`` it is skipped). ``False`` is recorded as ``mdp.validated = False``.
        """
        _check_real("P", P)
        _check_real("R", R)
        P = jnp.asarray(P)
        if P.ndim < 3:
            raise ValueError(f"P must have shape [S, A, S'], got shape {P.shape}")
        if not jnp.issubdtype(P.dtype, jnp.floating):
            P = P.astype(jnp.result_type(float))
        dtype = P.dtype
        R = jnp.asarray(R, dtype=dtype)
        if R.ndim == P.ndim - 1:
            if R.shape != P.shape[:-1]:
                raise ValueError(
                    f"R has shape {R.shape}, expected [S, A] = {P.shape[:-1]} or the shape of P "
                    f"{P.shape}"
                )
            R = jnp.broadcast_to(R[..., None], P.shape)
        S = P.shape[-3]
        if terminal_mask is None:
            terminal_mask = jnp.zeros((S,), dtype=bool)
        terminal_mask = _as_mask(terminal_mask)
        if init_dist is None:
            live = (~terminal_mask).astype(dtype)
            # All-terminal MDPs (degenerate) fall back to uniform over every state.
            live = jnp.where(jnp.sum(live) > 0, live, jnp.ones_like(live))
            init_dist = live / jnp.sum(live)
        _check_real("init_dist", init_dist)
        _check_real("gamma", gamma)
        init_dist = jnp.asarray(init_dist, dtype=dtype)
        return cls(
            P=P,
            R=R,
            gamma=jnp.asarray(gamma, dtype=dtype),
            init_dist=init_dist,
            terminal_mask=terminal_mask,
            validate=validate,
        )


jax.tree_util.register_pytree_with_keys(
    TabularMDP,
    lambda m: (tuple((jax.tree_util.GetAttrKey(f), getattr(m, f)) for f in _FIELDS), None),
    TabularMDP.tree_unflatten,
    TabularMDP.tree_flatten,
)


def _rebuild(P, R, gamma, init_dist, terminal_mask, validated):
    obj = TabularMDP.tree_unflatten(None, (P, R, gamma, init_dist, terminal_mask))
    object.__setattr__(obj, "validated", validated)
    return obj


def _check_real(name: str, x: Any) -> None:
    """``TypeError`` unless ``x`` is (convertible to) a real numeric array (bool, int, float)."""
    if isinstance(x, jax.core.Tracer):
        dt = x.dtype
    else:
        try:
            dt = np.asarray(x).dtype
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be a real numeric array, got {type(x).__name__}") from e
    if not (np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer) or dt == np.bool_):
        if str(dt) != "bfloat16":
            raise TypeError(f"{name} has dtype {dt}; expected a real (float, int or bool) array")


def _as_mask(terminal_mask: Any) -> Array:
    """``terminal_mask`` as a bool array; refuses non-0/1 values instead of casting them."""
    _check_real("terminal_mask", terminal_mask)
    if _is_concrete(terminal_mask):
        m = np.asarray(terminal_mask)
        if m.dtype != bool and not np.isin(m, (0, 1)).all():
            bad = m[~np.isin(m, (0, 1))].ravel()[0].item()
            raise ValueError(f"terminal_mask has value {bad!r}; expected bool (or 0 / 1) entries")
    return jnp.asarray(terminal_mask, dtype=bool)


def _fmt(x: float) -> str:
    return f"{float(x):.6g}"


def _check_shapes(P, R, gamma, d0, term) -> None:
    """Shapes of one (unbatched) MDP: ``P, R [S, A, S]`` with S, A >= 1; ``d0, term [S]``."""
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ValueError(f"P must have shape [S, A, S] with S' == S, got shape {P.shape}")
    S, A, _ = P.shape
    if S < 1:
        raise ValueError(f"P has shape {P.shape}: an MDP needs at least 1 state (S = 0)")
    if A < 1:
        raise ValueError(f"P has shape {P.shape}: an MDP needs at least 1 action (A = 0)")
    if R.shape != P.shape:
        raise ValueError(f"R has shape {R.shape}, expected the shape of P {P.shape}")
    if d0.shape != (S,):
        raise ValueError(f"init_dist has shape {d0.shape}, expected ({S},) to match P {P.shape}")
    if term.shape != (S,):
        raise ValueError(
            f"terminal_mask has shape {term.shape}, expected ({S},) to match P {P.shape}"
        )
    if gamma.shape != ():
        raise ValueError(f"gamma must be a scalar, got shape {gamma.shape}")


def validate_mdp(mdp: TabularMDP, atol: float = 1e-6) -> None:
    """Raise ``ValueError`` naming the offending entry if ``mdp`` is malformed.

    Plain numpy on concrete arrays: NOT jittable (code inside ``jit`` simply skips it). A batch of
    MDPs (leading axes on every field) is validated member by member, with the member's index in
    the message. Checks, in order: shapes; finite, non-negative ``P`` with rows summing to 1;
    finite ``R``; ``γ ∈ [0, 1]``; ``init_dist`` a distribution; terminal states absorbing with
    zero reward; for ``γ = 1``, a terminal state reachable from every state.
    """
    P = np.asarray(mdp.P)
    batch = P.shape[:-3] if P.ndim > 3 else ()
    if batch:
        for idx in np.ndindex(batch):
            member = jax.tree.map(
                lambda x, idx=idx: (
                    np.asarray(x)[idx]
                    if np.ndim(x) >= len(batch) and np.shape(x)[: len(batch)] == batch
                    else np.asarray(x)
                ),
                mdp,
            )
            try:
                validate_mdp(member, atol=atol)
            except ValueError as e:
                raise ValueError(f"mdp[{', '.join(map(str, idx))}]: {e}") from None
        return
    R = np.asarray(mdp.R)
    gamma = np.asarray(mdp.gamma)
    d0 = np.asarray(mdp.init_dist)
    term = np.asarray(mdp.terminal_mask)
    _check_shapes(P, R, gamma, d0, term)
    for name, x in (("P", P), ("R", R), ("init_dist", d0)):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name} has dtype {x.dtype}; expected a float array")
    if not (np.issubdtype(gamma.dtype, np.floating) or np.issubdtype(gamma.dtype, np.integer)):
        raise TypeError(f"gamma has dtype {gamma.dtype}; expected a real number")
    if term.dtype != bool:
        raise TypeError(f"terminal_mask has dtype {term.dtype}; expected bool")
    atol = max(atol, 64 * float(np.finfo(P.dtype).eps))
    S, A, _ = P.shape

    # Transition probabilities.
    bad = np.argwhere(~np.isfinite(P))
    if bad.size:
        s, a, t = bad[0]
        raise ValueError(f"P[s={s}, a={a}, s'={t}] = {_fmt(P[s, a, t])} is not finite")
    bad = np.argwhere(P < 0)
    if bad.size:
        s, a, t = bad[0]
        raise ValueError(f"P[s={s}, a={a}, s'={t}] = {_fmt(P[s, a, t])} is negative")
    sums = P.sum(-1)
    bad = np.argwhere(np.abs(sums - 1) > atol)
    if bad.size:
        s, a = bad[0]
        raise ValueError(f"P[s={s}, a={a}, :] sums to {_fmt(sums[s, a])}, expected 1")

    # Rewards and discount.
    bad = np.argwhere(~np.isfinite(R))
    if bad.size:
        s, a, t = bad[0]
        raise ValueError(f"R[s={s}, a={a}, s'={t}] = {_fmt(R[s, a, t])} is not finite")
    if not (np.isfinite(gamma) and 0 <= gamma <= 1):
        raise ValueError(f"gamma = {_fmt(gamma)} is outside [0, 1]")

    # Initial distribution.
    bad = np.argwhere(~np.isfinite(d0) | (d0 < 0))
    if bad.size:
        (s,) = bad[0]
        raise ValueError(f"init_dist[s={s}] = {_fmt(d0[s])} is negative or not finite")
    if abs(d0.sum() - 1) > atol:
        raise ValueError(f"init_dist sums to {_fmt(d0.sum())}, expected 1")

    # Terminal states: absorbing, zero reward.
    for s in np.flatnonzero(term):
        for a in range(A):
            if abs(P[s, a, s] - 1) > atol:
                raise ValueError(
                    f"terminal state s={s} is not absorbing: "
                    f"P[s={s}, a={a}, s'={s}] = {_fmt(P[s, a, s])}, expected 1"
                )
            if abs(R[s, a, s]) > atol:
                raise ValueError(
                    f"terminal state s={s} has non-zero reward "
                    f"R[s={s}, a={a}, s'={s}] = {_fmt(R[s, a, s])}, expected 0"
                )

    # γ = 1 needs every state to reach the terminal set (else values of some policies diverge).
    if gamma == 1:
        reach = term.copy()
        adj = (P > 0).any(axis=1)  # [S, S'] some action moves s -> s'
        while True:
            new = reach | (adj & reach[None, :]).any(axis=1)
            if (new == reach).all():
                break
            reach = new
        if not reach.all():
            s = int(np.flatnonzero(~reach)[0])
            what = (
                "any terminal state"
                if term.any()
                else "a terminal state (terminal_mask is all False)"
            )
            raise ValueError(f"gamma = 1 but state s={s} cannot reach {what}")


def _reaches(adj: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``[S]`` bool: states with a path (in the ``[S, S']`` bool graph ``adj``) into ``target``."""
    reach = target.copy()
    while True:
        new = reach | (adj & reach[None, :]).any(axis=1)
        if (new == reach).all():
            return reach
        reach = new


def check_mdp(
    mdp: Any,
    fn: str,
    *,
    policy: Array | None = None,
    uses_init: bool = False,
    control: bool = False,
    gamma_one: bool = True,
) -> None:
    """The invariants a solver depends on, checked at its Python boundary (numpy, cheap).

    Skipped when any input is a jax tracer (inside ``jit`` / ``vmap`` nothing is checked: keep
    the solver cheap there). Always: shapes (``S, A >= 1``, ``R`` like ``P``, ``[S]`` vectors, a
    scalar ``γ``, ``policy [S, A]``). Unless ``mdp.validated``: ``P`` finite, non-negative, rows
    summing to 1 on non-terminal states; ``R`` finite there; ``γ ∈ [0, 1]``; ``init_dist`` a
    distribution (``uses_init``). At ``γ = 1``: some terminal state exists; for ``control``
    every state can reach one; for a ``policy``, every state reaches one under it (else
    ``I − γ P̃_π`` is singular: the policy is improper). ``gamma_one=False`` skips the ``γ = 1``
    checks (a sampler, e.g. :class:`~jaxrl.envs.tabular.TabularEnv`, needs no values).
    """
    if not all(hasattr(mdp, f) for f in _FIELDS):
        raise TypeError(f"{fn}: mdp must be a TabularMDP, got {type(mdp).__name__}")
    validated = getattr(mdp, "validated", False)
    if not _is_concrete(mdp, policy):
        return
    P = np.asarray(mdp.P)
    if P.ndim > 3:
        raise ValueError(
            f"{fn}: got a batch of MDPs (P shape {P.shape}); use jax.vmap({fn}) over the batch"
        )
    R, gamma = np.asarray(mdp.R), np.asarray(mdp.gamma)
    d0, term = np.asarray(mdp.init_dist), np.asarray(mdp.terminal_mask)
    try:
        _check_shapes(P, R, gamma, d0, term)
    except ValueError as e:
        raise ValueError(f"{fn}: {e}") from None
    S, A, _ = P.shape
    pi = None
    if policy is not None:
        pi = np.asarray(policy)
        if pi.shape != (S, A):
            raise ValueError(f"{fn}: policy has shape {pi.shape}, expected [S, A] = {(S, A)}")
    term = term.astype(bool)
    if not validated:
        if not np.issubdtype(P.dtype, np.floating):
            raise TypeError(f"{fn}: P has dtype {P.dtype}; expected a float array")
        live = ~term
        atol = max(1e-6, 64 * float(np.finfo(P.dtype).eps))
        Pl, Rl = P[live], R[live]
        s_live = np.flatnonzero(live)
        bad = np.argwhere(~np.isfinite(Pl) | (Pl < 0))
        if bad.size:
            i, a, t = bad[0]
            raise ValueError(
                f"{fn}: P[s={s_live[i]}, a={a}, s'={t}] = {_fmt(Pl[i, a, t])} is not a "
                "probability (negative or not finite)"
            )
        sums = Pl.sum(-1)
        bad = np.argwhere(np.abs(sums - 1) > atol)
        if bad.size:
            i, a = bad[0]
            raise ValueError(
                f"{fn}: P[s={s_live[i]}, a={a}, :] sums to {_fmt(sums[i, a])}, expected 1 "
                "(the MDP was not validated: build it with validate=True)"
            )
        bad = np.argwhere(~np.isfinite(Rl))
        if bad.size:
            i, a, t = bad[0]
            raise ValueError(
                f"{fn}: R[s={s_live[i]}, a={a}, s'={t}] = {_fmt(Rl[i, a, t])} is not finite"
            )
        if not (np.isfinite(gamma) and 0 <= gamma <= 1):
            raise ValueError(f"{fn}: gamma = {_fmt(gamma)} is outside [0, 1]")
        if uses_init:
            if (~np.isfinite(d0) | (d0 < 0)).any() or abs(d0.sum() - 1) > atol:
                raise ValueError(
                    f"{fn}: init_dist is not a distribution (sums to {_fmt(d0.sum())}, "
                    f"min {_fmt(d0.min())}); expected non-negative entries summing to 1"
                )
    if gamma != 1 or not gamma_one:
        return
    if not term.any():
        raise ValueError(
            f"{fn}: gamma = 1 but the MDP has no terminal state (terminal_mask is all False): "
            "values are undefined; use gamma < 1 or mark absorbing terminal states"
        )
    if control and not validated:
        ok = _reaches((P > 0).any(axis=1) & ~term[:, None], term)
        if not ok.all():
            s = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"{fn}: gamma = 1 but state s={s} cannot reach any terminal state")
    if pi is not None:
        adj = (np.einsum("sa,sat->st", (pi > 0).astype(np.float64), (P > 0)) > 0) & ~term[:, None]
        ok = _reaches(adj, term)
        if not ok.all():
            s = int(np.flatnonzero(~ok)[0])
            raise ValueError(
                f"{fn}: gamma = 1 and the policy is improper: from state s={s} it never reaches "
                "a terminal state, so I - P_pi (terminal rows dropped) is singular"
            )
