"""The claims of the PBRS figure (``paper_figures.pbrs``), as data: each a
:class:`~jaxrl.experiment.claims.Claim` with id ``pbrs.<tag>``, computed from plain arrays.

Papers: Ng, Harada & Russell (1999) (PBRS keeps the optimal policy; a non-potential shaping can
change it), Randløv & Alstrøm (1998) (the progress-bonus "bicycle" loop), Grześ (2017) (episodic
PBRS needs Φ(terminal) = 0). Two kinds of evidence:

* exact (``reference.json``): the true return J of each shaped MDP's optimal policy (value
  iteration in float64) against the true optimum J*, as zero-width :class:`Estimate` s (n = 1);
* learned (``metrics.npz``): the true return of the learned policies ``[seeds, evals]``, IQM
  over seeds with 95% stratified-bootstrap CIs, compared by disjoint CIs or a bound on a CI limit.

The run has no dynamic (time-dependent) potential and no look-ahead advice: those results of
Devlin & Kudenko (2012) and Wiewiora et al. (2003) are checked exactly in ``theory_checks``.
"""

from __future__ import annotations

from jaxrl.experiment.claims import (
    Check,
    Claim,
    Estimate,
    ci_bound,
    ci_greater,
    combine,
    estimate,
)

EXPERIMENT = "pbrs"
LABELS = {
    "none": "no shaping",
    "pbrs_good": "PBRS, good Φ",
    "pbrs_misleading": "PBRS, misleading Φ",
    "bonus": "progress bonus (not PBRS)",
    "pbrs": "PBRS, Φ(terminal) = 0",
    "naive_pbrs": "naive PBRS, Φ(terminal) kept",
}

_MOVES = {">": (0, 1), "<": (0, -1), "v": (1, 0), "^": (-1, 0)}


def greedy_route(policy: str, layout) -> str:
    """The cells (layout letters) the greedy ``policy`` (arrows, one row per line) visits from
    ``S`` until ``G``, a revisit (a loop) or leaving the board."""
    rows = policy.split("\n")
    (r, c), seen, route = next(
        ((i, row.index("S")), set(), "") for i, row in enumerate(layout) if "S" in row
    )
    while (r, c) not in seen and 0 <= r < len(rows) and 0 <= c < len(rows[r]):
        seen.add((r, c))
        route += layout[r][c]
        if layout[r][c] == "G":
            break
        dr, dc = _MOVES.get(rows[r][c], (0, 0))
        r, c = r + dr, c + dc
    return route


NG = "Ng, Harada & Russell (ICML 1999)"
BICYCLE = "Ng, Harada & Russell (ICML 1999), necessity; Randløv & Alstrøm (ICML 1998), bicycle"
GRZES = "Grześ (AAMAS 2017), episodic PBRS"
#: exact references are float64 value iteration: one policy gives one J to ~1e-12
EXACT_TOL = 1e-6
#: learned policies' J is computed in float32
LEARNED_TOL = 1e-3
PBRS_VARIANTS = ("pbrs_good", "pbrs_misleading")


def exact(x: float) -> Estimate:
    """An exact number (value iteration, one policy): a zero-width interval, ``n = 1``."""
    return Estimate(x, x, x, 1)


def _claim(tag, paper, statement, q, rule, check) -> Claim:
    return Claim.from_check(f"{EXPERIMENT}.{tag}", EXPERIMENT, paper, statement, q, rule, check)


def _shaped_j(ref: dict, v: str) -> float | None:
    return ref.get("variants", {}).get(v, {}).get("shaped_optimum_true_return")


