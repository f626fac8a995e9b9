"""Small flax.linen networks used by the agents (pure functions of a params pytree)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu}


def activation_fn(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


class _Draw(NamedTuple):
    """An orthogonal kernel whose draw :func:`init_params` deferred (``placeholder`` stands in)."""

    placeholder: Any
    key: Any
    shape: tuple[int, ...]
    dtype: Any
    scale: float


_DEFERRED: list[list[_Draw]] = []  # one list per active init_params (innermost last)


def orthogonal(scale: float = 1.0):
    """``jax.nn.initializers.orthogonal(scale)``; inside :func:`init_params` the draw is deferred
    and batched with the network's other kernels (same values)."""
    base = nn.initializers.orthogonal(scale)

    def init(key, shape, dtype=jnp.float32):
        if _DEFERRED and len(shape) == 2 and all(shape):
            placeholder = jnp.zeros(shape, dtype)
            _DEFERRED[-1].append(_Draw(placeholder, key, tuple(shape), dtype, scale))
            return placeholder
        return base(key, shape, dtype)

    return init


def _orthogonal_batch(draws: list[_Draw]) -> list[jnp.ndarray]:
    """The kernels ``jax.nn.initializers.orthogonal(scale)(key, shape, dtype)`` of ``draws``,
    bit for bit, with one normal sampler for all of them and one QR per distinct shape.

    Mirrors ``jax.random.orthogonal``: ``z ~ N(0, 1)`` of shape ``(max(n, m), min(n, m))``,
    ``q, r = qr(z)``, ``q * sign(diag r)``, transposed when ``n < m``, times ``scale``. Threefry
    bits depend only on (key, flat index), so the first ``size`` draws of a longer vector are the
    draws of any shape with ``size`` elements. ``tests/test_ppo.py`` checks the equality.

    The QRs run one after another (an optimisation barrier orders them): jaxlib 0.10 deadlocks
    when as many batched LAPACK calls run concurrently as XLA's CPU pool has threads (see
    ``conftest.py``), which independent per-layer initialisers under ``vmap`` do.
    """
    dims = []
    for d in draws:
        n, m = math.prod(d.shape) // d.shape[-1], d.shape[-1]
        dims.append((n, m, (max(n, m), min(n, m))))
    out: list[Any] = [None] * len(draws)
    previous = None
    for dtype in dict.fromkeys(np.dtype(d.dtype) for d in draws):
        idx = [i for i, d in enumerate(draws) if np.dtype(d.dtype) == dtype]
        size = max(math.prod(dims[i][2]) for i in idx)
        keys = jnp.stack([draws[i].key for i in idx])
        z = jax.vmap(lambda k, size=size, dtype=dtype: jax.random.normal(k, (size,), dtype))(keys)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for row, i in enumerate(idx):
            by_shape.setdefault(dims[i][2], []).append(row)
        for zshape, rows in by_shape.items():
            zs = jnp.stack([z[r, : math.prod(zshape)].reshape(zshape) for r in rows])
            if previous is not None:  # one QR at a time (see the docstring)
                zs, _ = jax.lax.optimization_barrier((zs, previous))
            q, r = jnp.linalg.qr(zs)
            previous = q
            q = q * jnp.expand_dims(jnp.sign(jnp.linalg.diagonal(r)), -2)
            for j, row in enumerate(rows):
                i = idx[row]
                n, m, _ = dims[i]
                x = q[j].T if n < m else q[j]
                x = jnp.reshape(x, draws[i].shape)
                out[i] = jnp.array(draws[i].scale, dtype) * x
    return out


def init_params(module: nn.Module, key, *args, **kwargs):
    """``module.init(key, *args, **kwargs)``, bit for bit. On CPU every :func:`orthogonal` kernel
    is drawn in one batch (:func:`_orthogonal_batch`): far fewer XLA kernels to compile (one
    normal sampler instead of one per layer, which is most of what compiling a small network's
    init costs) and no concurrent batched QRs. Elsewhere it is ``module.init`` itself."""
    return jax.lax.platform_dependent(
        key,
        *args,
        cpu=lambda key, *args: _init_batched(module, key, *args, **kwargs),
        default=lambda key, *args: module.init(key, *args, **kwargs),
    )


def _init_batched(module: nn.Module, key, *args, **kwargs):
    draws: list[_Draw] = []
    _DEFERRED.append(draws)
    try:
        variables = module.init(key, *args, **kwargs)
    finally:
        _DEFERRED.pop()
    if not draws:
        return variables
    values = {id(d.placeholder): v for d, v in zip(draws, _orthogonal_batch(draws), strict=True)}
    swapped = []

    def swap(x):
        v = values.get(id(x))
        if v is None:
            return x
        swapped.append(id(x))
        return v

    variables = jax.tree.map(swap, variables)
    if sorted(swapped) != sorted(values):
        raise RuntimeError("init_params: a deferred kernel did not reach the variables")
    return variables


class MLP(nn.Module):
    """MLP with orthogonal init: ``[..., D_in] -> [..., out_dim]``."""

    hidden_sizes: Sequence[int]
    out_dim: int
    activation: str = "tanh"
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, x):
        act = activation_fn(self.activation)
        for h in self.hidden_sizes:
            x = act(nn.Dense(h, kernel_init=orthogonal(np.sqrt(2)))(x))
        return nn.Dense(self.out_dim, kernel_init=orthogonal(self.out_scale))(x)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs (PureJaxRL's layout).

    Returns ``(policy_out [..., A or D], value [...])``; for continuous actions the policy output is
    the Gaussian mean, and a state-independent ``log_std [D]`` parameter is returned as well.
    """

    action_dim: int
    continuous: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs):
        policy_out = MLP(self.hidden_sizes, self.action_dim, self.activation, 0.01)(obs)
        value = MLP(self.hidden_sizes, 1, self.activation, 1.0)(obs)[..., 0]
        if self.continuous:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        else:
            log_std = jnp.zeros(())
        return policy_out, log_std, value
