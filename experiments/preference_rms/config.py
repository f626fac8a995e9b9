"""The configuration of ``experiments.preference_rms``: one settings block per system (each
system module declares its own ``Settings`` with ``QUICK`` and ``PAPER``), seeds and which
systems to run."""

from __future__ import annotations

import dataclasses

from experiments.preference_rms import constrained, ctrl_u, heron, polar, probes, strength, vpl
from jaxrl.experiment.sweep import SeededSweep

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


@dataclasses.dataclass(frozen=True)
class PreferenceRMs(SeededSweep):
    seeds: int = 5
    """seeds per condition (vmapped)"""
    systems: tuple[str, ...] = SYSTEMS
    """which systems to run (one results directory each)"""
    heron: heron.Settings = heron.QUICK
    vpl: vpl.Settings = vpl.QUICK
    strength: strength.Settings = strength.QUICK
    ctrl_u: ctrl_u.Settings = ctrl_u.QUICK
    polar: polar.Settings = polar.QUICK
    constrained: constrained.Settings = constrained.QUICK
    probes: probes.Settings = probes.QUICK

    def check(self) -> None:
        super().check()
        self.check_positive("seeds")
        unknown = sorted(set(self.systems) - set(SYSTEMS))
        self.require(not unknown, "systems", f"unknown {unknown}; known: {SYSTEMS}")


PRESETS = {
    "quick": PreferenceRMs(),
    "paper": PreferenceRMs(seeds=10, **{name: m.PAPER for name, m in MODULES.items()}),
}