def _exact_grid(refs: dict, variants, sign: str):
    """Quantities and checks "J(shaped optimum) = J*" (``sign="="``) or "< J*" (``"<"``) for
    ``variants`` on every non-pitfall task with an exact reference."""
    q, checks = {}, {}
    for t, ref in refs.items():
        if t == "pitfall_q" or not ref.get("variants"):
            continue
        best = ref["optimal_true_return"]
        for v in (v for v in variants if _shaped_j(ref, v) is not None):
            j = _shaped_j(ref, v)
            q.setdefault(f"{t}: J*", exact(best))
            q[f"{t}: J of {LABELS[v]}'s shaped optimum"] = exact(j)
            if sign == "=":
                c = ci_bound(f"|J* − J| ({LABELS[v]})", exact(abs(best - j)), "hi", "<=", EXACT_TOL)
            else:
                c = ci_bound(f"J* − J ({LABELS[v]})", exact(best - j), "lo", ">", EXACT_TOL)
            checks[f"{t} {v}"] = c
    return q, checks


def lava_on_route(policy: str, layout) -> int:
    """Lava cells the greedy ``policy`` crosses from ``S`` to ``G`` (0 if it never reaches G)."""
    route = greedy_route(policy, layout)
    return route.count("L") if "G" in route else 0


def exact_claims(refs: dict, layouts: dict) -> list[Claim]:
    """Claims on the exact optima of the shaped MDPs (``reference.json`` of each run)."""
    out = []
    q, checks = _exact_grid(refs, PBRS_VARIANTS, "=")
    if checks:
        out.append(_claim(
            "invariance_exact", NG,
            "PBRS with a helpful or a misleading Φ leaves the optimal policy unchanged: the "
            "shaped MDP's optimum has the true optimal return J*.", q,
            f"|J* − J(shaped optimum)| <= {EXACT_TOL:g} for every PBRS variant (value iteration "
            "in float64)", combine(checks),
        ))  # fmt: skip
    q, checks = _exact_grid(refs, ("bonus",), "<")
    if checks:
        out.append(_claim(
            "bicycle_exact", BICYCLE,
            "A progress bonus that is not potential-based changes the optimal policy: the shaped "
            "MDP's optimum has a lower true return than J*.", q,
            f"J* − J(bonus's shaped optimum) > {EXACT_TOL:g} on every task with an exact "
            "reference", combine(checks),
        ))  # fmt: skip
    ref = refs.get("pitfall_q", {})
    if {"pbrs", "naive_pbrs"} <= set(ref.get("variants", {})):
        best = ref["optimal_true_return"]
        naive, ok = _shaped_j(ref, "naive_pbrs"), _shaped_j(ref, "pbrs")
        layout = layouts.get("pitfall_q")
        lava = lava_on_route(ref["variants"]["naive_pbrs"]["policy"], layout) if layout else None
        lava_name = "lava cells on the naive optimum's route S to G (0: never reaches G)"
        q = {"J*": exact(best), "J of naive PBRS's optimum": exact(naive),
             "J of correct PBRS's optimum": exact(ok)}  # fmt: skip
        checks = {
            "naive loses": ci_bound("J* − J(naive)", exact(best - naive), "lo", ">", EXACT_TOL),
            "correct keeps": ci_bound(
                "|J* − J(correct)|", exact(abs(best - ok)), "hi", "<=", EXACT_TOL
            ),  # fmt: skip
            "lava route": (
                ci_bound(lava_name, exact(lava), "lo", ">=", 1)
                if lava is not None
                else Check("not testable", "the run recorded no layout")
            ),
        }
        if lava is not None:
            q[lava_name] = exact(lava)
        out.append(_claim(
            "terminal_exact", GRZES,
            "PBRS that keeps Φ at the terminal state (naive) adds a terminal bonus that favours "
            "short episodes and changes the optimal policy, here to the short route through lava; "
            "Φ(terminal) = 0 keeps the optimum.", q,
            f"J* − J(naive optimum) > {EXACT_TOL:g}, |J* − J(correct optimum)| <= {EXACT_TOL:g}, "
            "and the naive optimum's route from S to G crosses >= 1 lava cell",
            combine(checks),
        ))  # fmt: skip
    return out


