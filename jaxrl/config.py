"""Typed configs: frozen dataclasses with runtime type checks, JSON and a tyro CLI.

The bottom layer of ``jaxrl`` (``tests/test_architecture.py``): agents, the bi-level code and the
experiment layer all build their configs on :class:`Config`, and it imports no ``jaxrl`` module.

A config class subclasses :class:`Config` and is decorated ``@dataclasses.dataclass(frozen=True)``;
each field carries a docstring (tyro turns it into ``--help`` text). Construction checks every
field against its annotation (``validate_types``) and then the class's value constraints
(``check``), so a bad config fails at parse time with the field's name rather than deep in a
jitted function. Derived quantities are ``@property`` methods, never mutated fields.

Example::

    @dataclasses.dataclass(frozen=True)
    class PPOExperiment(Config):
        seeds: int = 4
        \"\"\"Number of independent seeds (vmapped).\"\"\"
        lr: float = 3e-4

        def check(self) -> None:
            self.require(self.seeds > 0, "seeds", "must be positive")

    cfg = cli({"quick": PPOExperiment(seeds=2), "paper": PPOExperiment(seeds=16)}, __doc__)
"""

from __future__ import annotations

import argparse
import contextvars
import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, Union

import tyro

C = TypeVar("C", bound="Config")


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def _check(value: Any, tp: Any, path: str) -> None:
    """Raise ``TypeError`` naming ``path`` if ``value`` does not match annotation ``tp``."""

    def fail() -> typing.NoReturn:
        raise TypeError(
            f"config field {path!r}: got {value!r} of type {type(value).__name__}, "
            f"expected {_type_name(tp)}"
        )

    if tp is Any or tp is object:
        return
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        for alt in args:
            try:
                _check(value, alt, path)
                return
            except TypeError:
                continue
        fail()
    if origin is Literal:
        # `True == 1`, so compare types as well as values.
        if not any(value == a and type(value) is type(a) for a in args):
            fail()
        return
    if origin is tuple or origin is list:
        if not isinstance(value, origin):
            fail()
        if len(args) == 2 and args[1] is Ellipsis:
            for i, v in enumerate(value):
                _check(v, args[0], f"{path}[{i}]")
        elif origin is list and args:
            for i, v in enumerate(value):
                _check(v, args[0], f"{path}[{i}]")
        elif args and args != ((),):
            if len(value) != len(args):
                fail()
            for i, (v, a) in enumerate(zip(value, args, strict=True)):
                _check(v, a, f"{path}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            fail()
        if args:
            for k, v in value.items():
                _check(k, args[0], f"{path}.<key>")
                _check(v, args[1], f"{path}[{k!r}]")
        return
    if tp is type(None):
        if value is not None:
            fail()
        return
    if tp is bool:
        if not isinstance(value, bool):
            fail()
        return
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail()
        return
    if tp is float:
        # Accept ints (`lr=1`), but not bools.
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail()
        return
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, tp):
            fail()
        _validate(value, path)
        return
    if isinstance(tp, type):
        if not isinstance(value, tp):
            fail()
        return
    raise TypeError(f"config field {path!r}: unsupported annotation {tp!r}")


def _validate(cfg: Any, prefix: str) -> None:
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        if not f.init:
            continue
        path = f"{prefix}.{f.name}" if prefix else f.name
        _check(getattr(cfg, f.name), hints[f.name], path)


def validate_types(cfg: Any) -> None:
    """Check every field of dataclass ``cfg`` (recursively) against its annotation.

    Supported annotations: ``int`` (bools rejected), ``float`` (ints accepted), ``bool``, ``str``,
    ``Literal[...]``, ``tuple[T, ...]``, fixed ``tuple[A, B]``, ``list[T]``, ``dict[K, V]``,
    ``X | None`` / ``Optional[X]`` / unions, nested dataclasses, ``Any`` and plain classes.

    Raises:
      TypeError: naming the (dotted) field, the bad value and the expected type.
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"validate_types expects a dataclass instance, got {cfg!r}")
    _validate(cfg, "")


class CLIError(ValueError, SystemExit):
    """A bad command-line value (:func:`cli`): a ``ValueError`` whose message names the flag or
    field and the value, and a ``SystemExit`` carrying that message, so that a script prints it
    and exits with status 1 instead of a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = message


#: set while tyro builds a config in :func:`cli`, which then runs ``check`` itself: tyro would
#: turn a ``check`` ValueError into a bare ``SystemExit(2)``.
_DEFER_CHECKS: contextvars.ContextVar[bool] = contextvars.ContextVar("defer", default=False)


