"""Blondé et al.'s claims (papers.md §3.3, issue 16), computed from the finished runs' data.

Every number is an IQM over seeds with a 95% stratified-bootstrap CI
(:func:`jaxrl.analysis.stats.bootstrap_ci`). "Return" is the imitator's final true return
(deterministic evaluation, last evaluation point) divided by the expert's demonstration return,
so 1 is expert level. ‖∇D‖ is the row mean over updates of the discriminator's input-gradient
norm at the agent's replay minibatch; "early" is the mean of the first quarter of the logged
points after the first (which precedes learning), "late" the mean of the last quarter.

**Verdict rules** (declared here; the numbers come from the data):

* (a) no penalty fails: for every no-penalty variant (``none`` and run_002's ablations), the CI
  upper bound of return < ``FAIL``. All variants: reproduced; some: partial.
* (b) wgan-GP (λ = ``default_lambda``) reaches expert level: CI lower bound of return ≥
  ``REACH``: reproduced; point estimate ≥ ``REACH`` only: partial.
* (c) wgan ≥ dragan and ≥ nagard: not reproduced when wgan's CI lies entirely below another's;
  reproduced when wgan's point estimate is the highest; partial otherwise.
* (d) return against λ (wgan) is an inverted U: the best λ is interior and the CI upper bounds at
  both ends lie below the best λ's CI lower bound (both: reproduced; one end: partial).
* (e) without a penalty ‖∇D‖ grows (late/early ratio CI lower bound > 1) and with wgan it stays
  near k (late CI upper bound ≤ ``NEAR_K`` · k). Both: reproduced; one: partial.
* (f) PURPLE lowers the Q-Jacobian norm at equal return: late ‖∇_{s,a} Q‖ CI upper bound with
  PURPLE < its CI lower bound without, and the return CIs overlap. Both: reproduced; the
  Jacobian part alone: partial.

Claims whose runs are missing are "not testable".
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxrl.experiment.claims import Claim, Estimate, estimate

PAPER = "Blondé, Strasser & Kalousis, Lipschitzness is all you need to tame off-policy GAIL"
FAIL = 0.5
REACH = 0.8
NEAR_K = 2.0


def ci(x: np.ndarray) -> Estimate:
    """IQM and 95% CI of ``x`` ``[seeds]``."""
    return estimate(np.asarray(x, np.float64), "iqm")


def windows(curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed early and late means of a logged curve ``[seeds, T]`` (point 0 dropped)."""
    c = np.asarray(curve, np.float64)[:, 1:]
    q = max(1, c.shape[1] // 4)
    return c[:, :q].mean(1), c[:, -q:].mean(1)


def _claim(cid, statement, quantities, rule, verdict, detail) -> Claim:
    return Claim(
        f"lipschitz_gail.{cid}",
        "lipschitz_gail",
        PAPER,
        statement,
        quantities,
        rule,
        verdict,
        detail,
    )


def _grade(n_ok: int, n: int) -> str:
    return "reproduced" if n_ok == n else ("partial" if n_ok else "not reproduced")


def _untestable(cid, statement, rule, missing) -> Claim:
    return _claim(cid, statement, {}, rule, "not testable", f"no finished run of {missing}")


def expert_gate_missed(summary: dict) -> str | None:
    """Why the expert of ``summary`` (``expert_summary.json``) missed its quality gate, or None
    (met, or no gate; summaries written before the gate existed have neither key)."""
    if summary.get("gate_met", True):
        return None
    best = max(summary["train_eval_return_final"])
    return (
        f"the expert missed its gate: best final evaluation return {best:.0f} < "
        f"{summary['min_return']:g} after {summary['rounds']} round(s) of training"
    )


def compute(
    data: dict[str, dict[float, dict[str, np.ndarray]]],
    expert: float,
    lam: float,
    k: float = 1.0,
    tag: str = "",
    expert_gate: str | None = None,
) -> list[Claim]:
    """The claims (a)–(f).

    Args:
      data: variant name -> λ -> {"ret": final true returns [seeds], "gn": ‖∇D‖ curve
        [seeds, T], optionally "qj": ‖∇Q‖ curve [seeds, T]}.
      expert: the expert's demonstration return.
      lam: ``default_lambda`` (the λ of wgan in (b), (c), (e), (f)).
      k: the penalty's target norm.
      tag: inserted into the ids (``lipschitz_gail.<tag>.a``), e.g. the environment.
      expert_gate: why the expert missed its quality gate (:func:`expert_gate_missed`), or
        None. (a) and (b) compare a return with the expert's, so a weak expert makes them not
        testable (their numbers are kept in the detail); (c)-(f) compare the imitators with each
        other, where the expert's return cancels.
    """

    def rel(name, lm):
        return ci(data[name][lm]["ret"] / expert)

    out = []
    nogp = [v for v in data if v.startswith("none")]
    st = f"Without a gradient penalty, SAM stays below {FAIL:.0%} of the expert's return."
    rule = f"CI upper bound of return/expert < {FAIL} for each no-penalty variant"
    if nogp:
        q = {f"return/expert {v}": rel(v, 0.0) for v in nogp}
        ok = [v for v in nogp if q[f"return/expert {v}"].hi < FAIL]
        out.append(
            _claim(
                "a",
                st,
                q,
                rule,
                _grade(len(ok), len(nogp)),
                f"{len(ok)} of {len(nogp)} no-penalty variants below {FAIL:.0%}",
            )
        )
    else:
        out.append(_untestable("a", st, rule, "none"))

    has_w = "wgan" in data and lam in data["wgan"]
    st = f"With a wgan gradient penalty (λ={lam:g}) SAM reaches ≥ {REACH:.0%} of the expert."
    rule = f"CI lower bound of return/expert ≥ {REACH} (point estimate only: partial)"
    if has_w:
        w = rel("wgan", lam)
        v = "reproduced" if w.lo >= REACH else ("partial" if w.point >= REACH else "not reproduced")
        out.append(
            _claim(
                "b",
                st,
                {f"return/expert wgan λ={lam:g}": w},
                rule,
                v,
                f"wgan reaches {w.fmt()}",
            )
        )
    else:
        out.append(_untestable("b", st, rule, "wgan"))

    st = "wgan-GP returns at least as much as dragan and nagard."
    rule = "not reproduced if wgan's CI lies below another's; reproduced if wgan's IQM is highest"
    others = [g for g in ("dragan", "nagard") if g in data and lam in data[g]]
    if has_w and others:
        q = {f"return/expert {g}": rel(g, lam) for g in ["wgan", *others]}
        w = q["return/expert wgan"]
        below = [g for g in others if w.hi < q[f"return/expert {g}"].lo]
        best = all(w.point >= q[f"return/expert {g}"].point for g in others)
        v = "not reproduced" if below else ("reproduced" if best else "partial")
        out.append(
            _claim(
                "c",
                st,
                q,
                rule,
                v,
                f"wgan below (CI-disjoint): {below or 'none'}; wgan's IQM highest: {best}",
            )
        )
    else:
        out.append(_untestable("c", st, rule, "wgan with dragan/nagard"))

    st = "Final return against λ (one-sided wgan) is an inverted U: both ends below the best."
    rule = "best λ interior; CI upper bound at each end < the best λ's CI lower bound"
    lams = sorted(data.get("wgan", {}))
    if len(lams) >= 3:
        q = {f"return/expert λ={x:g}": rel("wgan", x) for x in lams}
        pts = [q[f"return/expert λ={x:g}"] for x in lams]
        b = int(np.argmax([p.point for p in pts]))
        ends = [pts[0].hi < pts[b].lo, pts[-1].hi < pts[b].lo]
        n_ok = sum(ends) if 0 < b < len(lams) - 1 else 0
        out.append(
            _claim(
                "d",
                st,
                q,
                rule,
                _grade(n_ok, 2),
                f"best λ={lams[b]:g}; small end below: {ends[0]}, large end below: {ends[1]}",
            )
        )
    else:
        out.append(_untestable("d", st, rule, "a wgan λ sweep of ≥ 3 values"))

    st = f"‖∇D‖ at agent samples grows without a penalty and stays near k={k:g} with one."
    rule = (
        f"no penalty: late/early ratio CI lower bound > 1; wgan: late CI upper bound ≤ {NEAR_K:g}·k"
    )
    if "none" in data and has_w:
        e0, l0 = windows(data["none"][0.0]["gn"])
        _, lw = windows(data["wgan"][lam]["gn"])
        q = {
            "‖∇D‖ late/early, none": ci(l0 / e0),
            "‖∇D‖ late, none": ci(l0),
            f"‖∇D‖ late, wgan λ={lam:g}": ci(lw),
        }
        grows = q["‖∇D‖ late/early, none"].lo > 1
        near = q[f"‖∇D‖ late, wgan λ={lam:g}"].hi <= NEAR_K * k
        out.append(
            _claim(
                "e",
                st,
                q,
                rule,
                _grade(grows + near, 2),
                f"grows without a penalty: {grows}; near k with wgan: {near}",
            )
        )
    else:
        out.append(_untestable("e", st, rule, "none and wgan"))

    st = "PURPLE lowers the critic's input-Jacobian norm at equal return."
    rule = "late ‖∇Q‖ CI upper with PURPLE < CI lower without; return CIs overlap"
    if has_w and "wgan_purple" in data and "qj" in data["wgan"][lam]:
        _, jw = windows(data["wgan"][lam]["qj"])
        _, jp = windows(data["wgan_purple"][lam]["qj"])
        q = {
            "‖∇Q‖ late, wgan": ci(jw),
            "‖∇Q‖ late, wgan+PURPLE": ci(jp),
            "return/expert wgan": rel("wgan", lam),
            "return/expert wgan+PURPLE": rel("wgan_purple", lam),
        }
        lower = q["‖∇Q‖ late, wgan+PURPLE"].hi < q["‖∇Q‖ late, wgan"].lo
        a, b_ = q["return/expert wgan"], q["return/expert wgan+PURPLE"]
        equal = a.lo <= b_.hi and b_.lo <= a.hi
        v = "reproduced" if lower and equal else ("partial" if lower else "not reproduced")
        out.append(_claim("f", st, q, rule, v, f"‖∇Q‖ lower: {lower}; returns overlap: {equal}"))
    else:
        out.append(_untestable("f", st, rule, "wgan and wgan_purple with q_jacobian_norm"))
    if expert_gate is not None:
        out = [
            dataclasses.replace(
                c, verdict="not testable", detail=f"{expert_gate}; measured: {c.detail}"
            )
            if c.id.endswith((".a", ".b")) and c.verdict != "not testable"
            else c
            for c in out
        ]
    if tag:
        out = [
            dataclasses.replace(c, id=f"lipschitz_gail.{tag}.{c.id.rsplit('.', 1)[1]}") for c in out
        ]
    return out
