"""Results store: ``results/<experiment>/<run-id>/`` with config, provenance, metrics and DONE.

Layout of one run directory::

    config.json        the resolved config (JSON of the frozen dataclass, or the dict given)
    provenance.json    git commit/dirty, versions, device, flags, command line, start time
    <name>.npz         metric arrays, leading axis = seed
    <name>.schema.json the metrics' declared schema (names, dtypes, named axes), if one was given
    <name>.json        any extra JSON (summaries, evaluation tables)
    checkpoints/       orbax checkpoints written by ``run_chunked`` (latest 1-2 only)
    DONE               written last; figure scripts read only runs that have it

Every file is written atomically (temp file in the same directory, fsync, ``os.replace``), so a
crash leaves either the old file or the new one, never a torn one.

Several writers: each process or shard writes its *own* run directory, e.g. run ids
``<base>-shard0``, ``<base>-shard1``, ...; nothing is ever written concurrently to one directory.
After all shards are done, ``store.finished_runs(experiment, prefix=base)`` lists them and
:func:`merge_shards` concatenates their metrics along the seed axis.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from jaxrl.config import config_hash, to_json_dict
from jaxrl.experiment.provenance import collect_provenance
from jaxrl.experiment.schema import Metrics, Schema, SchemaError

DONE = "DONE"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not available on every platform, so best effort.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` atomically: ``write(f)`` into a temp file in the same dir, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically write ``data`` to ``path``."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (numpy scalars/arrays converted)."""

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    text = json.dumps(obj, indent=2, sort_keys=True, default=default) + "\n"
    return atomic_write_bytes(path, text.encode())


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"invalid name {name!r}: use letters, digits, '_', '-', '.'")


