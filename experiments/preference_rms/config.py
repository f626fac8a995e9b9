"""The configuration of ``experiments.preference_rms``: one settings block per system (each
system module declares its own ``Settings`` with ``QUICK`` and ``PAPER``), seeds and which
systems to run (:func:`jaxrl.experiment.systems.family_config`)."""

from __future__ import annotations

from experiments.preference_rms import constrained, ctrl_u, heron, polar, probes, strength, vpl
from jaxrl.experiment.systems import family_config, family_presets

EXPERIMENT = "preference_rms"
MODULES = {
    "heron": heron,
    "vpl": vpl,
    "strength": strength,
    "ctrl_u": ctrl_u,
    "polar": polar,
    "constrained": constrained,
    "probes": probes,
}
SYSTEMS = tuple(MODULES)
PreferenceRMs = family_config("PreferenceRMs", MODULES)
PRESETS = family_presets(PreferenceRMs, MODULES)
