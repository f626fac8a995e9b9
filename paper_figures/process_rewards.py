"""Figures and claims of ``experiments.process_rewards``: one figure per system.

    python -m paper_figures.process_rewards [--results results] [--out paper_figures/out]

Reads the newest finished run of each system (``results/process_rewards/``, config key
``"system"``), computes that system's claims from its stored summary (the verdict rules are in
each system module's docstring), draws ``process_rewards_<system>.png`` with a caption
computed from the same numbers, and merges the claims into ``claims.json``.
"""

from __future__ import annotations

from pathlib import Path

from experiments.process_rewards.config import EXPERIMENT, MODULES
from jaxrl.experiment.systems import figures_main


def main(argv=None) -> list[Path]:
    return figures_main(EXPERIMENT, MODULES, __doc__, argv)


if __name__ == "__main__":
    main()
