"""Claims as data: each experiment declares the papers' claims it tests, with measured numbers.

A :class:`Claim` holds the claim in one sentence, the quantities it compares (each an
:class:`Estimate`: point, 95% bootstrap CI, number of seeds), the verdict rule in words, the
verdict and one computed sentence of detail. Verdicts come from small rules on CI limits:

* :func:`ci_greater`: "the CI of X lies above the CI of Y" (disjoint intervals, as in rliable's
  advice not to read overlapping intervals as a difference); a point estimate above with
  overlapping CIs is ``partial``;
* :func:`ci_bound`: "the CI's upper (lower) limit lies below (at or above) a bound", e.g. a ratio
  bound on a normalised score's CI;
* :func:`combine`: several per-task checks under "every task" or "at least k tasks".

A figure script collects its claims and calls :func:`write_claims`, which merges them into
``paper_figures/out/claims.json`` keyed by experiment (re-running one figure replaces only its
own entry), atomically through the results store's writer. :func:`claims_caption` turns the same
records into caption lines, so a caption states only what the numbers say.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import fcntl
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from jaxrl.analysis.stats import Statistic, bootstrap_ci
from jaxrl.experiment.results import atomic_write_json

VERDICTS = ("reproduced", "partial", "not reproduced", "not testable")
CLAIMS_FILE = "claims.json"
N_BOOT = 2000


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A measured number: point estimate and 95% CI over ``n`` seeds (``nan`` where undefined)."""

    point: float
    lo: float
    hi: float
    n: int

    def __post_init__(self) -> None:
        for f in ("point", "lo", "hi"):
            object.__setattr__(self, f, float(getattr(self, f)))
        object.__setattr__(self, "n", int(self.n))
        if self.n < 0:
            raise ValueError(f"Estimate n={self.n}; expected >= 0")
        if self.lo > self.hi:  # nan compares False: an undefined CI is allowed
            raise ValueError(f"Estimate CI [{self.lo}, {self.hi}] has lo > hi")

    def fmt(self, digits: int = 2) -> str:
        """``"point [lo, hi]"``."""
        return f"{self.point:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"

    def to_json(self) -> dict[str, float | int | None]:
        """JSON-safe dict; ``nan`` becomes ``null`` (strict JSON has no NaN)."""
        f = lambda x: None if math.isnan(x) else x
        return {"point": f(self.point), "lo": f(self.lo), "hi": f(self.hi), "n": self.n}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Estimate:
        g = lambda k: math.nan if d[k] is None else d[k]
        return cls(g("point"), g("lo"), g("hi"), d["n"])


def estimate(
    x: np.ndarray | Sequence[float], statistic: Statistic = "iqm", seed: int = 0
) -> Estimate:
    """:class:`Estimate` of ``x [seeds]``: IQM or mean with its 95% stratified-bootstrap CI
    (:func:`jaxrl.analysis.stats.bootstrap_ci`, 2000 resamples, seed ``seed``)."""
    x = np.asarray(x, np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"estimate needs a non-empty 1-d sample [seeds], got shape {x.shape}")
    point, lo, hi = bootstrap_ci(x, statistic, N_BOOT, 0.95, seed)
    return Estimate(point, lo, hi, x.size)


@dataclasses.dataclass(frozen=True)
class Check:
    """One comparison's outcome: a verdict (one of :data:`VERDICTS`) and a computed sentence."""

    verdict: str
    detail: str

    def __post_init__(self) -> None:
        _check_verdict(self.verdict)


def _check_verdict(v: str) -> None:
    if v not in VERDICTS:
        raise ValueError(f"verdict {v!r} is not one of {VERDICTS}")


def ci_relation(a: Estimate, b: Estimate) -> str:
    """``"above"``, ``"below"`` (disjoint CIs) or ``"not distinguishable from"`` (overlap)."""
    return "above" if a.lo > b.hi else "below" if a.hi < b.lo else "not distinguishable from"


