"""Seed sweeps: the config fields and run plumbing that every experiment script shares.

An experiment trains one jitted, vmapped program over a leading ``[groups · seeds]`` axis: each
group (a shaping variant, a λ of a regulariser grid, a method) runs on the *same* ``seeds`` PRNG
keys (common random numbers), group-major, so row ``g · seeds + i`` is group ``g``, seed ``i``.

    @dataclasses.dataclass(frozen=True)
    class MySweep(SeededSweep):
        seeds: int = 8
        \"\"\"independent training seeds per λ\"\"\"
        lambdas: tuple[float, ...] = (0.1, 1.0)

    cfg, store = sweep_cli({"quick": MySweep(), "paper": MySweep(seeds=64)}, __doc__, argv)
    keys = grid_keys(cfg.seed, cfg.seeds, len(cfg.lambdas))
    hp = hp._replace(aux_coef=per_seed(cfg.lambdas, cfg.seeds, np.float32)).broadcast(len(keys))
    run = open_run(store, "my_sweep", {"experiment": cfg.recorded()}, cfg, f"{len(keys)} runs")
    metrics = run_sweep(cfg, run, trainer, keys, hp)
    run.mark_done()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import Config, cli, config_hash
from jaxrl.experiment.results import ResultsStore, RunDir, _config_dict
from jaxrl.experiment.runner import enable_compilation_cache, run_chunked

S = TypeVar("S", bound="SweepConfig")

#: config fields that say where results go or how a run starts, not what it computes.
NOT_RECORDED = ("resume", "resume_or_new", "results", "tensorboard")


class NothingToResume(FileNotFoundError):
    """``--resume`` found no run of this config to continue (and ``--resume-or-new`` was not
    given); the message names the experiment directory and the unfinished runs that are there."""


@dataclasses.dataclass(frozen=True)
class SweepConfig(Config):
    """Base of the experiment configs: the seed axis and the results directory.

    Subclasses re-declare ``seeds`` to give their own default and help text (a re-declared field
    keeps its place: these fields come first in ``--help``), and call ``super().check()`` from
    their ``check``. Most scripts derive from :class:`SeededSweep`; one without a ``seed`` or a
    ``shard`` field derives from this class and declares the other itself, so that its recorded
    config (and with it ``config.json`` and the run ids' config hash) keeps exactly its fields.
    """

    seeds: int = 1
    """independent training seeds per setting (settings x seeds are one vmapped axis)"""
    results: str = "results"
    """results root directory"""
    resume: bool = False
    """continue the newest unfinished run with the same config from its last checkpoint; an
    error if this config has no run to continue (a changed flag changes the config)"""
    resume_or_new: bool = False
    """like --resume, but start a new run when there is nothing to continue"""
    tensorboard: bool = False
    """also write per-chunk metric means to <run>/tb/ (tensorboardX), from the host between
    chunks; not recorded in config.json"""

    def check(self) -> None:
        self.require(self.seeds > 0, "seeds", "must be positive")
        for f in dataclasses.fields(self):  # every PRNG seed field: `seed`, `testbed_seed`, ...
            if f.name == "seed" or f.name.endswith("_seed"):
                value = getattr(self, f.name)
                self.require(isinstance(value, bool) or value >= 0, f.name, "seeds must be >= 0")

    @property
    def resuming(self) -> bool:
        """``resume`` or ``resume_or_new``."""
        return self.resume or self.resume_or_new

    def recorded(self, *exclude: str) -> dict[str, Any]:
        """The fields that determine the numbers (``config.json``'s ``"experiment"``): all but
        ``results``, ``resume`` and ``exclude``."""
        drop = (*NOT_RECORDED, *exclude)
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in drop}

    def check_positive(self, *fields: str) -> None:
        """Require each named int/float field (or each element of a tuple field) to be >= 1."""
        for name in fields:
            value = getattr(self, name)
            ok = all(v >= 1 for v in value) if isinstance(value, tuple) else value >= 1
            self.require(ok, name, "must be >= 1")

    def check_nonnegative(self, *fields: str) -> None:
        """Require each named number field (or each element of a tuple field) to be >= 0."""
        for name in fields:
            value = getattr(self, name)
            ok = all(v >= 0 for v in value) if isinstance(value, tuple) else value >= 0
            self.require(ok, name, "must be >= 0")


@dataclasses.dataclass(frozen=True)
class SeededSweep(SweepConfig):
    """:class:`SweepConfig` plus a base PRNG seed and device sharding of the seed axis."""

    seed: int = 0
    """base PRNG seed (give each shard job of a multi-machine sweep its own)"""
    shard: bool = False
    """shard the (setting x seed) axis over all local devices"""


def sweep_cli(
    presets: Mapping[str, S], description: str | None, args: Sequence[str] | None = None
) -> tuple[S, ResultsStore]:
    """Parse ``--profile`` and overrides (:func:`~jaxrl.config.cli`), turn on the
    compilation cache and open the results store: ``(cfg, store)``."""
    cfg = cli(presets, description, args=args)
    enable_compilation_cache()
    return cfg, ResultsStore(cfg.results)


def grid_keys(seed: int, seeds: int, groups: int = 1) -> jax.Array:
    """Typed PRNG keys ``[groups · seeds]``, group-major: every group reuses the same ``seeds``
    keys split from ``key(seed)`` (common random numbers across the groups)."""
    return jnp.tile(jax.random.split(jax.random.key(seed), seeds), groups)


def per_seed(values: Any, seeds: int, dtype: Any = None) -> np.ndarray:
    """``values [groups, ...]`` -> ``[groups · seeds, ...]``: each group's row repeated ``seeds``
    times (group-major, matching :func:`grid_keys`)."""
    return np.repeat(np.asarray(values, dtype), seeds, axis=0)


def print_final(
    label: str, final: Any, metric: str = "true return", digits: int = 1, suffix: str = ""
) -> None:
    """Print ``label: final <metric> mean (min, max)`` of ``final [seeds]`` (last-chunk values)."""
    f = np.asarray(final)
    stats = f"mean {f.mean():.{digits}f} (min {f.min():.{digits}f}, max {f.max():.{digits}f})"
    print(f"{label}: final {metric} {stats}{suffix}", flush=True)


def broadcast_runs(tree: Any, n: int) -> Any:
    """Every leaf of ``tree`` with a new leading axis of ``n`` identical copies."""
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n, *jnp.shape(x))), tree)


def open_run(
    store: ResultsStore,
    experiment: str,
    run_config: Mapping[str, Any],
    cfg: SweepConfig,
    label: str | None = None,
    **create: Any,
) -> RunDir:
    """Create the run directory, or with ``cfg.resume`` reopen the newest unfinished one with
    the same config, and print what it does: ``[experiment] label -> path`` for a new run,
    ``resuming`` for a reopened one, ``already finished`` for a finished one (returned as it is;
    :func:`run_sweep` then loads its metrics instead of training).

    With ``cfg.resume``, a run of this config that does not exist yet is started only if another
    run of the same sweep (same ``run_config["experiment"]``) exists (the sweep was interrupted
    before reaching it) or with ``cfg.resume_or_new``; otherwise :class:`NothingToResume` is
    raised. ``create`` goes to :meth:`ResultsStore.create` (``run_id``, ``provenance_extra``).

    Raises:
      NothingToResume: ``--resume`` and no run of this config or sweep to continue.
      ValueError: resuming a run id whose saved config differs.
    """
    tag = f"[{experiment}] {label}" if label is not None else f"[{experiment}]"
    if not cfg.resuming:
        run = store.create(experiment, run_config, **create)
        if label is not None:
            print(f"{tag} -> {run.path}", flush=True)
        return run
    cfg_dict = _config_dict(run_config)
    h = config_hash(cfg_dict)
    same = [
        r
        for r in store.runs(experiment)
        if (r.run_id == create["run_id"] if create.get("run_id") else r.run_id.endswith(f"-{h}"))
    ]
    unfinished = [r for r in same if not r.is_done]
    finished = [r for r in same if r.is_done]
    if not unfinished and finished:
        run = finished[-1]
        if run.config != cfg_dict:
            raise ValueError(f"cannot resume {run.path}: its config.json differs")
        print(f"{tag}: already finished at {run.path} (DONE {run.done_time()}); not rerun")
        return run
    if unfinished:
        run = store.create(
            experiment,
            run_config,
            resume=True,
            run_id=unfinished[-1].run_id,
            **{k: v for k, v in create.items() if k != "run_id"},
        )
        print(f"{tag}: resuming {run.path} from its last checkpoint", flush=True)
        return run
    siblings = [r for r in store.runs(experiment) if _same_sweep(r, cfg_dict)]
    if not siblings and not cfg.resume_or_new:
        pending = [r.run_id for r in store.runs(experiment) if not r.is_done]
        rid = f" (run id {create['run_id']!r})" if create.get("run_id") else ""
        raise NothingToResume(
            f"--resume: no run of {experiment!r} under {store.root / experiment} has this config "
            f"(hash {h}){rid}; unfinished runs there: {pending or 'none'} (a changed flag "
            "changes the config). "
            "Pass --resume-or-new to start a new run instead."
        )
    run = store.create(experiment, run_config, **create)
    why = "part of a resumed sweep, not started before" if siblings else "nothing to resume"
    print(f"{tag}: {why}; new run -> {run.path}", flush=True)
    return run


def _same_sweep(run: RunDir, cfg_dict: Mapping[str, Any]) -> bool:
    """Whether ``run`` belongs to the same sweep (same recorded ``"experiment"`` config)."""
    if "experiment" not in cfg_dict:
        return False
    try:
        return run.config.get("experiment") == cfg_dict["experiment"]
    except (OSError, ValueError):
        return False


def run_sweep(
    cfg: SweepConfig | None,
    run: RunDir | None,
    program: Any,
    keys: Any,
    hparams: Any,
    *,
    num_chunks: int | None = None,
    init_batched: bool = False,
    **kwargs: Any,
) -> Any:
    """:func:`~jaxrl.experiment.runner.run_chunked` of ``jit(vmap(init))`` and ``jit(vmap(chunk))``
    over the leading run axis of ``keys`` and ``hparams``.

    Args:
      cfg: ``resume`` and ``shard`` come from it (both off without a config, or a config
        without a ``shard`` field).
      run: the run directory (:func:`open_run`), or ``None`` to run in memory.
      program: a trainer (anything with ``.init(key, hp)`` and ``.chunk(state, hp)``) or an
        ``(init, chunk)`` pair of such functions.
      keys, hparams: PRNG keys and hyperparameters with the leading run axis.
      num_chunks: chunks (checkpoints) of the whole run; default ``program.static.num_chunks``
        (the trainer's own, which its ``chunk`` is built for).
      init_batched: ``init`` already takes the whole ``[runs]`` axis and is used as it is.
      **kwargs: for ``run_chunked`` (``postfix_metric``, ``metrics_name``, ``schema``,
        ``return_state``...).
    """
    if hasattr(program, "init") and hasattr(program, "chunk"):
        init, chunk = program.init, program.chunk
    else:
        init, chunk = program
    if num_chunks is None:
        num_chunks = program.static.num_chunks
    kwargs.setdefault("resume", cfg is not None and cfg.resuming)
    if run is not None and run.is_done and not kwargs.get("return_state"):
        # a finished run (open_run under --resume): its stored metrics, nothing retrained
        return run.load_metrics(kwargs.get("metrics_name", "metrics"))
    kwargs.setdefault("shard", bool(getattr(cfg, "shard", False)))
    if getattr(cfg, "tensorboard", False) and run is not None:
        kwargs.setdefault("tensorboard", True)
    init_fn = init if init_batched else jax.jit(jax.vmap(init))
    return run_chunked(
        init_fn, jax.jit(jax.vmap(chunk)), keys, hparams, num_chunks=num_chunks, run=run, **kwargs
    )
