"""The reproduction report: theory checks, per-experiment figures and claims, budgets, provenance.

    python -m paper_figures.report [--results results] [--out paper_figures/out]

Reads what ``make reproduce`` leaves in ``--out`` (``theory_checks.json``, ``claims.json``
written by the figure scripts through :func:`jaxrl.experiment.claims.write_claims`, the PNGs and
``wall_times.txt``) and the runs in ``--results``, and writes two files into ``--out``:

* ``report.html``: self-contained (inline CSS, no scripts, no external assets); figures are
  relative ``<img>`` links to the PNGs beside it;
* ``REPORT.md``: the same content in Markdown, with the same relative image links.

Per experiment: its figures (``<experiment>*.png``), its claims (id, statement, quantities with
95% CIs, rule, verdict), the budget, profile and seeds of its runs and the wall time. Runs come
from the experiment's ``claims.json`` entry (the runs its figure read); an experiment without one
falls back to the runs of its newest finished invocation (same command line). Wall times: from
``wall_times.txt`` (``make reproduce`` times each experiment and its figure) when present, and
per run from ``provenance.json``'s start time to the ``DONE`` stamp.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaxrl.experiment import plotting
from jaxrl.experiment.claims import CLAIMS_FILE, Claim, read_claims
from jaxrl.experiment.provenance import git_info, package_versions
from jaxrl.experiment.results import ResultsStore, RunDir, atomic_write_bytes

#: ``make reproduce``'s order; experiments found only in claims.json follow
EXPERIMENTS = (
    "ppo_classic",
    "pbrs",
    "barfi",
    "orpo_tomato",
    "rlhf_shaping",
    "lipschitz_gail",
    "preference_rms",
    "exploration_rewards",
    "process_rewards",
)
THEORY = "theory_checks.json"
WALL_TIMES = "wall_times.txt"
_BUDGET_KEY = re.compile(r"(total_timesteps|_steps|_episodes)$")
_NOT_BUDGET = {"num_steps", "eval_steps", "base_num_steps", "exact_steps"}


def _iso(s: str) -> _dt.datetime:
    t = _dt.datetime.fromisoformat(s.strip())
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def _find(d: Any, key: str) -> Any:
    """The first value of ``key`` in a nested config (depth first), or ``None``."""
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


def run_info(run: RunDir) -> dict[str, Any]:
    """Profile (from the command line), seeds, wall seconds (start -> DONE), device, commit."""
    prov, cfg = run.provenance, run.config
    cmd = list(prov.get("command", []))
    profile = cmd[cmd.index("--profile") + 1] if "--profile" in cmd[:-1] else "default"
    done = run.done_time()
    wall = (_iso(done) - _iso(prov["start_time"])).total_seconds() if done else None
    jx = prov.get("jax", {})
    return {
        "run": f"{run.experiment}/{run.run_id}",
        "profile": profile,
        "seeds": _find(cfg, "seeds"),
        "wall_s": wall,
        "device": f"{jx.get('backend', '?')} ({', '.join(jx.get('device_kinds', []))})",
        "commit": (prov.get("git") or {}).get("commit"),
        "dirty": (prov.get("git") or {}).get("dirty"),
        "config": cfg,
    }


def fallback_runs(store: ResultsStore, experiment: str) -> list[RunDir]:
    """The finished runs of ``experiment``'s newest invocation (same command line as its newest
    finished run)."""
    done = plotting.usable_runs(store, experiment)
    if not done:
        return []
    newest = max(done, key=lambda r: r.done_time() or "")
    cmd = newest.provenance.get("command")
    return [r for r in done if r.provenance.get("command") == cmd]


def generic_budget(configs: Sequence[dict[str, Any]]) -> str:
    """``key value`` of every integer budget field (``*_steps``, ``*_episodes``,
    ``total_timesteps``) in the runs' configs, for an experiment that states no budget."""
    found: dict[str, set[int]] = {}

    def walk(d: Any) -> None:
        if isinstance(d, dict):
            for k, v in d.items():
                if isinstance(v, int) and _BUDGET_KEY.search(k) and k not in _NOT_BUDGET:
                    found.setdefault(k, set()).add(v)
                walk(v)

    for c in configs:
        walk(c)
    return "; ".join(f"{k} {', '.join(f'{v:,}' for v in sorted(vs))}" for k, vs in found.items())


