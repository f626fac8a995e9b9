"""jaxrl: reward-shaping theory checks and jitted, vmapped RL agents in JAX."""

__version__ = "0.1.0"
