"""Every experiment profile (quick and paper) must build valid agent configs before any training.

A paper profile is run rarely and on another machine; a config that only fails there (e.g.
``num_chunks`` not dividing the number of updates) costs a GPU session. Construction runs each
config's ``check``; nothing is trained or compiled here.
"""

import importlib

import pytest
from experiment_helpers import experiment


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_ppo_classic_profiles(profile):
    exp = experiment("ppo_classic")
    cfg = exp.PRESETS[profile]
    for env_id in cfg.envs:
        static, _, _ = exp.setup(env_id, cfg)
        assert static.num_updates % static.num_chunks == 0


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_orpo_tomato_profiles(profile):
    exp = experiment("orpo_tomato")
    cfg = exp.PRESETS[profile]
    exp.base_setup(cfg)
    for name in cfg.methods:
        static, orpo, coefs, lams = exp.orpo_setup(cfg, name)
        assert len(coefs) == len(lams) >= 1 and orpo.disc_epochs == cfg.disc_epochs


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_rlhf_shaping_profiles(profile):
    exp = experiment("rlhf_shaping")
    tasks = importlib.import_module("experiments.rlhf_shaping.tasks")
    cfg = exp.PRESETS[profile]
    for task in exp.TASKS:
        static = tasks.ppo_static(cfg, task)
        assert static.num_updates % static.num_chunks == 0


def test_num_chunks_mismatch_is_caught():
    # the check these tests rely on: a profile whose chunks do not divide the updates fails
    exp = experiment("ppo_classic")
    bad = exp.PRESETS["quick"].replace(pendulum_steps=245_760)  # 120 updates, 16 chunks
    with pytest.raises(ValueError, match="num_chunks"):
        exp.setup("Pendulum-v1", bad)
