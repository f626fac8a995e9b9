"""Results store: ``results/<experiment>/<run-id>/`` with config, provenance, metrics and DONE.

Layout of one run directory::

    config.json        the resolved config (JSON of the frozen dataclass, or the dict given)
    provenance.json    git commit/dirty, versions, device, flags, command line, start time
    <name>.npz         metric arrays, leading axis = seed
    <name>.schema.json the metrics' declared schema (names, dtypes, named axes), if one was given
    <name>.json        any extra JSON (summaries, evaluation tables)
    checkpoints/       orbax checkpoints written by ``run_chunked`` (latest 1-2 only)
    checksums.json     sha256 of config.json, provenance.json and every <name>.npz, written
                       by ``mark_done`` just before DONE; the loaders verify each file they read
                       against it (runs written before checksums existed have none and load
                       unverified)
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
import hashlib
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
CHECKSUMS = "checksums.json"


class ResultsError(ValueError):
    """A results file that cannot be trusted (checksum mismatch, unreadable, malformed); the
    message names the file and its run."""


class ResultsKeyError(KeyError):
    """A key missing from a run's JSON file; the message names the key, the file and the run."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RunJSON(dict):
    """A dict read from a run's JSON file: a missing key raises :class:`ResultsKeyError` naming
    the file (so a figure script's ``run.config["env"]`` says which run lacks it)."""

    where: str = ""

    def __missing__(self, key: Any) -> Any:
        raise ResultsKeyError(f"{self.where} has no key {key!r} (keys: {sorted(self)})")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
        obj = self.read_json(f"{name}.schema")
        try:
            return Schema.from_json(obj)
        except (KeyError, TypeError) as e:
            raise ResultsError(f"{self._where(name + '.schema.json')} is malformed: {e}") from None

    def _where(self, filename: str) -> str:
        return f"{self.path / filename} (run {self.run_id!r} of {self.experiment!r})"

    def write_checksums(self) -> Path:
        """Write ``checksums.json``: sha256 of config.json, provenance.json and every ``*.npz``
        (``mark_done`` calls it just before writing ``DONE``)."""
        files = [self.path / "config.json", self.path / "provenance.json"]
        files += sorted(self.path.glob("*.npz"))
        sums = {p.name: _sha256(p) for p in files if p.is_file()}
        return atomic_write_json(self.path / CHECKSUMS, {"sha256": sums})

    def verify(self, filename: str) -> bool:
        """Check ``filename`` against ``checksums.json``; ``False`` if there is nothing to check
        it against (an unfinished run, or one written before checksums existed).

        Raises:
          ResultsError: the file's sha256 differs from the recorded one, or checksums.json is
            unreadable.
        """
        sums_path = self.path / CHECKSUMS
        if not sums_path.is_file():
            return False
        try:
            sums = json.loads(sums_path.read_text())["sha256"]
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise ResultsError(f"{self._where(CHECKSUMS)} is unreadable: {e}") from None
        expected = sums.get(filename)
        if expected is None or not (self.path / filename).is_file():
            return False
        actual = _sha256(self.path / filename)
        if actual != expected:
            raise ResultsError(
                f"checksum mismatch: {self._where(filename)} has sha256 {actual[:12]}..., but "
                f"{CHECKSUMS} recorded {expected[:12]}... when the run finished; the file was "
                "modified or corrupted after it was written"
            )
        return True

    def load_metrics(
        self, name: str = "metrics", *, schema: Schema | None = None, finite: bool = False
    ) -> dict[str, np.ndarray] | Metrics:
        """Read ``<name>.npz``: a dict of numpy arrays, or with a ``schema`` validated
        :class:`Metrics` (named arrays and axis sizes). The file is first verified against
        ``checksums.json`` when the run has one (:meth:`verify`).

        Args:
          finite: (with a ``schema``) refuse NaN/inf in a float metric unless its
            :class:`~jaxrl.experiment.schema.MetricSpec` has ``allow_nonfinite`` (figure scripts).

        Raises:
          FileNotFoundError: there is no ``<name>.npz`` (names the run).
          ResultsError: a checksum mismatch, or the file is not a readable ``.npz``.
          SchemaError: the arrays do not match ``schema``, the run recorded a different one, or
            (``finite``) a metric is non-finite; names the file, the run and the metric.
        """
        _check_name(name)
        filename = f"{name}.npz"
        path = self.path / filename
        if not path.is_file():
            raise FileNotFoundError(f"{self._where(filename)} does not exist")
        self.verify(filename)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as e:  # BadZipFile, EOFError, OSError, ValueError, zlib.error, ...
            raise ResultsError(
                f"{self._where(filename)} is not a readable .npz ({type(e).__name__}: {e}); "
                "it is truncated or corrupted"
            ) from None
        if schema is None:
            return arrays
        recorded = self.load_schema(name)
        if recorded is not None and recorded != schema:
            raise SchemaError(
                f"{self._where(filename)} was written with schema {recorded.to_json()}, "
                f"not the expected {schema.to_json()}"
            )
        try:
            metrics = Metrics.validated(schema, arrays)
        except SchemaError as e:
            raise SchemaError(f"{self._where(filename)}: {e}") from None
        if finite:
            for spec in schema.metrics:
                arr = metrics[spec.name]
                if spec.allow_nonfinite or not np.issubdtype(arr.dtype, np.inexact):
                    continue
                bad = ~np.isfinite(arr)
                if bad.any():
                    raise SchemaError(
                        f"metric {spec.name!r} of {self._where(filename)} has {int(bad.sum())} "
                        f"non-finite entries of {arr.size} (first at index "
                        f"{tuple(int(i) for i in np.argwhere(bad)[0])}); refusing to plot it "
                        "(the schema does not mark it allow_nonfinite)"
                    )
        return metrics

    def write_json(self, name: str, obj: Any) -> Path:
        """Atomically write ``obj`` to ``<name>.json``."""
        _check_name(name)
        return atomic_write_json(self.path / f"{name}.json", obj)

    def read_json(self, name: str) -> Any:
        """Read ``<name>.json`` (verified against ``checksums.json`` when listed there); its
        objects are :class:`RunJSON` dicts, whose missing keys raise an error naming the file.

        Raises:
          FileNotFoundError: no such file (names the run).
          ResultsError: a checksum mismatch, or the file is not valid JSON.
        """
        _check_name(name)
        filename = f"{name}.json"
        path = self.path / filename
        where = self._where(filename)
        if not path.is_file():
            raise FileNotFoundError(f"{where} does not exist")
        self.verify(filename)

        def hook(d: dict[str, Any]) -> RunJSON:
            out = RunJSON(d)
            out.where = where
            return out

        try:
            return json.loads(path.read_text(), object_hook=hook)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ResultsError(f"{where} is not valid JSON: {e}") from None

    def mark_done(self) -> None:
        """Write ``checksums.json`` and then the ``DONE`` marker; call last, after every other
        file of the run. On a run that is already finished (a ``--resume`` of it) this only
        verifies its files against ``checksums.json``: a finished run stays as it finished.

        Raises:
          ResultsError: (already finished) a file no longer matches its checksum.
        """
        if self.is_done and (self.path / CHECKSUMS).is_file():
            for name in json.loads((self.path / CHECKSUMS).read_text()).get("sha256", {}):
                self.verify(name)
            return
        self.write_checksums()
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
