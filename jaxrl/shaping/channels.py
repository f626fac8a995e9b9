"""Routing reward transforms: pick one of several branches per run, add a channel back in.

* :func:`select` runs every branch and returns the reward of the one chosen by a *traced* index,
  so ``vmap`` over the index sweeps different shaping families in one compiled program (e.g.
  vanilla, PAR and min-max side by side on the seed axis).
* :func:`add_channel` adds an ``info`` reward channel to the reward: shape one part of a reward
  (``from_channel("prm_reward")``, then PRM Clip) and put the other back unshaped
  (``add_channel("outcome_reward")``) in one :func:`~jaxrl.shaping.chain`.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxrl.shaping.transform import RewardTransform, Transition, _no_state


def select(*transforms: RewardTransform) -> RewardTransform:
    """One transform that runs every branch and returns branch ``params[0]``'s reward.

    ``params = (index, (branch params...))``; ``index`` is traced (an int32 scalar), so ``vmap``
    over it runs different transforms in one compiled program. Every branch's state is updated
    every step, whichever branch is selected; rewards are cast to float32.
    """

    def init(params):
        _, ps = params
        return tuple(t.init(p) for t, p in zip(transforms, ps, strict=True))

    def apply(params, state, tr: Transition):
        index, ps = params
        outs, states = [], []
        for t, p, s in zip(transforms, ps, state, strict=True):
            r, s = t.apply(p, s, tr)
            outs.append(jnp.asarray(r, jnp.float32))
            states.append(s)
        return jnp.stack(outs)[index], tuple(states)

    default = (jnp.zeros((), jnp.int32), tuple(t.default_params for t in transforms))
    return RewardTransform(init, apply, default)


def add_channel(name: str) -> RewardTransform:
    """``r + channels[name]`` (as float32), e.g. the outcome reward added back after shaping the
    PRM part of a reward."""

    if not isinstance(name, str):
        raise TypeError(f"add_channel: channel name must be a str, got {name!r}")

    def apply(params, state, tr: Transition):
        del params
        if name not in tr.channels:
            raise KeyError(
                f"add_channel: reward channel {name!r} not in the transition; "
                f"available: {sorted(tr.channels)}"
            )
        return tr.reward + jnp.asarray(tr.channels[name], jnp.float32), state

    return RewardTransform(_no_state, apply, ())
