"""``make reproduce``: the theory checks and every experiment (run, then its figure), ``--jobs`` at
a time, each in its own process with its output in ``<out>/logs/<name>.log``.

    python -m paper_figures.reproduce [--profile quick] [--jobs 2] [--only pbrs barfi]

Two at a time gains less than one might hope, because an experiment alone already keeps both
cores of the CI machine partly busy (XLA:CPU runs independent thunks on both): measured on a
fresh clone with cold caches, ``make reproduce`` took 29 min 22 s with 2 jobs against 32 min 33 s
one after the other (session 26), each job 1.3-2.2x slower than alone, with the same 93 claims,
verdicts and details. The README has the times.

Each job slot is pinned to its own core where there are exactly as many usable CPUs as jobs
(:func:`cpu_slots`; ``--no-pin`` or ``REPRODUCE_PIN=0`` turns it off), and a job left running
alone once nothing is waiting is unpinned (every thread) so that it gets both cores again. Two
copies of one quick experiment side by side, as the two jobs run here, cold caches, alternating
(session 34, 2-core CPU): ``rlhf_shaping`` 130, 131 / 124, 124 s pinned against 135, 136 /
141, 138 s unpinned; pinned, each XLA program stops handing work across the cores (for one job
alone, two cores are faster: PBRS 83 s unpinned against 103 s on one core, hence the unpinning;
session 27: one BARFI run beside Lipschitz-GAIL 492 s pinned against 517 s unpinned).
Each experiment is its own deterministic process, and the shared outputs are written safely
(``claims.json`` under a file lock, every file atomically). But XLA compiles some programs
differently when the process may use one CPU rather than two, so pinned and unpinned runs differ
in a few numbers, each bit-reproducible in its own setting (session 34: preference_rms's VPL alone,
pinned and unpinned, each equal to its ``make reproduce`` run, the two not; 7 of the 93 claims'
details and one verdict changed, README).

Jobs start longest first (``EXPECTED_S``, measured one at a time on the 2-core CI machine), so the
last to finish is a short one. Each job's wall time (experiment + figure, as it ran beside the
others) goes to ``<out>/wall_times.txt``, with a ``# jobs N`` header the report shows. The first
job that fails stops the others; its log's tail is printed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from paper_figures.report import EXPERIMENTS, THEORY, WALL_TIMES

#: Seconds each took alone in ``make reproduce`` (fresh clone, cold caches, 2-core CPU, session
#: 26); only the order of starting depends on them.
EXPECTED_S = {
    "lipschitz_gail": 446,
    "barfi": 364,
    "orpo_tomato": 259,
    "exploration_rewards": 216,
    "preference_rms": 161,
    "process_rewards": 130,
    "pbrs": 89,
    "theory_checks": 70,
    "rlhf_shaping": 60,
    "ppo_classic": 53,
}


def commands(name: str, profile: str, out: Path) -> list[list[str]]:
    """The commands of one job, run in order (the theory checks are one job of their own)."""
    py = sys.executable
    if name == "theory_checks":
        return [[py, "-m", "theory_checks", "--json", str(out / THEORY)]]
    return [
        [py, "-m", f"experiments.{name}", "--profile", profile],
        [py, "-m", f"paper_figures.{name}"],
    ]


def schedule(names: Sequence[str]) -> list[str]:
    """Longest expected first; unknown names last, in the given order."""
    return sorted(names, key=lambda n: -EXPECTED_S.get(n, 0))


class Job:
    """One experiment's commands, run one after the other in a background process chain."""

    def __init__(self, name: str, cmds: list[list[str]], log: Path, cpus: set[int] | None = None):
        self.name, self.cmds, self.log, self.cpus = name, list(cmds), log, cpus
        self.start, self.slot = time.monotonic(), 0
        self.file = open(log, "wb")  # noqa: SIM115  (closed in poll)
        self.proc = self._next()

    def unpin(self, cpus: set[int]) -> None:
        """Let this job (every thread of its running process, and its later commands) use
        ``cpus``."""
        self.cpus = None
        set_affinity(self.proc.pid, cpus)

    def _next(self) -> subprocess.Popen:
        cmd = self.cmds.pop(0)
        self.file.write(f"$ {' '.join(cmd)}\n".encode())
        self.file.flush()
        pin = None if self.cpus is None else (lambda: os.sched_setaffinity(0, self.cpus))
        return subprocess.Popen(cmd, stdout=self.file, stderr=subprocess.STDOUT, preexec_fn=pin)

    def poll(self) -> int | None:
        """``None`` while running; else the exit status (0 when every command succeeded)."""
        rc = self.proc.poll()
        if rc is None:
            return None
        if rc == 0 and self.cmds:
            self.proc = self._next()
            return None
        self.file.close()
        return rc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self.file.close()


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def set_affinity(pid: int, cpus: set[int]) -> None:
    """``sched_setaffinity`` for every thread of ``pid`` (a thread keeps the mask it was
    created with, so the process's own call would move only its main thread)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:  # the thread (or the process) has just ended
            pass


def cpu_slots(jobs: int) -> list[set[int]] | None:
    """One CPU per job slot when there are exactly as many usable CPUs as jobs (pinned, each
    job's XLA runs on its own core instead of handing work across cores); else ``None``."""
    cpus = sorted(os.sched_getaffinity(0))
    return [{c} for c in cpus] if jobs > 1 and len(cpus) == jobs else None


def run(
    names: Sequence[str],
    profile: str,
    jobs: int,
    out: Path,
    poll_s: float = 1.0,
    pin: bool = False,
) -> int:
    """Run every job, ``jobs`` at a time (pinned to a core each where :func:`cpu_slots` says so,
    until nothing is left to start); append each wall time to ``wall_times.txt``."""
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    slots = cpu_slots(jobs) if pin else None
    free = list(range(jobs))
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    walls = out / WALL_TIMES
    walls.write_text(f"# jobs {jobs}\n")
    todo, running, t0 = schedule(names), [], time.monotonic()
    while todo or running:
        while todo and len(running) < jobs:
            name, slot = todo.pop(0), free.pop(0)
            cpus = None if slots is None else slots[slot]
            job = Job(name, commands(name, profile, out), logs / f"{name}.log", cpus)
            job.slot = slot
            running.append(job)
            where = "" if cpus is None else f" on cpu {min(cpus)}"
            print(f"[{time.monotonic() - t0:6.0f} s] start {name}{where}", flush=True)
        time.sleep(poll_s)
        for job in list(running):
            rc = job.poll()
            if rc is None:
                continue
            running.remove(job)
            free.append(job.slot)
            secs = time.monotonic() - job.start
            if rc != 0:
                for other in running:
                    other.stop()
                print(f"{job.name} failed (exit {rc}); the end of {job.log}:\n{tail(job.log)}")
                return 1
            with walls.open("a") as f:
                f.write(f"{job.name} {secs:.0f}\n")
            print(f"[{time.monotonic() - t0:6.0f} s] done  {job.name} in {secs:.0f} s", flush=True)
        if slots is not None and not todo and len(running) < jobs:
            for job in running:
                if job.cpus is not None:
                    job.unpin(set().union(*slots))
                    print(f"[{time.monotonic() - t0:6.0f} s] unpin {job.name}", flush=True)
    print(f"all {len(names)} jobs done in {time.monotonic() - t0:.0f} s ({jobs} at a time)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", help="experiment profile (quick or paper)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("REPRODUCE_JOBS", 2)))
    ap.add_argument("--only", nargs="+", default=None, help="a subset of the jobs")
    ap.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("REPRODUCE_PIN", "1") != "0",
        help="pin each job slot to a core (cpu_slots; default on, REPRODUCE_PIN=0 for off)",
    )
    ap.add_argument("--out", default="paper_figures/out", type=Path)
    args = ap.parse_args(argv)
    known = ("theory_checks", *EXPERIMENTS)
    names = args.only or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        ap.error(f"unknown job(s) {unknown}; known: {', '.join(known)}")
    return run(names, args.profile, args.jobs, args.out, pin=args.pin)


if __name__ == "__main__":
    sys.exit(main())
