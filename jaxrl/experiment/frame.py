"""Results as one long-format table: ``to_frame(path)`` -> a pandas DataFrame, one value a row.

    df = to_frame("results")                               # every finished run under results/
    df = to_frame("results/ppo_classic/20261202-1200-ab")  # one run (finished or not)
    df[(df.metric == "eval_return") & (df["hp.lam"] == 0.1)].groupby("step").value.mean()
    python -m jaxrl.experiment.frame results               # -> results/all_runs.parquet

Columns, in order:

``experiment`` (the run's directory under the results root), ``run`` (its run id), ``variant``
(the setting's name, ``""`` for a run of one setting), ``hyperparameters`` (the setting as a
sorted JSON object, ``"{}"`` if none), ``seed`` (seed index within the setting), ``step``,
``step_unit``, ``metric``, ``index``, ``value`` (float64), then one ``hp.<name>`` column per
hyperparameter of a setting (nested names joined with ``.``, list items as ``[i]``; the same
values as the JSON column, flattened so that ``df["hp.lam"] == 0.1`` filters) and one
``cfg.<key>`` column per top-level scalar of the run's ``config.json`` (``cfg.env``,
``cfg.task``, ``cfg.method``...). Columns a run lacks are missing values (NaN/None). String
columns are pandas categoricals.

Which file and metric: every ``<name>.npz`` of the run that has a recorded schema
(``<name>.schema.json``); a metric's name is its key, prefixed ``<name>/`` for files other than
``metrics.npz`` (pbrs' ``raw.npz`` gives ``raw/eval_return``). A metric whose first axis is not a
run axis (``run``, ``seed`` or ``one``: e.g. the demonstrations' ``sample``) is data, not a
learning curve, and is skipped; so is a file without a schema (its axes are unknown).

Rows of the run axis (:mod:`jaxrl.experiment.sweep`'s convention: ``[groups · seeds]``,
group-major, row ``g · seeds + i`` is setting ``g``, seed ``i``):

1. ``sweep.json`` lists with one entry per row win (lipschitz_gail: ``grad_pen_scale`` becomes
   ``hp.grad_pen_scale``, ``seed_index`` the seed).
2. Otherwise ``seeds`` (top-level in ``config.json``, else ``config["experiment"]["seeds"]``) and
   the first of :data:`GROUPS` in ``config.json`` with ``rows / seeds`` entries name the
   settings: ``variants`` / ``conditions`` are names (pbrs, rlhf_shaping); ``rows`` are
   ``{"method", "hparams"}`` (barfi); ``lams`` / ``coefs`` / ``coefficients`` are values
   (orpo_tomato: ``hp.lam`` and ``hp.coef``, the variant ``lam=<λ>``).
3. A run axis of ``seeds`` rows is one setting; a metric named ``<variant>/<m>`` with a ``seed``
   first axis (pbrs' ``metrics.npz``) is metric ``<m>`` of that variant.
4. Anything else (no ``seeds`` recorded, or a count that does not divide): the row index is the
   seed and the variant is ``""``.

A family of systems (preference_rms, exploration_rewards; :mod:`jaxrl.experiment.systems`)
stores each system's summary leaves per seed or with a leading ``one`` axis; ``cfg.system``
names the system.

Steps: the second axis is time. An integer metric ``env_steps`` or ``eval_env_steps`` with axes
``(run axis, T)`` gives the environment step of each entry of ``T`` (``step_unit="env_step"``);
else an ``update`` axis of a PPO-style run (``static.num_envs``, ``num_steps`` and
``total_timesteps`` in its config, and ``total_timesteps // (num_envs · num_steps)`` updates) is
at ``(u + 1) · num_envs · num_steps`` env steps (the count after update ``u``, as PPO's
``eval_env_steps``); else ``step`` is the index along ``T`` and ``step_unit`` is ``T``'s name
(``update``, ``eval``, ``episode``, ``outer``...). A metric with no time axis (orpo_tomato's
``final_true_return [run]``) has ``step`` <NA> and ``step_unit="final"``. Axes after the time
axis are spelled out in ``index`` (``"feature=3,blend=1"``; ``""`` for a scalar metric), so a
``[run, outer, feature, blend]`` array gives one row per entry.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.experiment.results import DONE, RunDir, atomic_write

#: the leading axis names of a metric that has one entry per run (setting x seed).
RUN_AXES = ("run", "seed", "one")
#: integer metrics that give the environment step of their time axis.
COUNTERS = ("env_steps", "eval_env_steps")
#: ``config.json`` lists that name the settings of a sweep, in order of preference; the value is
#: the hyperparameter a numeric list becomes (``None``: a list of names, the variant).
GROUPS = {
    "variants": None,
    "conditions": None,
    "rows": None,
    "lams": "lam",
    "lambdas": "lam",
}
#: numeric per-setting lists recorded beside the group list (orpo's unscaled ``coefs``).
EXTRA_GROUP_VALUES = {"coefs": "coef", "coefficients": "coefficients"}
COLUMNS = (
    "experiment",
    "run",
    "variant",
    "hyperparameters",
    "seed",
    "step",
    "step_unit",
    "metric",
    "index",
    "value",
)


def _flatten(obj: Any, prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [2, 3]}`` -> ``{"<prefix>a.b": 1, "<prefix>c[0]": 2, ...}``."""
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list | tuple):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: obj}


