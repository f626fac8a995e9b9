"""Process rewards and multi-turn credit: the seed's step-reward systems at toy scale.

    python -m experiments.process_rewards --profile quick    # <= 12 minutes on a 2-core CPU
    python -m experiments.process_rewards --profile paper    # more seeds, budgets
    python -m experiments.process_rewards --systems grpo_r thesis

Each system is a module of this package with the interface of :mod:`jaxrl.experiment.systems`
(``Settings``, ``QUICK``, ``PAPER``, ``run``, ``claims``, ``figure``). Most run on the toy
reasoning MDP (:mod:`jaxrl.envs.reasoning_chain`: chains of steps toward a verified answer, with
right and shallow paths and an exact solver):

* ``guide``: the multi-turn agentic-RL practitioner's guide: PPO, GRPO and RLOO
  (:mod:`jaxrl.agents.group_relative`) x sparse outcome or dense turn rewards x chain length;
* ``grpo_r``: GRPO-R's step reward for reasoning depth, potential-based against a plain bonus;
* ``robo_dopamine``: a learned progress model used as a potential against raw
  progress-as-reward (the "semantic trap");
* ``reward_machines``: non-Markovian tasks through a reward machine's product MDP, against every
  Markov reward on the base MDP (exact);
* ``fk_steering``: Feynman-Kac steering of a small 2-D diffusion model with reward potentials,
  against best-of-N and the unsteered sampler;
* ``thesis``: teacher potentials (Φ = V*, noisy teachers, learner-adaptive) for tabular learners;
* ``composite``: Lucy-SKG's KRC, hybrid rule-plus-model rewards with a length penalty, and
  CaRL's multiplicative penalties.

One results directory per system under ``results/process_rewards/`` (config key ``"system"``)
holds ``summary.json`` and ``metrics.npz``; ``python -m paper_figures.process_rewards`` draws each
system's figure and writes its claims.
"""

from __future__ import annotations

from experiments.process_rewards.config import EXPERIMENT, MODULES, PRESETS
from jaxrl.experiment.systems import family_main


def main(argv=None):
    return family_main(EXPERIMENT, MODULES, PRESETS, __doc__, argv)
