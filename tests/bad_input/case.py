"""One malformed input: what to run, the exception it must raise, what the message must name."""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Where a clear error must come from: our own code, never a library's internals.
OURS = tuple(str(ROOT / d) for d in ("jaxrl", "experiments", "paper_figures", "theory_checks"))


@dataclasses.dataclass(frozen=True)
class Case:
    """``run()`` must raise ``error`` whose message contains every string of ``names``.

    ``run`` may take one argument, a fresh ``tmp_path`` (for cases that write files)."""

    name: str
    run: Callable[..., object]
    error: type[BaseException] | tuple[type[BaseException], ...]
    names: tuple[str, ...]
    needs_tmp: bool = False


def raised_by_us(exc: BaseException) -> bool:
    """Whether the frame that raised ``exc`` (or, for an error re-raised by jax from one of our
    callbacks, the one that raised its cause) is in our own packages."""
    for e in (exc, exc.__cause__, exc.__context__):
        if e is None or e.__traceback__ is None:
            continue
        frames = traceback.extract_tb(e.__traceback__)
        if frames and frames[-1].filename.startswith(OURS):
            return True
    # jax re-raises a callback's exception as JaxRuntimeError carrying our message text only
    return type(exc).__name__ == "JaxRuntimeError" and "jaxrl" in str(exc)
