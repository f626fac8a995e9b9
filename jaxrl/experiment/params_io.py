"""Save and reload network parameters through a results directory (e.g. a reference policy).

Parameters are written with flax's msgpack serialisation, atomically, next to the run's metrics;
loading needs a template pytree of the same structure (e.g. ``network.init(...)``), which is also
how a shape mismatch is caught.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import serialization

from jaxrl.experiment.results import RunDir, atomic_write_bytes


def save_params(run: RunDir, name: str, params: Any) -> None:
    """Write ``params`` (any pytree of arrays) to ``<run>/<name>.msgpack`` atomically."""
    atomic_write_bytes(run.path / f"{name}.msgpack", serialization.to_bytes(params))


def load_params(run: RunDir, name: str, template: Any) -> Any:
    """Read ``<run>/<name>.msgpack`` into the structure of ``template``.

    Raises:
      FileNotFoundError: the run has no such parameters.
      ValueError: the stored pytree does not match ``template``.
    """
    path = run.path / f"{name}.msgpack"
    if not path.exists():
        raise FileNotFoundError(f"no parameters {name!r} in {run.path}")
    params = serialization.from_bytes(template, path.read_bytes())
    want = jax.tree.map(lambda x: tuple(jax.numpy.shape(x)), template)
    got = jax.tree.map(lambda x: tuple(jax.numpy.shape(x)), params)
    if want != got:
        raise ValueError(f"parameters {name!r} in {run.path} have shapes {got}, expected {want}")
    return params
