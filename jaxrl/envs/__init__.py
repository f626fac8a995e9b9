"""Environments with one contract (gymnax 1.0's): see :mod:`jaxrl.envs.core`.

env, params = jaxrl.envs.make("CartPole-v1")
obs, state = env.reset(key, params)
obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

``make`` validates params (call ``check_params(env, params)`` on params you build by hand).
Discrete actions out of range are clipped; ``with debug_actions():`` makes them an error.
"""

# Imported for their registration side effect, so every id works through ``make`` alone:
# "barfi_gridworld", "cartpole_aux", "mountaincar_sparse_aux", "halfcheetah_aux",
# "repeated_step", "rlhf_bandit", "preference_bandit", "key_door", "reasoning_chain".
from jaxrl.envs import (  # noqa: F401
    barfi_envs,
    key_door,
    preference_bandit,
    reasoning_chain,
    repeated_step,
    rlhf_bandit,
)
from jaxrl.envs.brax_adapter import BraxEnv, BraxEnvState, BraxParams, make_brax
from jaxrl.envs.checks import actions_checked, check_params, debug_actions
from jaxrl.envs.core import (
    REWARD_CHANNEL_SUFFIX,
    TRUE_REWARD,
    Env,
    Environment,
    reward_channels,
    terminated_wins,
)
from jaxrl.envs.deceptive_maze import make_deceptive_maze  # noqa: F401  (registers it)
from jaxrl.envs.gridworld import make_gridworld  # noqa: E402  (registers "gridworld")
from jaxrl.envs.gymnax_adapter import CLASSIC_CONTROL, GymnaxEnv, make_gymnax
from jaxrl.envs.registry import make, register, registered_names
from jaxrl.envs.tabular import TabularEnv, TabularEnvParams, TabularEnvState, make_tabular
from jaxrl.envs.tomato import TomatoEnv, make_tomato  # noqa: E402  (registers "tomato")
from jaxrl.envs.twenty_questions import make_twenty_questions  # noqa: F401, E402
from jaxrl.envs.wrappers import (
    AutoReset,
    EpisodeStatistics,
    EpisodeStatisticsState,
    RewardChannels,
    TimeLimit,
    TimeLimitState,
    Wrapper,
)

__all__ = [
    "CLASSIC_CONTROL",
    "REWARD_CHANNEL_SUFFIX",
    "TRUE_REWARD",
    "AutoReset",
    "BraxEnv",
    "BraxEnvState",
    "BraxParams",
    "Env",
    "Environment",
    "EpisodeStatistics",
    "EpisodeStatisticsState",
    "GymnaxEnv",
    "RewardChannels",
    "TabularEnv",
    "TabularEnvParams",
    "TabularEnvState",
    "TimeLimit",
    "TomatoEnv",
    "TimeLimitState",
    "Wrapper",
    "actions_checked",
    "check_params",
    "debug_actions",
    "make",
    "make_brax",
    "make_gridworld",
    "make_gymnax",
    "make_tabular",
    "make_tomato",
    "register",
    "registered_names",
    "reward_channels",
    "terminated_wins",
]