def ci_greater(a_name: str, a: Estimate, b_name: str, b: Estimate) -> Check:
    """Rule "CI of a lies above CI of b": ``reproduced`` when ``a.lo > b.hi``; ``partial`` when
    only the point estimate is above (CIs overlap); otherwise ``not reproduced``."""
    rel = ci_relation(a, b)
    if rel == "above":
        v = "reproduced"
    elif a.point > b.point and rel != "below":
        v = "partial"
    else:
        v = "not reproduced"
    return Check(v, f"{a_name} {a.fmt()} is {rel} {b_name} {b.fmt()}")


Limit = Literal["lo", "hi"]
Op = Literal["<", "<=", ">", ">="]
_OPS = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}


def ci_bound(name: str, e: Estimate, limit: Limit, op: Op, bound: float) -> Check:
    """Rule "the CI's ``limit`` (lower or upper) ``op`` ``bound``", e.g. ``ci_bound("s", s, "hi",
    "<", 0.5)``: the whole CI of a normalised score below 0.5. An undefined (nan) limit is
    ``not testable``."""
    if limit not in ("lo", "hi"):
        raise ValueError(f"limit={limit!r}; expected 'lo' or 'hi'")
    if op not in _OPS:
        raise ValueError(f"op={op!r}; expected one of {sorted(_OPS)}")
    x = getattr(e, limit)
    which = "upper" if limit == "hi" else "lower"
    if math.isnan(x):
        return Check("not testable", f"{name} {e.fmt()}: the CI's {which} limit is undefined")
    ok = _OPS[op](x, float(bound))
    detail = f"{name} {e.fmt()}: its {which} limit {x:.3g} is {'' if ok else 'not '}{op} {bound:g}"
    return Check("reproduced" if ok else "not reproduced", detail)


def combine(checks: Mapping[str, Check], need: int | Literal["all"] = "all") -> Check:
    """Several checks (e.g. one per task) under "every one" (``need="all"``) or "at least
    ``need``": ``reproduced`` when enough are reproduced; ``partial`` when some (but not enough)
    are reproduced or partial; ``not reproduced`` when none; ``not testable`` when every check is
    (or there is none)."""
    if need != "all" and (not isinstance(need, int) or need < 1):
        raise ValueError(f"need={need!r}; expected 'all' or an int >= 1")
    testable = {k: c for k, c in checks.items() if c.verdict != "not testable"}
    if not testable:
        return Check("not testable", f"no testable case ({len(checks)} untestable)")
    k = len(testable) if need == "all" else need
    n_ok = sum(c.verdict == "reproduced" for c in testable.values())
    n_part = sum(c.verdict == "partial" for c in testable.values())
    v = "reproduced" if n_ok >= k else "partial" if n_ok + n_part > 0 else "not reproduced"
    detail = f"{n_ok} of {len(testable)} reproduced (need {k}): " + "; ".join(
        f"{name}: {c.detail}" for name, c in testable.items()
    )
    return Check(v, detail)


