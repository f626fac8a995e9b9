"""Typed metric schema: the experiment -> results -> figure contract.

An experiment declares the arrays it writes as a :class:`Schema` of :class:`MetricSpec` (name,
dtype kind, named axes). :meth:`jaxrl.experiment.results.RunDir.write_metrics` validates the
arrays against it before writing and records it next to them (``<name>.schema.json``);
:meth:`~jaxrl.experiment.results.RunDir.load_metrics` validates on read and returns
:class:`Metrics`, which gives a figure script the arrays by name and the size of every named
axis. Example::

    SCHEMA = Schema("ppo_classic", (
        MetricSpec("eval_return", "float32", ("seed", "eval")),
        MetricSpec("eval_env_steps", "int32", ("seed", "eval")),
    ))
    run.write_metrics("metrics", arrays, schema=SCHEMA)
    m = run.load_metrics(schema=SCHEMA)
    m["eval_return"], m.sizes["seed"]

Axis names are shared: two metrics with an axis of the same name must agree on its size (e.g.
every ``"seed"`` axis has the same length), which catches arrays stacked in a different order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

_KINDS = {"b": "bool", "i": "int", "u": "uint", "f": "float", "c": "complex"}


class SchemaError(ValueError):
    """Metrics that do not match their :class:`Schema`; the message names the metric."""


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """One metric array: its name, dtype (only the kind is checked) and named axes.

    Attributes:
      name: the array's key in the ``.npz`` (``/`` allowed, e.g. ``"pbrs/true_return"``).
      dtype: a numpy dtype (``"float32"``, ``"int32"``, ``"bool"``); arrays must have the same
        kind (float, signed int, unsigned int, bool), any width.
      axes: one name per dimension, e.g. ``("seed", "update")`` for ``[seeds, updates]``.
      doc: what the metric is, in words.
      allow_nonfinite: NaN/inf are legitimate values (e.g. a return with no finished episode);
        otherwise figure scripts (``load_metrics(..., finite=True)``) refuse them. Not part of
        equality, so a schema recorded before this field existed still matches.
    """

    name: str
    dtype: str
    axes: tuple[str, ...]
    doc: str = ""
    allow_nonfinite: bool = dataclasses.field(default=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", np.dtype(self.dtype).name)
        object.__setattr__(self, "axes", tuple(self.axes))

    @property
    def kind(self) -> str:
        return np.dtype(self.dtype).kind


@dataclasses.dataclass(frozen=True)
class Schema:
    """The metrics one experiment writes into one ``<name>.npz``.

    Attributes:
      experiment: the experiment's name (``results/<experiment>/``).
      metrics: one :class:`MetricSpec` per array, names unique.
    """

    experiment: str
    metrics: tuple[MetricSpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))
        names = [m.name for m in self.metrics]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SchemaError(f"schema {self.experiment!r} declares {dup} more than once")

    def __getitem__(self, name: str) -> MetricSpec:
        for spec in self.metrics:
            if spec.name == name:
                return spec
        raise KeyError(f"schema {self.experiment!r} has no metric {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    def validate(self, arrays: Mapping[str, Any]) -> dict[str, int]:
        """Check ``arrays`` against the schema.

        Args:
          arrays: metric name -> array-like.

        Returns:
          axis name -> size, over every declared axis.

        Raises:
          SchemaError: a declared metric is missing or an undeclared one is present; an array has
            the wrong number of dimensions or the wrong dtype kind; or two metrics disagree on
            the size of a shared axis name. The message names the metric and the bad value.
        """
        missing = [n for n in self.names if n not in arrays]
        extra = sorted(set(arrays) - set(self.names))
        if missing or extra:
            raise SchemaError(
                f"schema {self.experiment!r}: missing metrics {missing}, undeclared metrics {extra}"
            )
        sizes: dict[str, tuple[int, str]] = {}  # axis -> (size, the metric that fixed it)
        for spec in self.metrics:
            value = np.asarray(arrays[spec.name])
            if value.ndim != len(spec.axes):
                raise SchemaError(
                    f"metric {spec.name!r} has shape {value.shape} ({value.ndim} dims), expected "
                    f"{len(spec.axes)} dims {spec.axes}"
                )
            if value.dtype.kind != spec.kind:
                raise SchemaError(
                    f"metric {spec.name!r} has dtype {value.dtype}, expected a "
                    f"{_KINDS.get(spec.kind, spec.kind)} dtype like {spec.dtype}"
                )
            for axis, size in zip(spec.axes, value.shape, strict=True):
                size_0, first = sizes.setdefault(axis, (size, spec.name))
                if size != size_0:
                    raise SchemaError(
                        f"metric {spec.name!r} has axis {axis!r} of size {size}, but metric "
                        f"{first!r} has {size_0}"
                    )
        return {axis: size for axis, (size, _) in sizes.items()}

    def to_json(self) -> dict[str, Any]:
        """A JSON dict (what ``<name>.schema.json`` holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Schema:
        """Inverse of :meth:`to_json`."""
        metrics = tuple(MetricSpec(**m) for m in obj["metrics"])
        return cls(obj["experiment"], metrics)


@dataclasses.dataclass(frozen=True)
class Metrics(Mapping[str, np.ndarray]):
    """Validated metric arrays: ``metrics[name]`` and the size of every named axis.

    Attributes:
      schema: the schema they were validated against.
      arrays: name -> array, exactly the schema's names.
      sizes: axis name -> size (e.g. ``sizes["seed"]``).
    """

    schema: Schema
    arrays: Mapping[str, np.ndarray]
    sizes: Mapping[str, int]

    @classmethod
    def validated(cls, schema: Schema, arrays: Mapping[str, Any]) -> Metrics:
        """Validate ``arrays`` (see :meth:`Schema.validate`) and wrap them."""
        sizes = schema.validate(arrays)
        return cls(schema, {k: np.asarray(arrays[k]) for k in schema.names}, sizes)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise KeyError(f"{self.schema.experiment!r} metrics have no {name!r}")
        return self.arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.arrays)

    def __len__(self) -> int:
        return len(self.arrays)

    def axis(self, name: str, axis: str) -> int:
        """The position of the named ``axis`` in metric ``name`` (for ``np.take`` etc.)."""
        axes = self.schema[name].axes
        if axis not in axes:
            raise KeyError(f"metric {name!r} has axes {axes}, not {axis!r}")
        return axes.index(axis)
