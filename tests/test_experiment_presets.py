"""Every experiment profile (quick and paper) must build valid agent configs before any training.

A paper profile is run rarely and on another machine; a config that only fails there (e.g.
``num_chunks`` not dividing the number of updates) costs a GPU session. Construction runs each
config's ``check``; nothing is trained or compiled here.
"""

import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(name):
    path = ROOT / "experiments" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_presets_mod", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_ppo_classic_profiles(profile):
    exp = load("ppo_classic")
    cfg = exp.PRESETS[profile]
    for env_id in cfg.envs:
        static, _, _ = exp.setup(env_id, cfg)
        assert static.num_updates % static.num_chunks == 0


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_orpo_tomato_profiles(profile):
    exp = load("orpo_tomato")
    cfg = exp.PRESETS[profile]
    exp.base_setup(cfg)
    for name in cfg.methods:
        static, orpo, coefs, lams = exp.orpo_setup(cfg, name)
        assert len(coefs) == len(lams) >= 1 and orpo.disc_epochs == cfg.disc_epochs


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_rlhf_shaping_profiles(profile):
    exp = load("rlhf_shaping")
    tasks = sys.modules["_rlhf_tasks"]  # the sibling module the script imports
    cfg = exp.PRESETS[profile]
    for task in exp.TASKS:
        static = tasks.ppo_static(cfg, task)
        assert static.num_updates % static.num_chunks == 0


def test_num_chunks_mismatch_is_caught():
    # the check these tests rely on: a profile whose chunks do not divide the updates fails
    exp = load("ppo_classic")
    bad = exp.PRESETS["quick"].replace(pendulum_steps=245_760)  # 120 updates, 16 chunks
    with pytest.raises(ValueError, match="num_chunks"):
        exp.setup("Pendulum-v1", bad)