@dataclasses.dataclass(frozen=True)
class Claim:
    """One paper claim tested on our data.

    Attributes:
      id: ``"<experiment>.<tag>"``, e.g. ``"barfi.a"``.
      experiment: the experiment package that measured it.
      paper: the paper, e.g. ``"BARFI (Gupta et al., NeurIPS'23)"``.
      statement: the claim in one sentence.
      quantities: name -> :class:`Estimate` (the measured numbers with 95% CIs).
      rule: the verdict rule in words.
      verdict: one of :data:`VERDICTS`.
      detail: one sentence computed from the quantities.
    """

    id: str
    experiment: str
    paper: str
    statement: str
    quantities: Mapping[str, Estimate]
    rule: str
    verdict: str
    detail: str

    def __post_init__(self) -> None:
        for f in ("id", "experiment", "paper", "statement", "rule", "verdict", "detail"):
            v = getattr(self, f)
            if not isinstance(v, str):
                got = f"{type(v).__name__} {str(v)[:60]!r}"
                raise TypeError(f"claim field {f!r} is {got}; expected str")
        _check_verdict(self.verdict)
        if not self.id.startswith(self.experiment + "."):
            raise ValueError(f"claim id {self.id!r} must start with {self.experiment + '.'!r}")
        for k, q in self.quantities.items():
            if not isinstance(q, Estimate):
                raise TypeError(f"claim {self.id!r}: quantity {k!r} is {type(q).__name__}, "
                                "expected an Estimate")  # fmt: skip

    @classmethod
    def from_check(
        cls,
        id: str,
        experiment: str,
        paper: str,
        statement: str,
        quantities: Mapping[str, Estimate],
        rule: str,
        check: Check,
    ) -> Claim:
        """The claim whose verdict and detail are ``check``'s."""
        q = dict(quantities)
        return cls(id, experiment, paper, statement, q, rule, check.verdict, check.detail)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["quantities"] = {k: q.to_json() for k, q in self.quantities.items()}
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Claim:
        q = {k: Estimate.from_json(v) for k, v in d["quantities"].items()}
        fields = {f.name for f in dataclasses.fields(cls)} - {"quantities"}
        return cls(quantities=q, **{k: d[k] for k in fields})


def claims_caption(claims: Iterable[Claim]) -> str:
    """Caption lines, one per claim: ``"[id] VERDICT: statement (rule). detail."`` All text
    besides the declared statement and rule is computed from the measured quantities."""
    return "\n".join(
        f"[{c.id}] {c.verdict.upper()}: {c.statement} (rule: {c.rule}). {c.detail}." for c in claims
    )


def read_claims(path: str | os.PathLike) -> dict[str, Any]:
    """``claims.json`` as ``{experiment: {"claims": [Claim, ...], ...}}`` (empty if absent).

    Raises:
      ValueError: the file is not valid JSON or an entry is malformed (names the file).
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text())
        return {
            exp: {**entry, "claims": [Claim.from_json(c) for c in entry["claims"]]}
            for exp, entry in raw.items()
        }
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} is not a valid claims file: {type(e).__name__}: {e}") from None


def write_claims(
    out: str | os.PathLike,
    experiment: str,
    claims: Sequence[Claim],
    *,
    figures: Sequence[str | os.PathLike] = (),
    runs: Sequence[Any] = (),
    budget: str = "",
) -> Path:
    """Merge ``experiment``'s claims into ``<out>/claims.json``, replacing only its entry.

    Args:
      out: the figures folder (``paper_figures/out``).
      experiment: the key; every claim's ``experiment`` must equal it.
      claims: the claims (ids unique).
      figures: the PNGs the figure script wrote (stored by file name, relative to ``out``).
      runs: the :class:`~jaxrl.experiment.results.RunDir` s the figures read (stored as paths).
      budget: the training budget in words, for the report.

    Returns:
      The path of ``claims.json`` (written atomically: temp file, fsync, rename).
    """
    for c in claims:
        if c.experiment != experiment:
            raise ValueError(f"claim {c.id!r} belongs to {c.experiment!r}, not {experiment!r}")
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate claim ids in {ids}")
    path = Path(out) / CLAIMS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    # Figure scripts of experiments that run side by side (paper_figures.reproduce --jobs) merge
    # into the same file: the read-modify-write holds an exclusive lock so no entry is lost.
    with open(path.parent / ".claims.lock", "a") as lock:  # not a temp file: it stays
        fcntl.flock(lock, fcntl.LOCK_EX)
        raw = json.loads(path.read_text()) if path.is_file() else {}
        raw[experiment] = {
            "claims": [c.to_json() for c in claims],
            "figures": [Path(f).name for f in figures],
            "runs": [str(getattr(r, "path", r)) for r in runs],
            "budget": budget,
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        return atomic_write_json(path, raw)