def _config_dict(config: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return to_json_dict(config)
    if isinstance(config, Mapping):
        return json.loads(json.dumps(dict(config)))  # normalise tuples -> lists, as on disk
    raise TypeError(f"config must be a dataclass instance or a mapping, got {type(config)}")


@dataclasses.dataclass(frozen=True)
class RunDir:
    """One run directory ``<root>/<experiment>/<run_id>/``."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def experiment(self) -> str:
        return self.path.parent.name

    @property
    def checkpoint_dir(self) -> Path:
        """Where ``run_chunked`` keeps orbax checkpoints."""
        return self.path / "checkpoints"

    @property
    def is_done(self) -> bool:
        return (self.path / DONE).exists()

    @property
    def config(self) -> dict[str, Any]:
        """The saved config as a JSON dict (rebuild a class with ``from_json_dict``)."""
        return self.read_json("config")

    @property
    def provenance(self) -> dict[str, Any]:
        return self.read_json("provenance")

    def write_metrics(
        self, name: str, arrays: Mapping[str, Any], *, schema: Schema | None = None
    ) -> Path:
        """Atomically write ``arrays`` (name -> array ``[seeds, ...]``) to ``<name>.npz``.

        With a ``schema``, the arrays are validated first (:meth:`Schema.validate`; nothing is
        written if they do not match) and the schema is recorded as ``<name>.schema.json``.

        Raises:
          SchemaError: the arrays do not match ``schema``.
        """
        _check_name(name)
        host = {k: np.asarray(v) for k, v in arrays.items()}
        if schema is not None:
            schema.validate(host)
            self.write_json(f"{name}.schema", schema.to_json())
        return atomic_write(self.path / f"{name}.npz", lambda f: np.savez(f, **host))

    def load_schema(self, name: str = "metrics") -> Schema | None:
        """The schema recorded with ``<name>.npz``, or ``None`` if it was written without one."""
        if not (self.path / f"{name}.schema.json").exists():
            return None
        return Schema.from_json(self.read_json(f"{name}.schema"))

    def load_metrics(
        self, name: str = "metrics", *, schema: Schema | None = None
    ) -> dict[str, np.ndarray] | Metrics:
        """Read ``<name>.npz``: a dict of numpy arrays, or with a ``schema`` validated
        :class:`Metrics` (named arrays and axis sizes).

        Raises:
          SchemaError: the arrays do not match ``schema``, or the run recorded a different one.
        """
        _check_name(name)
        with np.load(self.path / f"{name}.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if schema is None:
            return arrays
        recorded = self.load_schema(name)
        if recorded is not None and recorded != schema:
            raise SchemaError(
                f"{self.path}/{name}.npz was written with schema {recorded.to_json()}, "
                f"not the expected {schema.to_json()}"
            )
        return Metrics.validated(schema, arrays)

    def write_json(self, name: str, obj: Any) -> Path:
        """Atomically write ``obj`` to ``<name>.json``."""
        _check_name(name)
        return atomic_write_json(self.path / f"{name}.json", obj)

    def read_json(self, name: str) -> Any:
        _check_name(name)
        return json.loads((self.path / f"{name}.json").read_text())

    def mark_done(self) -> None:
        """Write the ``DONE`` marker; call last, after every other file of the run."""
        stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
        atomic_write_bytes(self.path / DONE, (stamp + "\n").encode())

    def done_time(self) -> str | None:
        """The ISO timestamp stored in ``DONE``, or ``None`` if unfinished."""
        try:
            return (self.path / DONE).read_text().strip()
        except FileNotFoundError:
            return None


class ResultsStore:
    """Creates and finds run directories under ``root`` (default ``results/``)."""

    def __init__(self, root: str | os.PathLike = "results") -> None:
        self.root = Path(root)

    def _exp_dir(self, experiment: str) -> Path:
        _check_name(experiment)
        return self.root / experiment

    def create(
        self,
        experiment: str,
        config: Any,
        run_id: str | None = None,
        *,
        overwrite: bool = False,
        resume: bool = False,
        provenance_extra: dict[str, Any] | None = None,
    ) -> RunDir:
        """Create (or reopen, to resume) a run directory and write config and provenance.

        Args:
          experiment: experiment name (a directory under ``root``).
          config: a dataclass config or a JSON-able mapping; saved as ``config.json``.
          run_id: directory name; default ``<YYYYmmdd-HHMMSS>-<config hash>``. With
            ``resume=True`` and no ``run_id``, the newest unfinished run with the same config
            hash is reopened if there is one.
          overwrite: replace an existing directory (finished or not).
          resume: reopen an existing *unfinished* directory; its config must be identical.
          provenance_extra: extra entries for ``provenance.json``.

        Raises:
          FileExistsError: the directory exists and is finished (without ``overwrite``), or is
            unfinished and neither ``resume`` nor ``overwrite`` was given.
          ValueError: resuming a directory whose saved config differs.
        """
        cfg = _config_dict(config)
        h = config_hash(cfg)
        exp_dir = self._exp_dir(experiment)
        if run_id is None and resume and not overwrite:
            candidates = [r for r in self.runs(experiment) if not r.is_done]
            candidates = [r for r in candidates if r.run_id.endswith(f"-{h}")]
            if candidates:
                run_id = candidates[-1].run_id
        if run_id is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            run_id = f"{stamp}-{h}"
        _check_name(run_id)
        run = RunDir(exp_dir / run_id)
        prov = collect_provenance(provenance_extra)
        if run.path.exists():
            if overwrite:
                shutil.rmtree(run.path)
            elif run.is_done:
                raise FileExistsError(f"{run.path} is finished; pass overwrite=True to replace it")
            elif not resume:
                raise FileExistsError(
                    f"{run.path} exists unfinished; pass resume=True to continue it "
                    "or overwrite=True to start again"
                )
            else:
                saved = run.config if (run.path / "config.json").exists() else cfg
                if saved != cfg:
                    raise ValueError(f"cannot resume {run.path}: its config.json differs")
                old = run.provenance if (run.path / "provenance.json").exists() else prov
                old.setdefault("resumed", []).append(prov)
                run.write_json("config", cfg)
                run.write_json("provenance", old)
                return run
        run.path.mkdir(parents=True, exist_ok=True)
        run.write_json("config", cfg)
        run.write_json("provenance", prov)
        return run

    def open(self, experiment: str, run_id: str) -> RunDir:
        """An existing run directory."""
        _check_name(run_id)
        run = RunDir(self._exp_dir(experiment) / run_id)
        if not run.path.is_dir():
            raise FileNotFoundError(run.path)
        return run

    def runs(self, experiment: str, prefix: str = "") -> list[RunDir]:
        """All run directories of ``experiment`` (finished or not) sorted by run id."""
        exp_dir = self._exp_dir(experiment)
        if not exp_dir.is_dir():
            return []
        dirs = sorted(p for p in exp_dir.iterdir() if p.is_dir() and p.name.startswith(prefix))
        return [RunDir(p) for p in dirs]

    def finished_runs(self, experiment: str, prefix: str = "") -> list[RunDir]:
        """Runs that have a ``DONE`` marker, sorted by run id; ``prefix`` filters run ids."""
        return [r for r in self.runs(experiment, prefix) if r.is_done]

    def latest(self, experiment: str, prefix: str = "") -> RunDir | None:
        """The most recently finished run (by ``DONE`` time), or ``None``."""
        done = self.finished_runs(experiment, prefix)
        if not done:
            return None
        return max(done, key=lambda r: (r.done_time() or "", r.run_id))


def merge_shards(
    runs: Iterable[RunDir] | Sequence[RunDir], name: str = "metrics"
) -> dict[str, np.ndarray]:
    """Concatenate ``<name>.npz`` of several finished shard runs along the seed axis (axis 0).

    Shards are taken in the order given (``finished_runs`` sorts by run id, so name them
    ``-shard0``, ``-shard1``, ... with zero padding past 10 shards if order matters).

    Raises:
      ValueError: if no runs are given, one is unfinished, or their metric keys differ.
    """
    runs = list(runs)
    if not runs:
        raise ValueError("merge_shards needs at least one run")
    loaded = []
    for r in runs:
        if not r.is_done:
            raise ValueError(f"{r.path} is not finished")
        loaded.append(r.load_metrics(name))
    keys = set(loaded[0])
    for r, m in zip(runs, loaded, strict=True):
        if set(m) != keys:
            raise ValueError(f"{r.path}/{name}.npz has keys {sorted(m)}, expected {sorted(keys)}")
    return {k: np.concatenate([m[k] for m in loaded], axis=0) for k in sorted(keys)}
