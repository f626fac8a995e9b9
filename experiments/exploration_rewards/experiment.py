"""Intrinsic and exploration rewards: five systems of the seed where the task reward is sparse.

    python -m experiments.exploration_rewards --profile quick    # <= 10 minutes on a 2-core CPU
    python -m experiments.exploration_rewards --profile paper    # more seeds, budgets
    python -m experiments.exploration_rewards --systems curiosity calm

Each system is a module of this package with the interface of :mod:`jaxrl.experiment.systems`
(``Settings``, ``QUICK``, ``PAPER``, ``run``, ``claims``, ``figure``):

* ``curiosity``: prediction-error curiosity against Curiosity in Hindsight at a noisy TV
  (key-door gridworld, :mod:`jaxrl.envs.key_door`);
* ``oni``: ONI's online intrinsic rewards from an oracle labeller (hashing, classifier, ranking)
  over labeller error rates;
* ``info_gain``: information-gain turn rewards (IGPO, Dialogue as Discovery) against the
  outcome reward on a 20-questions MDP, with PPO and a group-relative (GRPO-style) learner;
* ``calm``: CALM-style subgoal shaping from an oracle annotator, as a plain bonus and as
  potential-based shaping, right and wrong annotators, against the exact optimum;
* ``novelty``: novelty search / MAP-Elites on a deceptive maze against PPO with the greedy
  distance bonus.

Where a paper uses an LLM, an oracle annotator with a controllable error rate stands in for it.
One results directory per system under ``results/exploration_rewards/`` (config key
``"system"``) holds ``summary.json`` and ``metrics.npz``;
``python -m paper_figures.exploration_rewards`` draws each system's figure and writes its claims.
"""

from __future__ import annotations

from experiments.exploration_rewards.config import EXPERIMENT, MODULES, PRESETS
from jaxrl.experiment.systems import family_main


def main(argv=None):
    return family_main(EXPERIMENT, MODULES, PRESETS, __doc__, argv)
