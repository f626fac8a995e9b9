"""Learned reward models from preferences: seven systems of the seed as one small family.

    python -m experiments.preference_rms --profile quick     # <= 8 minutes on a 2-core CPU
    python -m experiments.preference_rms --profile paper     # more seeds, budgets, conditions
    python -m experiments.preference_rms --systems vpl strength

Each system is a module of this package with the same interface (``Settings``, ``QUICK``,
``PAPER``, ``run(settings, seeds, seed) -> summary``, ``claims(summary)``, ``figure(...)``):

* ``heron``: HERON's hierarchical (decision-tree) labels of trajectory pairs from a ranking of
  reward factors, a BT RM, PPO on Pendulum and MountainCar;
* ``vpl``: variational preference learning, a latent-user BT model and z-conditioned policy;
* ``strength``: Secrets of RLHF II's preference strength (ensemble margins, flip/drop, label
  smoothing, adaptive margin) under label noise;
* ``ctrl_u``: Ctrl-U's uncertainty-weighted reward against over-optimisation;
* ``polar``: POLAR's policy-discriminator RM against a BT RM for matching a target policy;
* ``constrained``: constrained RLHF, proxy points and a Lagrangian over component RMs;
* ``probes``: MRMBench, linear probes of RM features against the gold reward PPO reaches.

All run on the multi-attribute, multi-user testbed (:mod:`jaxrl.envs.preference_testbed`) or
gymnax classic control (HERON). One results directory per system under
``results/preference_rms/`` (config key ``"system"``) holds ``summary.json`` (per-seed numbers,
the wall time) and the same numbers as arrays in ``metrics.npz``;
``python -m paper_figures.preference_rms`` draws each system's figure and writes its claims.
"""

from __future__ import annotations

from experiments.preference_rms.config import EXPERIMENT, MODULES, PRESETS
from jaxrl.experiment.systems import family_main


def main(argv=None):
    return family_main(EXPERIMENT, MODULES, PRESETS, __doc__, argv)
