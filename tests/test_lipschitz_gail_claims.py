"""Lipschitz-GAIL's claims (experiments/lipschitz_gail/claims.py) on synthetic data, and the
expert-quality gate that makes (a) and (b) not testable against a weak expert."""

import numpy as np

from experiments.lipschitz_gail import claims as lg


def _data(none_ret, wgan_ret, seeds=8):
    rng = np.random.default_rng(0)
    gn = np.linspace(1.0, 4.0, 9)[None] + 0.01 * rng.standard_normal((seeds, 9))
    return {
        "none": {0.0: {"ret": none_ret + 0.01 * rng.standard_normal(seeds), "gn": gn}},
        "wgan": {10.0: {"ret": wgan_ret + 0.01 * rng.standard_normal(seeds), "gn": 0 * gn + 1}},
    }


def _verdicts(cl):
    return {c.id.rsplit(".", 1)[1]: c for c in cl}


def test_a_and_b_follow_their_rules():
    good = _verdicts(lg.compute(_data(100.0, 950.0), 1000.0, 10.0))
    assert good["a"].verdict == "reproduced" and good["b"].verdict == "reproduced"
    assert good["e"].verdict == "reproduced"  # ‖∇D‖ grows 1 -> 4 without, stays at 1 with
    bad = _verdicts(lg.compute(_data(700.0, 500.0), 1000.0, 10.0))
    assert bad["a"].verdict == "not reproduced" and bad["b"].verdict == "not reproduced"


def test_a_missed_expert_gate_makes_a_and_b_not_testable_and_keeps_the_numbers():
    summary = {
        "train_eval_return_final": [3400.0, 2100.0, 3500.0],
        "min_return": 9000.0,
        "rounds": 3,
        "gate_met": False,
    }
    gate = lg.expert_gate_missed(summary)
    assert "3500 < 9000" in gate and "3 round" in gate
    cl = _verdicts(lg.compute(_data(100.0, 950.0), 1000.0, 10.0, expert_gate=gate, tag="idp"))
    for cid in "ab":
        assert cl[cid].verdict == "not testable", cl[cid]
        assert cl[cid].detail.startswith(gate) and "measured:" in cl[cid].detail
        assert cl[cid].id == f"lipschitz_gail.idp.{cid}"
    # (e) does not divide by the expert's return: unaffected
    assert cl["e"].verdict == "reproduced"
    # met, no gate, and summaries from before the gate: no reason
    assert lg.expert_gate_missed({**summary, "gate_met": True}) is None
    assert lg.expert_gate_missed({}) is None
