"""Small flax.linen networks used by the agents (pure functions of a params pytree)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu}


def activation_fn(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


class MLP(nn.Module):
    """MLP with orthogonal init: ``[..., D_in] -> [..., out_dim]``.

    ``layer_norm``: ``Dense -> LayerNorm -> activation`` in every hidden layer (the SAM paper's
    actor and critic, Blondé & Kalousis 2019; Ba et al. 2016). Off, the params tree and outputs
    are exactly the plain MLP's; on, each hidden layer adds a ``LayerNorm_i`` (scale, bias).
    """

    hidden_sizes: Sequence[int]
    out_dim: int
    activation: str = "tanh"
    out_scale: float = 1.0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x):
        act = activation_fn(self.activation)
        for h in self.hidden_sizes:
            x = nn.Dense(h, kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = act(x)
        return nn.Dense(self.out_dim, kernel_init=nn.initializers.orthogonal(self.out_scale))(x)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs (PureJaxRL's layout).

    Returns ``(policy_out [..., A or D], log_std, value [...])``; for continuous actions the policy
    output is the Gaussian mean and ``log_std [D]`` a state-independent parameter (discrete: a
    scalar zero).
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
