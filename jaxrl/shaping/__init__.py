"""Reward shaping: the RewardTransform API and the shaping families built on it."""

from jaxrl.shaping.aux_reward import aux_shaping, aux_sum, pbrs_arrival, pbrs_aux
from jaxrl.shaping.baselines import naive_potential, progress_bonus
from jaxrl.shaping.channels import add_channel, select
from jaxrl.shaping.gating import (
    gated_channels,
    gated_reward_accumulation,
    multiplicative_penalties,
    weighted_channels,
)
from jaxrl.shaping.heuristics import (
    cartpole_upright,
    mountain_car_energy,
    mountain_car_height,
    pendulum_energy,
    pendulum_height,
)
from jaxrl.shaping.potential import (
    apply_to_table,
    biased_greedy,
    dynamic_potential,
    dynamic_shaped_rewards,
    lookahead_advice_fixed_point,
    lookahead_advice_reward,
    lookback_advice_reward,
    potential_based,
    potential_from_critic,
    potential_from_table,
    potential_shaping,
    shaped_reward_table,
    table_transitions,
    time_potential_from_table,
)
from jaxrl.shaping.prm import delta_rewards, prm_clip, prm_delta, returns_to_go
from jaxrl.shaping.stream import ceiling, centred, lsc, mean_std, min_max, mu_sigma_clip, par
from jaxrl.shaping.stream import sigmoid as uncentred_sigmoid
from jaxrl.shaping.transform import (
    RewardTransform,
    Transition,
    chain,
    check_gamma,
    from_channel,
    identity,
    scale,
)

__all__ = [
    "RewardTransform",
    "Transition",
    "add_channel",
    "aux_shaping",
    "aux_sum",
    "apply_to_table",
    "biased_greedy",
    "cartpole_upright",
    "ceiling",
    "centred",
    "chain",
    "check_gamma",
    "delta_rewards",
    "dynamic_potential",
    "dynamic_shaped_rewards",
    "from_channel",
    "gated_channels",
    "gated_reward_accumulation",
    "identity",
    "lookahead_advice_fixed_point",
    "lookahead_advice_reward",
    "lookback_advice_reward",
    "lsc",
    "mean_std",
    "min_max",
    "mountain_car_energy",
    "mountain_car_height",
    "mu_sigma_clip",
    "multiplicative_penalties",
    "naive_potential",
    "par",
    "pbrs_arrival",
    "pbrs_aux",
    "pendulum_energy",
    "pendulum_height",
    "potential_based",
    "potential_from_critic",
    "potential_from_table",
    "potential_shaping",
    "prm_clip",
    "prm_delta",
    "progress_bonus",
    "returns_to_go",
    "scale",
    "select",
    "shaped_reward_table",
    "table_transitions",
    "time_potential_from_table",
    "uncentred_sigmoid",
    "weighted_channels",
]
