"""``python -m experiments.orpo_tomato``: see :mod:`experiments.orpo_tomato.experiment`."""

from experiments.orpo_tomato.base import base_setup
from experiments.orpo_tomato.config import METHODS, PRESETS, ORPOTomato
from experiments.orpo_tomato.experiment import main, orpo_setup

__all__ = ["METHODS", "ORPOTomato", "PRESETS", "base_setup", "main", "orpo_setup"]