def _check_tree(cfg: Any) -> None:
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, Config):
            _check_tree(value)
    cfg.check()


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class for frozen experiment configs: type-checked and value-checked on construction."""

    def __post_init__(self) -> None:
        validate_types(self)
        if not _DEFER_CHECKS.get():
            self.check()

    def check(self) -> None:
        """Value constraints; override and call :meth:`require` for each (default: none)."""

    def require(self, ok: bool, field: str, why: str) -> None:
        """Raise ``ValueError`` naming ``field`` and its value unless ``ok``."""
        if not ok:
            raise ValueError(
                f"{type(self).__name__}.{field} = {getattr(self, field)!r} is invalid: {why}"
            )

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (re-validated)."""
        return dataclasses.replace(self, **changes)


def to_json_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-serialisable dict of dataclass ``cfg`` (nested dataclasses become dicts)."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v) if f.init}
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        return v

    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"to_json_dict expects a dataclass instance, got {cfg!r}")
    return conv(cfg)


def _from_json(v: Any, tp: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        for alt in args:  # first alternative that both converts and type-checks
            try:
                out = _from_json(v, alt)
                _check(out, alt, "")
                return out
            except (TypeError, ValueError):
                continue
        return v
    if origin is tuple and isinstance(v, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(x, args[0]) for x in v)
        if args and len(args) == len(v):
            return tuple(_from_json(x, a) for x, a in zip(v, args, strict=True))
        return tuple(v)
    if origin is list and isinstance(v, list) and args:
        return [_from_json(x, args[0]) for x in v]
    if dataclasses.is_dataclass(tp) and isinstance(v, dict):
        return from_json_dict(tp, v)
    return v


def from_json_dict(cls: type[C], d: Mapping[str, Any]) -> C:
    """Rebuild ``cls`` from :func:`to_json_dict` output (lists -> tuples, dicts -> dataclasses).

    Raises:
      ValueError: on keys that are not fields of ``cls`` (a stale or foreign config).
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}")
    return cls(**{k: _from_json(v, hints[k]) for k, v in d.items()})


def config_hash(cfg: Any, length: int = 8) -> str:
    """Short stable hash of a config's canonical JSON (dataclass or JSON-able dict)."""
    d = to_json_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def cli(
    presets: Mapping[str, C],
    description: str | None = None,
    *,
    args: Sequence[str] | None = None,
    default_profile: str | None = None,
    prog: str | None = None,
) -> C:
    """Parse ``--profile NAME`` plus per-field overrides into a config.

    ``python experiments/x.py --profile quick --seeds 3`` starts from ``presets["quick"]`` and
    sets ``seeds=3``; ``--help`` after ``--profile`` shows that profile's values as defaults.
    ``--profile`` is parsed first with argparse and the remaining flags go to ``tyro.cli`` with the
    preset as default (rather than ``tyro.extras.overridable_config_cli``, whose profiles are
    positional subcommands, not a ``--profile`` flag).

    Args:
      presets: profile name -> config instance (all of one class), e.g. ``quick`` and ``paper``.
      description: help text (e.g. the script's ``__doc__``).
      args: argument list; defaults to ``sys.argv[1:]``.
      default_profile: profile used without ``--profile``; defaults to the first preset.
      prog: program name for help text.

    Returns:
      The resolved, validated config.

    Raises:
      CLIError: an unknown profile, or a value the config's ``check`` refuses (a ``ValueError``
        and a ``SystemExit``: the script prints the message and exits with status 1). Values
        tyro cannot parse exit with its usage message (status 2).
    """
    names = list(presets)
    if not names:
        raise ValueError("cli needs at least one preset")
    default_profile = default_profile or names[0]
    if default_profile not in presets:
        raise ValueError(f"default_profile={default_profile!r} not in {names}")
    classes = {type(p) for p in presets.values()}
    if len(classes) != 1:
        raise TypeError(
            f"all presets must share one class, got {sorted(c.__name__ for c in classes)}"
        )
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False, prog=prog)
    pre.add_argument("--profile", default=default_profile, metavar="{" + ",".join(names) + "}")
    known, rest = pre.parse_known_args(args)
    if known.profile not in presets:
        raise CLIError(f"--profile {known.profile!r} is not a profile; choose one of {names}")
    profile_help = (
        f"--profile {{{','.join(names)}}} picks a preset (default: {default_profile}; "
        f"now: {known.profile}); the flags below override its fields."
    )
    desc = f"{description.strip()}\n\n{profile_help}" if description else profile_help
    (cls,) = classes
    token = _DEFER_CHECKS.set(True)
    try:
        cfg = tyro.cli(cls, default=presets[known.profile], args=rest, description=desc, prog=prog)
    finally:
        _DEFER_CHECKS.reset(token)
    try:
        _check_tree(cfg)
    except ValueError as e:  # names the field and its value
        raise CLIError(str(e)) from None
    return cfg
