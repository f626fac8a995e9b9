"""Bad inputs to the environments (issue 13, item 3): params at ``make``, hand-built params, and
out-of-range or mis-shaped actions in debug mode (``jaxrl.envs.debug_actions``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bad_input.case import Case


def _make(name, **kwargs):
    from jaxrl import envs

    return lambda: envs.make(name, **kwargs)


def _replaced(name, **fields):
    """``check_params`` on params built by hand with ``params.replace(**fields)``."""

    def run():
        from jaxrl import envs

        env, params = envs.make(name)
        envs.check_params(env, params.replace(**fields))

    return run


def _debug_step(name, action, jit=False, **replace):
    """One ``step`` with ``action`` in debug mode (eager, or under ``jax.jit``)."""

    def run():
        from jaxrl import envs

        env, params = envs.make(name)
        params = params.replace(**replace) if replace else params
        _, state = env.reset(jax.random.key(0), params)
        step = jax.jit(env.step) if jit else env.step
        with envs.debug_actions():
            out = step(jax.random.key(1), state, jnp.asarray(action), params)
            jax.block_until_ready(out)

    return run


def _time_limit(max_steps):
    def run():
        from jaxrl import envs

        envs.TimeLimit(envs.make("tomato")[0], max_steps)

    return run


V, T = ValueError, TypeError
CASES: list[Case] = [
    # --- tomato params (silent before: eps=2.0, horizon=-5, level=True)
    Case(
        "env-tomato-eps-2",
        _make("tomato", random_action_eps=2.0),
        V,
        ("random_action_eps", "2.0", "[0, 1]"),
    ),
    Case("env-tomato-horizon-neg", _make("tomato", horizon=-5), V, ("horizon", "-5", ">= 1")),
    Case("env-tomato-level-bool", _make("tomato", level=True), T, ("level", "True", "bool")),
    Case("env-tomato-level-unknown", _make("tomato", level=7), V, ("tomato level", "7")),
    Case("env-tomato-horizon-str", _make("tomato", horizon="100"), T, ("horizon", "'100'")),
    Case("env-tomato-horizon-float", _make("tomato", horizon=2.5), T, ("horizon", "2.5")),
    Case("env-tomato-reward-fun", _make("tomato", reward_fun="gold"), V, ("reward_fun", "'gold'")),
    Case(
        "env-tomato-replaced-eps",
        _replaced("tomato", random_action_eps=-0.5),
        V,
        ("random_action_eps", "-0.5"),
    ),
    # --- out-of-range actions in debug mode (silent before: tomato 9, CartPole 7)
    Case("env-tomato-action-9-debug", _debug_step("tomato", 9), V, ("action 9", "0..3")),
    Case("env-tomato-action-neg-debug", _debug_step("tomato", -1), V, ("action -1", "0..3")),
    Case(
        "env-tomato-action-9-debug-jit",
        _debug_step("tomato", 9, jit=True),
        jax.errors.JaxRuntimeError,
        ("action 9", "0..3"),
    ),
    Case("env-cartpole-action-7-debug", _debug_step("CartPole-v1", 7), V, ("action 7", "0..1")),
    Case("env-gridworld-action-4-debug", _debug_step("gridworld", 4), V, ("action 4", "0..3")),
    Case(
        "env-repeated-step-action-3-debug", _debug_step("repeated_step", 3), V, ("action 3", "0..2")
    ),
    Case("env-barfi-action-5-debug", _debug_step("barfi_gridworld", 5), V, ("action 5", "0..3")),
    Case(
        "env-pendulum-action-shape-debug",
        _debug_step("Pendulum-v1", jnp.zeros(3)),
        V,
        ("shape (3,)", "(1,)"),
    ),
    Case(
        "env-tomato-action-batch-debug",
        _debug_step("tomato", jnp.zeros(2, jnp.int32)),
        V,
        ("shape (2,)", "Discrete(4)"),
    ),
    Case(
        "env-tomato-params-debug-step",
        _debug_step("tomato", 0, random_action_eps=2.0),
        V,
        ("random_action_eps", "2.0"),
    ),
    # --- names and keywords of make
    Case("env-unknown-name", _make("tomatoo"), V, ("'tomatoo'", "Did you mean", "'tomato'")),
    Case("env-name-not-str", _make(5), T, ("name", "5")),
    Case("env-unknown-brax", _make("brax/nope"), V, ("'nope'", "inverted_pendulum")),
    Case(
        "env-brax-episode-length",
        _make("brax/inverted_pendulum", episode_length=0),
        V,
        ("episode_length", "0"),
    ),
    Case("env-make-unknown-kwarg", _make("tomato", horizn=5), V, ("horizn", "horizon")),
    Case("env-gymnax-unknown-field", _make("CartPole-v1", gravty=9.0), V, ("gravty", "gravity")),
    Case(
        "env-gymnax-wrong-type",
        _make("CartPole-v1", max_steps_in_episode="500"),
        T,
        ("max_steps_in_episode", "'500'"),
    ),
    Case(
        "env-gymnax-replaced-horizon",
        _replaced("CartPole-v1", max_steps_in_episode=0),
        V,
        ("max_steps_in_episode", "0", ">= 1"),
    ),
    # --- gridworld, BARFI, repeated step, RLHF bandit
    Case("env-gridworld-slip", _make("gridworld", slip=1.5), V, ("slip", "1.5", "[0, 1]")),
    Case("env-gridworld-gamma", _make("gridworld", gamma=1.5), V, ("gamma", "1.5")),
    Case("env-gridworld-max-steps", _make("gridworld", max_steps=0), V, ("max_steps", "0")),
    Case(
        "env-gridworld-obs-type", _make("gridworld", obs_type="pixels"), V, ("obs_type", "'pixels'")
    ),
    Case(
        "env-barfi-random-prob",
        _make("barfi_gridworld", random_action_prob=-0.1),
        V,
        ("random_action_prob", "-0.1"),
    ),
    Case("env-barfi-horizon", _make("barfi_gridworld", horizon=0), V, ("horizon", "0")),
    Case("env-barfi-aux", _make("barfi_gridworld", aux="ugly"), V, ("aux", "'ugly'")),
    Case(
        "env-barfi-replaced-step-length",
        _replaced("barfi_gridworld", step_length=0.0),
        V,
        ("step_length", "0.0"),
    ),
    Case(
        "env-repeated-step-unknown-field",
        _make("repeated_step", max_step=5),
        V,
        ("max_step", "max_steps_in_episode"),
    ),
    Case(
        "env-repeated-step-n-required", _make("repeated_step", n_required=0), V, ("n_required", "0")
    ),
    Case(
        "env-repeated-step-noise", _make("repeated_step", prm_noise=-1.0), V, ("prm_noise", "-1.0")
    ),
    Case(
        "env-rlhf-num-responses", _make("rlhf_bandit", num_responses=0), V, ("num_responses", "0")
    ),
    Case(
        "env-rlhf-unknown-field",
        _make("rlhf_bandit", num_prompts=4),
        V,
        ("num_prompts", "num_contexts"),
    ),
    Case("env-rlhf-bt-beta", _make("rlhf_bandit", bt_beta=-1.0), V, ("bt_beta", "-1.0")),
    # --- wrappers
    Case("env-timelimit-negative", _time_limit(-3), V, ("max_steps", "-3")),
]