def read_wall_times(out: Path) -> tuple[dict[str, float], int | None]:
    """``experiment seconds`` lines of ``wall_times.txt`` (the last line of an experiment wins)
    and the number of experiments that ran at a time (its ``# jobs N`` line; ``None`` without)."""
    path = out / WALL_TIMES
    times, jobs = {}, None
    if path.is_file():
        for i, line in enumerate(path.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                if parts[0] == "#":
                    jobs = int(parts[2]) if parts[1:2] == ["jobs"] else jobs
                else:
                    times[parts[0]] = float(parts[1])
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}:{i}: expected 'experiment seconds' or '# jobs N', got {line!r}"
                ) from None
    return times, jobs


def collect(out: str | Path, results: str | Path) -> dict[str, Any]:
    """Everything the report shows, as plain data."""
    out, store = Path(out), ResultsStore(results)
    entries = read_claims(out / CLAIMS_FILE)
    walls, jobs = read_wall_times(out)
    theory_path = out / THEORY
    theory = None
    if theory_path.is_file():
        theory = json.loads(theory_path.read_text())
    names = [*EXPERIMENTS, *(e for e in entries if e not in EXPERIMENTS)]
    experiments = []
    for name in names:
        entry = entries.get(name, {})
        if entry.get("runs"):
            runs = [RunDir(Path(p)) for p in entry["runs"] if Path(p).is_dir()]
        else:
            runs = fallback_runs(store, name)
        figures = sorted(p.name for p in out.glob(f"{name}*.png"))
        if not (runs or figures or entry):
            continue
        infos = [run_info(r) for r in runs]
        experiments.append({
            "name": name,
            "figures": figures,
            "claims": entry.get("claims", []),
            "declared": name in entries,
            "budget": entry.get("budget") or generic_budget([i["config"] for i in infos]),
            "runs": infos,
            "make_wall_s": walls.get(name),
            "make_jobs": jobs,
        })  # fmt: skip
    devices = sorted({i["device"] for e in experiments for i in e["runs"]})
    commits = sorted({str(i["commit"]) for e in experiments for i in e["runs"]})
    return {
        "generated": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "git": git_info(),
        "versions": package_versions(),
        "devices": devices,
        "run_commits": commits,
        "theory": theory,
        "experiments": experiments,
    }


# ---------------------------------------------------------------------------------- rendering


def _secs(s: float | None) -> str:
    return "-" if s is None else f"{s:.0f} s ({s / 60:.1f} min)"


def _quantities(c: Claim) -> list[str]:
    return [f"{k}: {q.fmt()} (n={q.n})" for k, q in c.quantities.items()]


def _make_wall_label(jobs: int | None) -> str:
    label = "wall time, make reproduce (experiment + figure)"
    return label if not jobs or jobs == 1 else f"{label}, {jobs} experiments at a time"


def _summary(e: dict[str, Any]) -> list[tuple[str, str]]:
    runs = e["runs"]
    profiles = sorted({str(r["profile"]) for r in runs}) or ["-"]
    seeds = sorted({str(r["seeds"]) for r in runs}) or ["-"]
    run_wall = sum(r["wall_s"] for r in runs if r["wall_s"] is not None) if runs else None
    return [
        ("profile", ", ".join(profiles)),
        ("budget", e["budget"] or "-"),
        ("seeds", ", ".join(seeds)),
        (_make_wall_label(e.get("make_jobs")), _secs(e["make_wall_s"])),
        (f"wall time, sum over its {len(runs)} runs (start to DONE)", _secs(run_wall)),
        ("runs", ", ".join(r["run"] for r in runs) or "-"),
    ]


def _theory_rows(theory: list[dict[str, Any]]) -> list[list[str]]:
    f = lambda x: "-" if x is None else f"{x:.2e}"
    rows = []
    for t in theory:
        kills = ", ".join(f"{m['name']} {m['kill_rate']:.2f}" for m in t.get("mutations", []))
        rows.append([t["name"], "pass" if t["passed"] else "FAIL", str(t["cases"]),
                     f(t["worst_error"]), f(t["tolerance"]), kills or "-"])  # fmt: skip
    return rows


THEORY_HEAD = ["check", "result", "cases", "worst error", "tolerance", "mutations (kill rate)"]
CLAIM_HEAD = ["id", "statement", "quantities (point [95% CI])", "rule", "verdict", "detail"]


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows),
    ]


def _claim_row(c: Claim) -> list[str]:
    return [c.id, c.statement, "; ".join(_quantities(c)), c.rule, c.verdict, c.detail]


