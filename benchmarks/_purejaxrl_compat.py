"""Benchmark-only loader: PureJaxRL's own ``purejaxrl/ppo.py``, imported from a folder outside the
repository, on gymnax 1.0.

PureJaxRL is not on the package registry and its code is never part of this repository: point
``--purejaxrl-dir`` (or the ``PUREJAXRL_DIR`` environment variable) at a clone or an extracted
archive of ``luchris429/purejaxrl`` (the folder holding ``purejaxrl/ppo.py``, or that inner
``purejaxrl`` folder itself). Measured here at commit ``31756b1`` (2024-09-09).

Two adaptations, neither touching its algorithm:

* ``purejaxrl/wrappers.py`` imports ``navix`` (only for its navix wrapper): an empty ``navix``
  module is put in ``sys.modules`` first when the real one is not installed;
* ``ppo.py`` was written for the old gymnax 5-tuple ``step``: the ``gymnax`` name inside the loaded
  module is replaced by a namespace whose ``make`` wraps gymnax 1.0's environment in
  :class:`_rejax_compat.FiveTupleEnv` (``done = terminated | truncated``), as for rejax.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

ENV_VAR = "PUREJAXRL_DIR"
MODULE_NAME = "purejaxrl_ppo_peer"


def resolve_dir(given: str | os.PathLike | None) -> Path | None:
    """The folder holding PureJaxRL's ``ppo.py`` and ``wrappers.py``, from ``given`` or
    ``$PUREJAXRL_DIR``; ``None`` when neither is set. Raises ``SystemExit`` for a folder set but
    without ``ppo.py``."""
    raw = given if given is not None else os.environ.get(ENV_VAR) or None
    if raw is None:
        return None
    root = Path(raw).expanduser().resolve()
    for cand in (root / "purejaxrl", root):
        if (cand / "ppo.py").is_file() and (cand / "wrappers.py").is_file():
            return cand
    raise SystemExit(f"PureJaxRL folder {root} holds neither purejaxrl/ppo.py nor ppo.py")


def load_ppo(folder: Path) -> types.ModuleType:
    """Import PureJaxRL's ``ppo.py`` from ``folder`` (see the module docstring)."""
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    import gymnax
    from _rejax_compat import FiveTupleEnv

    if importlib.util.find_spec("navix") is None:
        sys.modules.setdefault("navix", types.ModuleType("navix"))
    sys.path.insert(0, str(folder))  # ppo.py does ``from wrappers import ...``
    spec = importlib.util.spec_from_file_location(MODULE_NAME, folder / "ppo.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = mod
    spec.loader.exec_module(mod)

    def make(env_id, **kwargs):
        env, env_params = gymnax.make(env_id, **kwargs)
        return FiveTupleEnv(env), env_params

    mod.gymnax = types.SimpleNamespace(make=make)
    return mod


def cartpole_config(total_timesteps: int) -> dict:
    """The ``__main__`` config of PureJaxRL's ``ppo.py`` (CartPole-v1), with ``TOTAL_TIMESTEPS``
    set to the benchmark's budget and ``DEBUG`` off (its debug callback prints every episode)."""
    return {
        "LR": 2.5e-4,
        "NUM_ENVS": 4,
        "NUM_STEPS": 128,
        "TOTAL_TIMESTEPS": int(total_timesteps),
        "UPDATE_EPOCHS": 4,
        "NUM_MINIBATCHES": 4,
        "GAMMA": 0.99,
        "GAE_LAMBDA": 0.95,
        "CLIP_EPS": 0.2,
        "ENT_COEF": 0.01,
        "VF_COEF": 0.5,
        "MAX_GRAD_NORM": 0.5,
        "ACTIVATION": "tanh",
        "ENV_NAME": "CartPole-v1",
        "ANNEAL_LR": True,
        "DEBUG": False,
    }


def build(num_seeds: int, total_timesteps: int, folder: Path):
    """``(jax.jit(jax.vmap(train)), (rngs,))``: ``train = make_train(config)``, as PureJaxRL's own
    ``ppo.py`` builds it, one ``jax.random.PRNGKey``-style key per seed."""
    import jax

    mod = load_ppo(folder)
    train = mod.make_train(cartpole_config(total_timesteps))
    rngs = jax.random.split(jax.random.PRNGKey(0), num_seeds)
    return jax.jit(jax.vmap(train)), (rngs,)
