"""Provenance of a run: code version, package versions, device and JAX numerics flags.

"Same seed, same numbers" only holds for the same JAX version, backend and flags, so every results
directory records them (ecosystem survey, need #4).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

# Distribution names (not import names): importlib.metadata avoids importing brax & co.
PACKAGES = {
    "jax": "jax",
    "jaxlib": "jaxlib",
    "flax": "flax",
    "optax": "optax",
    "chex": "chex",
    "distrax": "distrax",
    "gymnax": "gymnax",
    "brax": "brax",
    "orbax": "orbax-checkpoint",
    "numpy": "numpy",
    "tyro": "tyro",
    "jaxrl": "jaxrl-shaping",
}

REPO_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_info(cwd: Path | str = REPO_ROOT) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` for the repository holding ``cwd``.

    ``commit`` is ``None`` outside a repository or before the first commit; ``dirty`` is true when
    tracked or untracked (non-ignored) files differ from the commit.
    """
    cwd = Path(cwd)
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    status = _git("status", "--porcelain", cwd=cwd)
    return {"commit": commit or None, "dirty": None if status is None else bool(status)}


def package_versions() -> dict[str, str | None]:
    """Installed versions of Python and the numerically relevant packages (``None`` if absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for key, dist in PACKAGES.items():
        try:
            versions[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[key] = None
    return versions


def jax_info() -> dict[str, Any]:
    """Backend, devices and the flags that change numbers (x64, threefry partitioning, XLA)."""
    import jax

    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "device_kinds": sorted({d.device_kind for d in devices}),
        "device_count": len(devices),
        "local_device_count": jax.local_device_count(),
        "process_count": jax.process_count(),
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "jax_threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
        "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
        "compilation_cache_dir": jax.config.jax_compilation_cache_dir,
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
    }


def collect_provenance(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to say which code, packages and machine produced a result.

    Args:
      extra: additional JSON-able entries merged in at the top level.

    Returns:
      A JSON-able dict with keys ``git``, ``versions``, ``jax``, ``hostname``, ``platform``,
      ``command``, ``cwd``, ``python_executable``, ``start_time`` (UTC ISO 8601).
    """
    prov: dict[str, Any] = {
        "git": git_info(),
        "versions": package_versions(),
        "jax": jax_info(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "command": list(sys.argv),
        "cwd": os.getcwd(),
        "python_executable": sys.executable,
        "start_time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if extra:
        prov.update(extra)
    return prov