def render_md(data: dict[str, Any]) -> str:
    lines = ["# Reproduction report", "", f"Generated {data['generated']}.", ""]
    lines += ["## Claims", ""]
    allc = [c for e in data["experiments"] for c in e["claims"]]
    lines += _md_table(["id", "paper", "verdict"], [[c.id, c.paper, c.verdict] for c in allc])
    lines += ["", "## Theory checks", ""]
    if data["theory"] is None:
        lines.append(f"No `{THEORY}` (run `python -m theory_checks --json`).")
    else:
        lines += _md_table(THEORY_HEAD, _theory_rows(data["theory"]))
    for e in data["experiments"]:
        lines += ["", f"## {e['name']}", ""]
        lines += [f"- {k}: {v}" for k, v in _summary(e)]
        lines.append("")
        lines += [f"![{f}]({f})" for f in e["figures"]] or ["No figure."]
        lines.append("")
        if e["claims"]:
            lines += _md_table(CLAIM_HEAD, [_claim_row(c) for c in e["claims"]])
        else:
            lines.append("No claims declared." if e["declared"] else "Claims not yet declared.")
    lines += ["", "## Provenance", ""] + [f"- {k}: {v}" for k, v in _provenance(data)]
    return "\n".join(lines) + "\n"


def _provenance(data: dict[str, Any]) -> list[tuple[str, str]]:
    g = data["git"]
    versions = ", ".join(f"{k} {v}" for k, v in data["versions"].items() if v)
    return [
        ("commit (report)", f"{g['commit']}{' (dirty tree)' if g['dirty'] else ''}"),
        ("commits (runs)", ", ".join(data["run_commits"]) or "-"),
        ("packages", versions),
        ("device (runs)", ", ".join(data["devices"]) or "-"),
    ]


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:.5em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f2f2f2}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
.v-reproduced{background:#d9f2d9}.v-partial{background:#fff3c4}
.v-not-reproduced{background:#f8d0d0}.v-not-testable{background:#e6e6e6}
.fail{color:#b00;font-weight:bold}dt{font-weight:bold}code{font-size:12px}"""


def _h(s: Any) -> str:
    return html.escape(str(s))


def _html_table(head: list[str], rows: list[list[str]], cls: list[str] | None = None) -> str:
    th = "".join(f"<th>{_h(c)}</th>" for c in head)
    body = "".join(
        f"<tr{f' class={chr(34)}{cls[i]}{chr(34)}' if cls else ''}>"
        + "".join(f"<td>{_h(c)}</td>" for c in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def _vcls(c: Claim) -> str:
    return "v-" + c.verdict.replace(" ", "-")


def render_html(data: dict[str, Any]) -> str:
    allc = [c for e in data["experiments"] for c in e["claims"]]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Reproduction report</title><style>{CSS}</style></head><body>",
        f"<h1>Reproduction report</h1><p>Generated {_h(data['generated'])}.</p>",
        "<h2>Claims</h2>",
        _html_table(
            ["id", "paper", "verdict"],
            [[c.id, c.paper, c.verdict] for c in allc],
            [_vcls(c) for c in allc],
        ),  # fmt: skip
        "<h2>Theory checks</h2>",
    ]
    if data["theory"] is None:
        parts.append(f"<p>No <code>{THEORY}</code> (run <code>python -m theory_checks --json"
                     "</code>).</p>")  # fmt: skip
    else:
        rows = _theory_rows(data["theory"])
        parts.append(
            _html_table(THEORY_HEAD, rows, ["" if r[1] == "pass" else "fail" for r in rows])
        )
    for e in data["experiments"]:
        parts.append(f"<h2 id='{_h(e['name'])}'>{_h(e['name'])}</h2><dl>")
        parts += [f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in _summary(e)]
        parts.append("</dl>")
        parts += [f"<figure><img src='{_h(f)}' alt='{_h(f)}'><figcaption>{_h(f)}</figcaption>"
                  "</figure>" for f in e["figures"]] or ["<p>No figure.</p>"]  # fmt: skip
        if e["claims"]:
            rows = [_claim_row(c) for c in e["claims"]]
            parts.append(_html_table(CLAIM_HEAD, rows, [_vcls(c) for c in e["claims"]]))
        else:
            parts.append("<p>No claims declared.</p>" if e["declared"] else
                         "<p>Claims not yet declared.</p>")  # fmt: skip
    parts.append("<h2>Provenance</h2><dl>")
    parts += [f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in _provenance(data)]
    parts.append("</dl></body></html>")
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> list[Path]:
    args = plotting.figure_args(__doc__, argv)
    out = Path(args.out)
    data = collect(out, args.results)
    paths = [
        atomic_write_bytes(out / "report.html", render_html(data).encode()),
        atomic_write_bytes(out / "REPORT.md", render_md(data).encode()),
    ]
    for p in paths:
        print(f"wrote {p}")
    return paths


if __name__ == "__main__":
    main()
