"""Claims as data (jaxrl.experiment.claims): verdict rules on samples whose answer is known (and a
mutation that flips it), the Claim record, and the claims.json merge."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jaxrl.experiment.claims import (
    Check,
    Claim,
    Estimate,
    ci_bound,
    ci_greater,
    claims_caption,
    combine,
    estimate,
    read_claims,
    write_claims,
)

RNG = np.random.default_rng(0)
HIGH = 10.0 + RNG.normal(0, 0.5, 16)  # [16 seeds], far above LOW
LOW = 0.0 + RNG.normal(0, 0.5, 16)


def test_estimate_is_the_bootstrap_iqm_with_its_seed_count():
    e = estimate(HIGH)
    assert e.n == 16 and e.lo < e.point < e.hi
    assert abs(e.point - 10.0) < 0.5 and e.hi - e.lo < 1.0
    assert estimate(HIGH, "mean").point == pytest.approx(HIGH.mean())
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        estimate(np.zeros((2, 3)))


def test_ci_greater_disjoint_partial_and_flipped():
    assert ci_greater("high", estimate(HIGH), "low", estimate(LOW)).verdict == "reproduced"
    # mutation: swap the samples -> below, not reproduced
    c = ci_greater("low", estimate(LOW), "high", estimate(HIGH))
    assert c.verdict == "not reproduced" and "below" in c.detail
    # point above but CIs overlap -> partial
    c = ci_greater("a", Estimate(1.0, 0.0, 2.0, 8), "b", Estimate(0.9, 0.5, 1.5, 8))
    assert c.verdict == "partial" and "not distinguishable" in c.detail
    # equal samples never count as greater
    assert ci_greater("a", estimate(LOW), "b", estimate(LOW)).verdict == "not reproduced"


def test_ci_bound_ratio_bound_on_a_limit():
    s = Estimate(0.2, 0.1, 0.4, 10)  # e.g. a normalised score
    assert ci_bound("s", s, "hi", "<", 0.5).verdict == "reproduced"
    assert ci_bound("s", s, "hi", "<", 0.3).verdict == "not reproduced"  # mutated bound
    assert ci_bound("s", s, "lo", ">=", 0.1).verdict == "reproduced"  # inclusive
    assert ci_bound("s", s, "lo", ">", 0.1).verdict == "not reproduced"
    assert ci_bound("s", Estimate(math.nan, math.nan, math.nan, 3), "hi", "<", 1).verdict == (
        "not testable"
    )
    with pytest.raises(ValueError, match="'mid'"):
        ci_bound("s", s, "mid", "<", 1)
    with pytest.raises(ValueError, match="'=='"):
        ci_bound("s", s, "hi", "==", 1)


def test_combine_every_and_at_least():
    ok, no = Check("reproduced", "ok"), Check("not reproduced", "no")
    part, nt = Check("partial", "p"), Check("not testable", "nt")
    assert combine({"t1": ok, "t2": ok}).verdict == "reproduced"
    assert combine({"t1": ok, "t2": no}).verdict == "partial"
    assert combine({"t1": no, "t2": no}).verdict == "not reproduced"
    assert combine({"t1": part, "t2": no}).verdict == "partial"
    assert combine({"t1": ok, "t2": no}, 1).verdict == "reproduced"
    assert combine({"t1": ok, "t2": no, "t3": no}, 2).verdict == "partial"
    assert combine({"t1": ok, "t2": nt}).verdict == "reproduced"  # untestable tasks left out
    assert combine({"t1": nt}).verdict == combine({}).verdict == "not testable"
    with pytest.raises(ValueError, match="need=0"):
        combine({"t1": ok}, 0)


def _claim(exp: str, tag: str, verdict: str = "reproduced") -> Claim:
    q = {"x": Estimate(1.0, 0.5, 1.5, 4), "undefined": Estimate(math.nan, math.nan, math.nan, 4)}
    return Claim(f"{exp}.{tag}", exp, "Paper", "X holds.", q, "CI of x above 0", verdict, "d")


def test_claim_record_validates_and_round_trips():
    c = _claim("exp", "a")
    d = json.loads(json.dumps(c.to_json()))  # strict JSON: nan stored as null
    assert d["quantities"]["undefined"]["point"] is None
    back = Claim.from_json(d)
    assert back.id == c.id and back.quantities["x"] == c.quantities["x"]
    assert math.isnan(back.quantities["undefined"].point)
    with pytest.raises(ValueError, match="'maybe'"):
        _claim("exp", "a", "maybe")
    with pytest.raises(ValueError, match="must start with 'exp.'"):
        Claim("other.a", "exp", "P", "s", {}, "r", "reproduced", "d")
    with pytest.raises(ValueError, match="lo > hi"):
        Estimate(1.0, 2.0, 0.0, 3)
    with pytest.raises(TypeError, match="'paper' is dict"):  # a settings dict in the paper slot
        Claim("exp.a", "exp", {"steps": 1}, "s", {}, "r", "reproduced", "d")
    text = claims_caption([c, _claim("exp", "b", "partial")])
    assert "[exp.a] REPRODUCED" in text and "[exp.b] PARTIAL" in text


def test_write_claims_replaces_one_experiment_only(tmp_path):
    write_claims(tmp_path, "alpha", [_claim("alpha", "a"), _claim("alpha", "b")],
                 figures=[tmp_path / "alpha.png"], budget="10 steps")  # fmt: skip
    write_claims(tmp_path, "beta", [_claim("beta", "a")])
    write_claims(tmp_path, "alpha", [_claim("alpha", "c", "not reproduced")])
    got = read_claims(tmp_path / "claims.json")
    assert [c.id for c in got["alpha"]["claims"]] == ["alpha.c"]
    assert got["alpha"]["claims"][0].verdict == "not reproduced"
    assert [c.id for c in got["beta"]["claims"]] == ["beta.a"]
    assert got["alpha"]["figures"] == [] and got["alpha"]["budget"] == ""  # replaced whole
    assert not list(tmp_path.glob(".claims.json.*"))  # no temp file left behind
    with pytest.raises(ValueError, match="belongs to 'beta'"):
        write_claims(tmp_path, "alpha", [_claim("beta", "a")])
    with pytest.raises(ValueError, match="duplicate"):
        write_claims(tmp_path, "alpha", [_claim("alpha", "a"), _claim("alpha", "a")])
    assert [c.id for c in read_claims(tmp_path / "claims.json")["alpha"]["claims"]] == ["alpha.c"]
    (tmp_path / "claims.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a valid claims file"):
        read_claims(tmp_path / "claims.json")
