"""How configuration is declared, read and shown: one typed object, one line per variable.

Every setting of a process is a field of :class:`parley.config.Config`, declared once with
its environment variable, type and default::

    port: Annotated[int, Env("PARLEY_PORT")] = 8080
    secret: Annotated[str, Env("PARLEY_SECRET", secret=True)] = ""

:func:`from_env` reads the environment once, at the start of a process (``parley up``,
``parley node``, ``parley config``), and the object is passed down: nothing below
``parley`` reads ``os.environ``. A value is parsed by the field's type: ``str``, ``int``,
``float``, ``bool`` (``1/true/yes/on`` or ``0/false/no/off/none``), ``Path``, ``Path | None``,
a ``Literal`` (one of its values) or ``tuple[str, ...]`` (comma-separated). An empty value
counts as unset. A bad value raises :class:`SettingError` (a ValueError) naming the
variable, so a process does not start half-configured.

:func:`describe` gives the effective settings for ``parley config``, secrets masked
(passwords inside URLs too); :func:`variables` the declared names (docs/operating.md's
table is checked against them).
"""

from __future__ import annotations

__all__ = ["Env", "SettingError", "Variable", "describe", "from_env", "variables"]

import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import msgspec

from bus.auth import mask_url

T = TypeVar("T", bound=msgspec.Struct)

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "none")


class SettingError(ValueError):
    """A variable's value cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Env:
    """The environment variable of a field; ``secret``: never shown (``parley config``)."""

    name: str
    secret: bool = False


@dataclass(frozen=True)
class Variable:
    """One declared setting: the field, its variable, its type (without ``Annotated``)."""

    field: str
    env: Env
    type: Any


def variables(cls: type[msgspec.Struct]) -> list[Variable]:
    """The settings of ``cls`` that have an environment variable, in declaration order."""
    out = []
    for f in msgspec.structs.fields(cls):
        tp = f.type
        extras = getattr(tp, "__metadata__", ())
        env = next((x for x in extras if isinstance(x, Env)), None)
        if env is not None:
            out.append(Variable(f.name, env, get_args(tp)[0]))
    return out


def _parse(raw: str, tp: Any, name: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return _parse(raw, inner[0], name)
    if tp is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingError(f"{name} must be one of {_TRUE + _FALSE}, not {raw!r}")
    if tp in (int, float):
        try:
            return tp(raw)
        except ValueError:
            raise SettingError(f"{name} must be a number ({tp.__name__}), not {raw!r}") from None
    if tp is str:
        return raw
    if tp is Path:
        return Path(raw).expanduser()
    if origin is Literal:
        if raw not in get_args(tp):
            raise SettingError(f"{name} must be one of {get_args(tp)}, not {raw!r}")
        return raw
    if origin is tuple:
        return tuple(x.strip() for x in raw.split(",") if x.strip())
    raise TypeError(f"{name}: no parser for {tp!r}")


def from_env(cls: type[T], env: Mapping[str, str], **overrides: Any) -> T:
    """``cls`` with every declared variable that is set (and not empty) in ``env``, then
    ``overrides`` (command-line flags)."""
    values: dict[str, Any] = {}
    for var in variables(cls):
        raw = env.get(var.env.name, "").strip()
        if raw:
            values[var.field] = _parse(raw, var.type, var.env.name)
    values.update(overrides)
    return cls(**values)


def _shown(value: Any, secret: bool) -> str:
    if secret:
        return "***" if value else ""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    text = str(value)
    return mask_url(text) if "://" in text and "@" in text else text


def describe(obj: msgspec.Struct, env: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(variable, effective value, ``env`` / ``default`` / ``flag``) for every declared
    setting of ``obj``; secrets as ``***``, passwords inside URLs masked. ``env`` is the
    environment ``obj`` was built from: a value that differs from it came from a flag."""
    default = type(obj)()
    rows = []
    for var in variables(type(obj)):
        value = getattr(obj, var.field)
        raw = env.get(var.env.name, "").strip()
        if raw and _parse(raw, var.type, var.env.name) == value:
            source = "env"
        elif value == getattr(default, var.field) and not raw:
            source = "default"
        else:
            source = "flag"
        rows.append((var.env.name, _shown(value, var.env.secret), source))
    return rows
