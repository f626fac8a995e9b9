"""paper_figures/report.py on a tiny fake results/out folder: every figure and every claim id
appears in report.html and REPORT.md, with budget, seeds, profile and wall time of the runs."""

from __future__ import annotations

import json

from experiment_helpers import ROOT, load_script

from jaxrl.experiment.claims import Claim, Estimate, write_claims
from jaxrl.experiment.results import RunDir, atomic_write_json

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32  # never decoded: the report only links it


def fake_run(results, experiment: str, run_id: str, seeds: int, secs: int, cmd) -> RunDir:
    run = RunDir(results / experiment / run_id)
    cfg = {"experiment": {"seeds": seeds, "cartpole_steps": 4096}}
    atomic_write_json(run.path / "config.json", cfg)
    atomic_write_json(run.path / "provenance.json", {
        "command": cmd, "start_time": "2026-12-02T10:00:00+00:00",
        "git": {"commit": "abc123", "dirty": False},
        "jax": {"backend": "cpu", "device_kinds": ["cpu"]},
    })  # fmt: skip
    (run.path / "metrics.npz").write_bytes(b"")
    (run.path / "DONE").write_text(f"2026-12-02T10:{secs // 60:02d}:{secs % 60:02d}+00:00\n")
    return run


def claim(exp: str, tag: str, verdict: str) -> Claim:
    q = {"final return": Estimate(96.2, 56.4, 143.3, 4)}
    return Claim(f"{exp}.{tag}", exp, "Paper", f"{tag} holds.", q, "lower CI limit >= 475",
                 verdict, "computed detail")  # fmt: skip


def test_report_holds_every_figure_and_claim(tmp_path):
    report = load_script(ROOT / "paper_figures" / "report.py")
    results, out = tmp_path / "results", tmp_path / "out"
    out.mkdir()
    figures = ["ppo_classic.png", "barfi_curves.png", "barfi_table.png", "pbrs.png"]
    for f in figures:
        (out / f).write_bytes(PNG)
    cmd = ["x", "--profile", "quick"]
    ppo = fake_run(results, "ppo_classic", "r1", 4, 150, cmd)
    barfi = [fake_run(results, "barfi", f"b{i}", 5, 60, ["y"]) for i in range(2)]
    fake_run(results, "pbrs", "p1", 7, 90, ["z", "--profile", "paper"])  # no claims declared
    claims = {
        "ppo_classic": [claim("ppo_classic", "cartpole", "not reproduced")],
        "barfi": [claim("barfi", "a", "reproduced"), claim("barfi", "c.barfi_fo", "partial")],
    }
    write_claims(out, "ppo_classic", claims["ppo_classic"], figures=[out / figures[0]],
                 runs=[ppo], budget="CartPole-v1: 4,096 env steps per seed")  # fmt: skip
    write_claims(out, "barfi", claims["barfi"], figures=figures[1:3], runs=barfi)
    theory = [{"name": "pbrs_invariance", "passed": True, "cases": 50, "worst_error": 1e-12,
               "tolerance": 1e-9, "mutations": [{"name": "drop_gamma", "kill_rate": 1.0}]},
              {"name": "broken_check", "passed": False, "cases": 3, "worst_error": 0.5,
               "tolerance": 1e-9, "mutations": []}]  # fmt: skip
    (out / "theory_checks.json").write_text(json.dumps(theory))
    (out / "wall_times.txt").write_text("ppo_classic 171\nbarfi 300\n")

    html_path, md_path = report.main(["--results", str(results), "--out", str(out)])
    html, md = html_path.read_text(), md_path.read_text()
    assert html_path == out / "report.html" and md_path == out / "REPORT.md"
    for f in figures:
        assert f"<img src='{f}'" in html and f"]({f})" in md
    for c in (c for cs in claims.values() for c in cs):
        for text in (html, md):
            assert c.id in text and c.verdict in text and c.statement in text
    assert "96.20 [56.40, 143.30] (n=4)" in md and "lower CI limit &gt;= 475" in html
    for name in ("pbrs_invariance", "drop_gamma 1.00", "broken_check", "FAIL"):
        assert name in md and name in html
    # budget, seeds, profile and wall times from the runs and wall_times.txt
    assert "CartPole-v1: 4,096 env steps per seed" in md
    assert "- seeds: 4" in md and "- profile: quick" in md and "171 s (2.9 min)" in md
    assert "150 s (2.5 min)" in md  # ppo's run: start 10:00:00, DONE 10:02:30
    assert "120 s (2.0 min)" in md  # barfi: two runs of 60 s
    # pbrs: no claims.json entry; its run found from the results folder, its budget generic
    pbrs = md.split("## pbrs")[1].split("## ")[0]
    assert "Claims not yet declared" in pbrs and "- profile: paper" in pbrs
    assert "- seeds: 7" in pbrs and "cartpole_steps 4,096" in pbrs and "90 s" in pbrs
    # self-contained: no scripts, no external links
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "abc123" in md and "cpu (cpu)" in md
