"""The preference_rms experiment package: its config, its runner's stored arrays, its modules'
common interface (each system's own tests are tests/test_pref_<system>.py)."""

import numpy as np
import pytest

from experiments.preference_rms.config import MODULES, PRESETS, SYSTEMS, PreferenceRMs
from experiments.preference_rms.experiment import numeric_leaves


def test_every_system_has_the_interface():
    for name, m in MODULES.items():
        for attr in ("Settings", "QUICK", "PAPER", "run", "claims", "figure"):
            assert hasattr(m, attr), f"{name} lacks {attr}"
        assert isinstance(m.QUICK, m.Settings) and isinstance(m.PAPER, m.Settings)
        assert getattr(PRESETS["quick"], name) == m.QUICK
        assert getattr(PRESETS["paper"], name) == m.PAPER
        assert m.__doc__ and "claim" in m.__doc__.lower()


def test_config_rejects_an_unknown_system():
    with pytest.raises(ValueError, match="systems"):
        PreferenceRMs(systems=("vpl", "nope"))
    assert PreferenceRMs(systems=("vpl",)).systems == ("vpl",)
    assert set(SYSTEMS) == set(MODULES)


def test_numeric_leaves_flattens_the_summary():
    s = {"a": [1.0, 2.0], "b": {"c": [[1, 2], [3, 4]], "name": "x", "d": 3}}
    s["ragged"] = [[1], [1, 2]]
    out = numeric_leaves(s)
    assert set(out) == {"a", "b/c", "b/d"}
    np.testing.assert_array_equal(out["b/c"], [[1, 2], [3, 4]])
    assert out["b/d"].shape == ()