def _label(value: Any) -> str:
    """A setting's value in a variant name: ``0.1``, ``10``, ``wgan``."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return f"{value:g}" if number else str(value)


def _seeds(config: Mapping[str, Any]) -> int | None:
    seeds = config.get("seeds")
    if not isinstance(seeds, int):
        exp = config.get("experiment")
        seeds = exp.get("seeds") if isinstance(exp, Mapping) else None
    return seeds if isinstance(seeds, int) and seeds > 0 else None


def _settings(config: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]] | None:
    """The ``(variant, hyperparameters)`` of each group named in ``config`` (rule 2), or None."""
    for key, hp_name in GROUPS.items():
        groups = config.get(key)
        if not isinstance(groups, list) or not groups:
            continue
        out = []
        for g, item in enumerate(groups):
            if isinstance(item, Mapping) and "method" in item:  # barfi's rows
                out.append((str(item["method"]), dict(item.get("hparams", {}))))
            elif hp_name is None:
                out.append((str(item), {}))
            else:
                out.append((f"{hp_name}={_label(item)}", {hp_name: item}))
            for extra, name in EXTRA_GROUP_VALUES.items():
                values = config.get(extra)
                if extra != key and isinstance(values, list) and len(values) == len(groups):
                    out[-1][1][name] = values[g]
        return out
    return None


def _row_table(run: RunDir, n: int, config: Mapping) -> list[tuple[str, dict[str, Any], int]]:
    """``(variant, hyperparameters, seed)`` of each of ``n`` rows of the run axis (``config``:
    the run's, read once per run: each read verifies its checksum)."""
    seeds = _seeds(config)
    settings = _settings(config) if seeds else None
    if settings is not None and len(settings) * seeds == n:
        rows = [(*settings[r // seeds], r % seeds) for r in range(n)]
    else:  # one setting of `seeds` rows (rule 3), or nothing recorded: the row is the seed (4)
        rows = [("", {}, r) for r in range(n)]
    if (run.path / "sweep.json").is_file():
        sweep = run.read_json("sweep")
        per_row = {k: v for k, v in sweep.items() if isinstance(v, list) and len(v) == n}
        if per_row:
            seed_key = next((k for k in ("seed_index", "seed") if k in per_row), None)
            hp_keys = sorted(k for k in per_row if k != seed_key)
            rows = [
                (
                    ",".join(f"{k}={_label(per_row[k][r])}" for k in hp_keys) or rows[r][0],
                    {**rows[r][1], **{k: per_row[k][r] for k in hp_keys}},
                    int(per_row[seed_key][r]) if seed_key else rows[r][2],
                )
                for r in range(n)
            ]
    return rows


def _steps(config: Mapping, arrays: Mapping[str, np.ndarray], axes: Mapping[str, tuple]) -> dict:
    """Time axis name -> ``(steps [lead, T] or [T], unit)`` for the axes a counter or the
    config's static settings give in env steps."""
    out: dict[str, tuple[np.ndarray, str]] = {}
    for name in COUNTERS:
        ax = axes.get(name)
        if ax is not None and len(ax) == 2 and ax[0] in RUN_AXES:
            if np.issubdtype(arrays[name].dtype, np.integer):
                out.setdefault(ax[1], (np.asarray(arrays[name], np.int64), "env_step"))
    static = config.get("static")
    if "update" not in out and isinstance(static, Mapping):
        envs, steps, total = (static.get(k) for k in ("num_envs", "num_steps", "total_timesteps"))
        sizes = [arrays[m].shape[1] for m, ax in axes.items() if ax[1:2] == ("update",)]
        if sizes and all(isinstance(v, int) and v > 0 for v in (envs, steps, total)):
            if sizes[0] == total // (envs * steps):  # a PPO-style run: one rollout per update
                out["update"] = ((np.arange(sizes[0]) + 1) * envs * steps, "env_step")
    return out


def _metric_frame(arr: np.ndarray, axes: tuple[str, ...], steps: Mapping) -> dict[str, Any]:
    """Columns ``lead`` (position on the first axis), ``step``, ``step_unit``, ``index`` and
    ``value`` of one metric ``arr [lead, T?, extra...]``, C order."""
    import pandas as pd

    lead, time = arr.shape[0], (arr.shape[1] if arr.ndim > 1 else 1)
    extra = arr.shape[2:]
    n_extra = int(np.prod(extra)) if extra else 1
    r = np.repeat(np.arange(lead), time * n_extra)
    t = np.tile(np.repeat(np.arange(time), n_extra), lead)
    if arr.ndim == 1:
        step, unit = pd.array([pd.NA] * lead, dtype="Int64"), "final"
    elif axes[1] in steps and steps[axes[1]][0].shape in ((lead, time), (time,)):
        table, unit = steps[axes[1]]
        step = pd.array(table[r, t] if table.ndim == 2 else table[t], dtype="Int64")
    else:
        step, unit = pd.array(t, dtype="Int64"), axes[1]
    index = np.full(r.shape, "", object)
    if extra:
        names = axes[2:]
        labels = [
            ",".join(f"{a}={i}" for a, i in zip(names, idx, strict=True))
            for idx in np.ndindex(*extra)
        ]
        index = np.asarray(labels, object)[np.tile(np.arange(n_extra), lead * time)]
    return {
        "lead": r,
        "step": step,
        "step_unit": np.full(r.shape, unit, object),
        "index": index,
        "value": np.asarray(arr, np.float64).reshape(-1),
    }


def _rows_of(run: RunDir, key: str, axes: tuple[str, ...], lead: int, config: Mapping):
    """``(rows, metric key)`` for one metric: ``rows[i]`` is the ``(variant, hyperparameters,
    seed)`` of position ``i`` on its first axis (rules 1-4 of the module docstring)."""
    seeds = _seeds(config)
    settings = _settings(config) if seeds else None
    prefix, _, rest = key.partition("/")
    if axes[0] == "seed" and seeds == lead and settings and len(settings) > 1:
        names = [v for v, _ in settings]
        if rest and prefix in names:  # rule 3: "<variant>/<metric>" [seed, ...]
            full = _row_table(run, len(settings) * seeds, config)
            g = names.index(prefix)
            return full[g * seeds : (g + 1) * seeds], rest
        return [("", {}, i) for i in range(lead)], key  # per seed, shared by the variants
    return _row_table(run, lead, config), key


def _run_frame(run: RunDir):
    """The long-format frame of one run (all its schema'd ``.npz`` files), or None."""
    import pandas as pd

    parts = []
    config = run.config
    for path in sorted(run.path.glob("*.npz")):
        stem = path.stem
        schema = run.load_schema(stem)
        if schema is None:
            continue  # axes unknown
        arrays = run.load_metrics(stem, schema=schema)
        axes = {s.name: s.axes for s in schema.metrics}
        steps = _steps(config, arrays, axes)
        for spec in schema.metrics:
            if spec.axes[0] not in RUN_AXES:
                continue  # data (demonstrations' samples), not one entry per run
            arr = np.asarray(arrays[spec.name])
            rows, key = _rows_of(run, spec.name, spec.axes, arr.shape[0], config)
            cols = _metric_frame(arr, spec.axes, steps)
            lead = cols.pop("lead")
            variant = np.asarray([v for v, _, _ in rows], object)
            hp_json = np.asarray([json.dumps(h, sort_keys=True) for _, h, _ in rows], object)
            seed = np.asarray([s for _, _, s in rows], np.int64)
            frame = {
                "variant": variant[lead],
                "hyperparameters": hp_json[lead],
                "seed": seed[lead],
                **{k: cols[k] for k in ("step", "step_unit")},
                "metric": np.full(lead.shape, key if stem == "metrics" else f"{stem}/{key}"),
                **{k: cols[k] for k in ("index", "value")},
            }
            flat = [_flatten(h, "hp") for _, h, _ in rows]
            for name in sorted({k for f in flat for k in f}):
                frame[name] = np.asarray([f.get(name) for f in flat], object)[lead]
            parts.append(pd.DataFrame(frame))
    if not parts:
        return None
    df = pd.concat(parts, ignore_index=True)
    df.insert(0, "experiment", run.experiment)
    df.insert(1, "run", run.run_id)
    for key, value in sorted(config.items()):
        if isinstance(value, str | int | float | bool):
            df[f"cfg.{key}"] = value
    return df


def _str_categories(values):
    """``values`` (a Series of objects) as a categorical of ``str(v)``, missing where ``v`` is
    None or NaN, with sorted categories (as ``.map(str).astype("category")`` gives), converting
    each distinct value once instead of every row (millions in ``make reproduce``)."""
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    labels = np.asarray([str(u) for u in uniques], object)
    categories = np.asarray(sorted(set(labels.tolist())), object)
    remap = np.searchsorted(categories, labels) if len(labels) else np.zeros(0, np.int64)
    new_codes = np.where(codes >= 0, remap[np.maximum(codes, 0)] if len(labels) else -1, -1)
    # (pandas gives str categories, or object ones when every value is missing)
    kind = "str" if len(categories) else object
    cat = pd.Categorical.from_codes(new_codes, categories=pd.Index(categories, dtype=kind))
    return pd.Series(cat, index=values.index, name=values.name)


def finished_runs(root: str | Path) -> list[RunDir]:
    """Every finished run under ``root`` (``<root>/<experiment>/<run>/DONE``), sorted by path."""
    root = Path(root)
    return [RunDir(p.parent) for p in sorted(root.glob(f"*/*/{DONE}"))]


def to_frame(path: str | Path):
    """A run directory, or every finished run under a results root, as one long DataFrame.

    Args:
      path: a run directory (it has ``config.json``; loaded finished or not) or a results root
        (``<root>/<experiment>/<run>/`` with ``DONE``; unfinished runs are left out).

    Returns:
      A ``pandas.DataFrame`` with the columns of this module's docstring (:data:`COLUMNS`
      first, then ``hp.*`` and ``cfg.*``), one row per value of every run-axis metric; empty
      (with :data:`COLUMNS`) when there is no run.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ResultsError / SchemaError: a file fails its checksum or its recorded schema (names it).
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"to_frame: {path} does not exist")
    runs = [RunDir(path)] if (path / "config.json").is_file() else finished_runs(path)
    frames = [f for f in (_run_frame(r) for r in runs) if f is not None]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    df = pd.concat(frames, ignore_index=True)
    for col in df.columns[len(COLUMNS) :]:  # hp.* and cfg.*: numbers stay numbers
        values = df[col].infer_objects()
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            # strings (or a mix, e.g. str in one run and float in another): categories of str
            values = _str_categories(values)
        df[col] = values
    for col in ("experiment", "run", "variant", "hyperparameters", "step_unit", "metric", "index"):
        df[col] = df[col].astype("category")
    df["step"] = df["step"].astype("Int64")
    return df


def write_parquet(frame, out: str | Path) -> Path:
    """Write ``frame`` to ``out`` as parquet (pyarrow), atomically."""

    def write(f):
        buf = io.BytesIO()
        frame.to_parquet(buf, engine="pyarrow", index=False)
        f.write(buf.getvalue())

    return atomic_write(out, write)


def main(argv: Sequence[str] | None = None) -> Path:
    """``python -m jaxrl.experiment.frame [root] [--out FILE]``: every finished run under
    ``root`` (default ``results``) into ``FILE`` (default ``<root>/all_runs.parquet``)."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("root", nargs="?", default="results", help="results root or one run directory")
    p.add_argument("--out", default=None, help="parquet file (default <root>/all_runs.parquet)")
    args = p.parse_args(argv)
    df = to_frame(args.root)
    out = Path(args.out) if args.out else Path(args.root) / "all_runs.parquet"
    write_parquet(df, out)
    n_runs = df["run"].nunique() if len(df) else 0
    print(f"[frame] {len(df)} rows ({df['metric'].nunique()} metrics) of {n_runs} runs -> {out}")
    return out


if __name__ == "__main__":
    main()
