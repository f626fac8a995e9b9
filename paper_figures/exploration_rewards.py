"""Figures and claims of ``experiments.exploration_rewards``: one figure per system.

    python -m paper_figures.exploration_rewards [--results results] [--out paper_figures/out]

Reads the newest finished run of each system (``results/exploration_rewards/``, config key
``"system"``), computes that system's claims from its stored summary (the verdict rules are in
each system module's docstring), draws ``exploration_rewards_<system>.png`` with a caption
computed from the same numbers, and merges the claims into ``claims.json``.
"""

from __future__ import annotations

from pathlib import Path

from experiments.exploration_rewards.config import EXPERIMENT, MODULES
from jaxrl.experiment.systems import figures_main


def main(argv=None) -> list[Path]:
    return figures_main(EXPERIMENT, MODULES, __doc__, argv)


if __name__ == "__main__":
    main()
