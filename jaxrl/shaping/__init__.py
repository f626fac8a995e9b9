"""Reward shaping: the RewardTransform API and the shaping families built on it."""

from jaxrl.shaping.transform import (
    RewardTransform,
    Transition,
    chain,
    from_channel,
    identity,
    scale,
)

__all__ = ["RewardTransform", "Transition", "chain", "from_channel", "identity", "scale"]