def learned_claims(curves: dict, refs: dict) -> list[Claim]:
    """Claims on the learned policies' true return ``curves[task][variant] [seeds, evals]``
    (IQM over seeds, 95% bootstrap CI): final = last evaluation, speed = mean over all
    evaluations (area under the curve)."""
    out = []
    q, checks = {}, {}
    for t, c in curves.items():
        if {"none", "pbrs_good"} <= set(c):
            good, none = estimate(c["pbrs_good"].mean(1)), estimate(c["none"].mean(1))
            q[f"{t}: {LABELS['pbrs_good']}, curve mean"] = good
            q[f"{t}: {LABELS['none']}, curve mean"] = none
            checks[t] = ci_greater(LABELS["pbrs_good"], good, LABELS["none"], none)
    if checks:
        out.append(_claim(
            "good_phi_faster", NG,
            "A helpful potential speeds up learning: PBRS with a good Φ has a higher true return "
            "over training (mean over the evaluations, area under the curve) than no shaping.", q,
            "CI of PBRS-good's curve mean lies above no shaping's, on every task", combine(checks),
        ))  # fmt: skip
    q, checks = {}, {}
    for t, c in curves.items():
        if t == "pitfall_q" or "optimal_true_return" not in refs.get(t, {}):
            continue
        best = refs[t]["optimal_true_return"]
        for v in (v for v in PBRS_VARIANTS if v in c):
            e = q[f"{t}: {LABELS[v]}, final"] = estimate(c[v][:, -1])
            checks[f"{t} {v}"] = ci_bound(LABELS[v], e, "hi", ">=", best - LEARNED_TOL)
        if any(k.startswith(t + " ") for k in checks):
            q[f"{t}: J*"] = exact(best)
    if checks:
        out.append(_claim(
            "invariance_learned", NG,
            "Learners trained with PBRS (good or misleading Φ) end at the true optimum J*.", q,
            f"upper CI limit of the final true return >= J* − {LEARNED_TOL:g}, for every PBRS "
            "variant on every task with an exact reference", combine(checks),
        ))  # fmt: skip
    q, checks = {}, {}
    for t, c in curves.items():
        j = _shaped_j(refs.get(t, {}), "bonus")
        if not {"none", "bonus"} <= set(c) or j is None:
            continue
        bonus, none = estimate(c["bonus"][:, -1]), estimate(c["none"][:, -1])
        q[f"{t}: {LABELS['bonus']}, final"], q[f"{t}: {LABELS['none']}, final"] = bonus, none
        if refs[t]["optimal_true_return"] - j > EXACT_TOL:
            checks[t] = ci_greater(LABELS["none"], none, LABELS["bonus"], bonus)
        else:  # the bonus keeps the optimum here: there is no changed optimum to follow
            checks[t] = Check("not testable", f"{t}: the bonus's exact optimum keeps J*")
    if checks:
        out.append(_claim(
            "bicycle_learned", BICYCLE,
            "Learners follow the bonus's changed optimum: with the progress bonus the final true "
            "return ends below no shaping's.", q,
            "CI of no shaping's final true return lies above the bonus's, on every task whose "
            "exact reference shows the bonus changes the optimum", combine(checks),
        ))  # fmt: skip
    c = curves.get("pitfall_q", {})
    if {"pbrs", "naive_pbrs"} <= set(c):
        ok, naive = estimate(c["pbrs"][:, -1]), estimate(c["naive_pbrs"][:, -1])
        out.append(_claim(
            "terminal_learned", GRZES,
            "Q-learning with naive PBRS (Φ kept at the terminal) ends with a lower true return "
            "than with Φ(terminal) = 0.",
            {f"{LABELS['pbrs']}, final": ok, f"{LABELS['naive_pbrs']}, final": naive},
            "CI of correct PBRS's final true return lies above naive PBRS's",
            ci_greater(LABELS["pbrs"], ok, LABELS["naive_pbrs"], naive),
        ))  # fmt: skip
    return out


def claims(curves: dict, refs: dict, layouts: dict | None = None) -> list[Claim]:
    """Every claim the figure tests. ``curves[task][variant]``: true return ``[seeds, evals]``;
    ``refs[task]``: the run's ``reference.json``; ``layouts[task]``: its gridworld rows."""
    return exact_claims(refs, layouts or {}) + learned_claims(curves, refs)
