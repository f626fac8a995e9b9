"""Your own potential on CartPole-v1: PPO over 16 seeds x 4 shaping coefficients in one jit call.
Run: python -m examples.custom_potential [--smoke]  (smoke: 2 seeds x 2 coefficients, 4k steps)"""

import sys

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt

from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.envs import make
from jaxrl.experiment.plotting import curve_panel, save_figure
from jaxrl.experiment.sweep import grid_keys, per_seed
from jaxrl.shaping import potential_based

SMOKE = "--smoke" in sys.argv
SEEDS, COEFS, STEPS = (2, (0.0, 1.0), 4096) if SMOKE else (16, (0.0, 1.0, 3.0, 10.0), 131_072)


def phi(obs):  # Φ(s) [*B] of obs [*B, 4]: 1 upright, 0 at the 12° limit (Φ(terminal) = 0 anyway)
    return 1.0 - jnp.abs(obs[..., 2]) / 0.2095


env, _ = make("CartPole-v1")
static = PPOStatic(total_timesteps=STEPS, num_chunks=2 if SMOKE else 16)
trainer = make_train(static, env, potential_based(phi, gamma=0.99))  # r + c·(γΦ(s') − Φ(s))
keys = grid_keys(0, SEEDS, len(COEFS))  # [C·S] coefficient-major: the same seeds for every c
hp = PPOHParams(transform=per_seed(COEFS, SEEDS, "float32")).broadcast(len(keys))  # c per run
_, metrics = jax.jit(jax.vmap(trainer))(keys, hp)  # all C·S runs in one jitted call

returns = metrics["eval_return"].reshape(len(COEFS), SEEDS, -1)  # [C, S, chunks]
fig, ax = plt.subplots(figsize=(5, 3.5))
curves = {f"c = {c:g}": r for c, r in zip(COEFS, returns, strict=True)}
stats = curve_panel(ax, metrics["eval_env_steps"][0], curves, "iqm", xlabel="env steps")
ax.legend(title=f"eval return: IQM of {SEEDS} seeds, 95% CI")
print("wrote", save_figure(fig, "results/examples/custom_potential.png"))
for label, (point, lo, hi) in stats.items():
    print(f"{label}: final IQM eval return {point[-1]:.1f} (95% CI {lo[-1]:.1f} to {hi[-1]:.1f})")
