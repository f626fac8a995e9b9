"""``paper_figures.reproduce``: jobs side by side, longest first, wall times for the report, the
first failure stops the rest; ``write_claims`` from concurrent processes loses no entry."""

import multiprocessing as mp
import os
import sys
from pathlib import Path

import pytest

from jaxrl.experiment.claims import Claim, Estimate, read_claims, write_claims
from paper_figures import reproduce
from paper_figures.report import EXPERIMENTS, read_wall_times


def fake_commands(script: dict[str, str]):
    """``commands`` replaced by one ``python -c`` per job (its code from ``script``)."""
    return lambda name, profile, out: [[sys.executable, "-c", script[name]]]


def test_every_job_has_an_expected_time_and_the_longest_starts_first():
    assert set(EXPERIMENTS) | {"theory_checks"} == set(reproduce.EXPECTED_S)
    order = reproduce.schedule(["ppo_classic", "barfi", "new_one", "lipschitz_gail"])
    assert order == ["lipschitz_gail", "barfi", "ppo_classic", "new_one"]


def test_jobs_run_side_by_side_and_record_wall_times(tmp_path, monkeypatch):
    # Each job sleeps 1 s; 4 jobs 2 at a time take ~2 s (4 s one after the other).
    script = {n: "import time; time.sleep(1.0); print('ran')" for n in "abcd"}
    monkeypatch.setattr(reproduce, "commands", fake_commands(script))
    import time

    t0 = time.monotonic()
    assert reproduce.run(list("abcd"), "quick", 2, tmp_path, poll_s=0.05) == 0
    elapsed = time.monotonic() - t0
    assert elapsed < 3.5, elapsed
    times, jobs = read_wall_times(tmp_path)
    assert jobs == 2 and set(times) == set("abcd")
    assert all(0.9 <= t <= 3.0 for t in times.values()), times
    assert "ran" in (tmp_path / "logs" / "a.log").read_text()


def test_a_failing_job_stops_the_others_and_shows_its_log(tmp_path, monkeypatch, capsys):
    script = {
        "slow": "import time; time.sleep(30)",
        "bad": "import sys; print('the reason'); sys.exit(3)",
        "later": "print('never')",
    }
    monkeypatch.setattr(reproduce, "EXPECTED_S", {"slow": 2, "bad": 1})
    monkeypatch.setattr(reproduce, "commands", fake_commands(script))
    assert reproduce.run(["slow", "bad", "later"], "quick", 2, tmp_path, poll_s=0.05) == 1
    out = capsys.readouterr().out
    assert "bad failed (exit 3)" in out and "the reason" in out
    assert not (tmp_path / "logs" / "later.log").exists()
    times, _ = read_wall_times(tmp_path)
    assert times == {}


def test_one_core_per_job_slot_only_when_they_match():
    cpus = sorted(os.sched_getaffinity(0))
    assert reproduce.cpu_slots(len(cpus)) == ([{c} for c in cpus] if len(cpus) > 1 else None)
    assert reproduce.cpu_slots(len(cpus) + 1) is None
    assert reproduce.cpu_slots(1) is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable CPUs")
def test_pinned_slots_and_the_last_job_is_unpinned(tmp_path, monkeypatch, capsys):
    # Two slots on two CPUs; once "short" ends and nothing waits, "long" (each of its threads)
    # may use both.
    a, b = sorted(os.sched_getaffinity(0))[:2]
    ready = tmp_path / "long_started"  # "short" ends only after "long" has started its thread
    show = "import os, time; print('cpus', sorted(os.sched_getaffinity(0)), flush=True)"
    thread = "import threading; t = threading.Thread(target=time.sleep, args=(3,)); t.start()"
    threads = "print('thread', sorted(os.sched_getaffinity(t.native_id)), flush=True)"
    script = {
        "long": f"{show}; {thread}; open({str(ready)!r}, 'w').close(); time.sleep(2); {show}; "
        + threads,
        "short": f"{show}\nwhile not os.path.exists({str(ready)!r}): time.sleep(0.02)",
    }
    monkeypatch.setattr(reproduce, "EXPECTED_S", {"long": 2, "short": 1})
    monkeypatch.setattr(reproduce, "commands", fake_commands(script))
    monkeypatch.setattr(reproduce, "cpu_slots", lambda jobs: [{a}, {b}])
    assert reproduce.run(["short", "long"], "quick", 2, tmp_path, poll_s=0.05, pin=True) == 0
    assert "unpin long" in capsys.readouterr().out
    long_log = (tmp_path / "logs" / "long.log").read_text().splitlines()
    assert long_log[1:] == [f"cpus [{a}]", f"cpus [{a}, {b}]", f"thread [{a}, {b}]"]
    assert (tmp_path / "logs" / "short.log").read_text().splitlines()[-1] == f"cpus [{b}]"


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="--jobs must be >= 1, got 0"):
        reproduce.run(["pbrs"], "quick", 0, tmp_path)
    with pytest.raises(SystemExit):
        reproduce.main(["--only", "no_such_experiment"])


def test_the_command_line_reaches_the_runner(tmp_path, monkeypatch):
    # what `make reproduce` calls: every flag lands in run() (a missing one broke it once)
    seen = []
    monkeypatch.setattr(reproduce, "run", lambda *a, **kw: seen.append((a, kw)) or 0)
    assert reproduce.main(["--only", "pbrs", "--jobs", "3", "--out", str(tmp_path)]) == 0
    assert reproduce.main(["--profile", "paper", "--pin"]) == 0
    assert reproduce.main(["--no-pin"]) == 0
    monkeypatch.setenv("REPRODUCE_PIN", "0")
    assert reproduce.main([]) == 0
    (a1, kw1), (a2, kw2), (_, kw3), (_, kw4) = seen
    assert a1 == (["pbrs"], "quick", 3, tmp_path) and kw1 == {"pin": True}  # pinned by default
    assert a2[0][0] == "theory_checks" and a2[1] == "paper" and kw2 == {"pin": True}
    assert kw3 == kw4 == {"pin": False}


def _write_many(out: str, experiment: str, n: int) -> None:
    for i in range(n):
        q = {"x": Estimate(i, i, i, 1)}
        claim = Claim(
            f"{experiment}.c", experiment, "paper", "a claim", q, "rule", "reproduced", "-"
        )
        write_claims(Path(out), experiment, [claim])


@pytest.mark.heavy
def test_concurrent_claim_writers_lose_no_entry(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), f"e{k}", 15)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    entries = read_claims(tmp_path / "claims.json")
    assert set(entries) == {"e0", "e1", "e2"}
