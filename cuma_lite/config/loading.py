"""Presets and overrides: a YAML file fills the config tree, dotted ``section.key=value`` strings override it.

    cfg = load_config("tiny-cpu", overrides=["train.learning_rate=1e-5", "vote.min_share=0"])

Unknown sections and keys are an error that lists the valid ones; values are coerced from YAML/CLI text to the
field's annotated type, and a value that cannot be coerced names the type it needed.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from cuma_lite.config.schema import Config, field_help
from cuma_lite.errors import ConfigError


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


class _Yaml12Loader(yaml.SafeLoader):
    """YAML with only ``true``/``false`` as booleans: ``curriculum.mode: off`` must stay the string "off"."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Yaml12Loader)


PRESET_SUFFIX = ".yaml"


def _presets_dir() -> Path:
    return Path(str(resources.files("cuma_lite") / "presets"))


def list_presets() -> list[str]:
    return sorted(p.stem for p in _presets_dir().glob(f"*{PRESET_SUFFIX}"))


def preset_path(name: str) -> Path:
    """A preset by name (``tiny-cpu``) or a path to any YAML file of the same shape."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    path = _presets_dir() / f"{name}{PRESET_SUFFIX}"
    if not path.is_file():
        raise ConfigError(
            f"unknown preset {name!r}. Available presets: {', '.join(list_presets())} "
            "(or pass a path to a .yaml file)."
        )
    return path


def load_config(preset: str | None = None, overrides: typing.Sequence[str] = ()) -> Config:
    """Build the config from a preset (or the defaults) and dotted ``section.key=value`` overrides."""
    raw: dict[str, Any] = {}
    where = "defaults"
    if preset is not None:
        path = preset_path(preset)
        where = str(path)
        try:
            raw = _load_yaml(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e}).") from None
        _check(
            isinstance(raw, dict), f"{path}: a preset must be a mapping of sections (model:, train:, ...)."
        )
    for item in overrides:
        key, sep, value = item.partition("=")
        _check(
            bool(sep) and bool(key.strip()),
            f"override {item!r} is not key=value; write e.g. train.max_steps=50.",
        )
        section, dot, name = key.strip().partition(".")
        _check(bool(dot), f"override {item!r}: the key must be section.name, e.g. train.max_steps.")
        sect = raw.setdefault(section, {})
        _check(isinstance(sect, dict), f"{where}: section {section!r} is not a mapping.")
        sect[name] = _load_yaml(value) if value.strip() else ""
    return build_config(raw, where=where)


def build_config(raw: dict[str, Any], *, where: str = "config") -> Config:
    sections = typing.get_type_hints(Config)
    unknown = sorted(set(raw) - set(sections))
    _check(not unknown, f"{where}: unknown section(s) {unknown}; valid sections: {', '.join(sections)}.")
    built = {
        name: _build_section(cls, raw.get(name) or {}, f"{where}: {name}") for name, cls in sections.items()
    }
    try:
        return Config(**built)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None


def _build_section(cls: type, values: dict[str, Any], where: str) -> Any:
    _check(isinstance(values, dict), f"{where} must be a mapping of key: value.")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    section = where.rsplit(": ", 1)[-1]
    unknown = sorted(set(values) - set(valid))
    _check(
        not unknown,
        f"{where}: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
        f"valid keys: {', '.join(f'{section}.{k}' for k in valid)}.",
    )
    kwargs = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in values.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Coerce a YAML value to the annotated type, or raise a ConfigError naming the expected type."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: cannot be {value!r}.")
    if origin is Literal:
        _check(value in args, f"{key}={value!r} is not allowed; choose one of: {', '.join(map(str, args))}.")
        return value
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        _check(isinstance(value, list), f"{key}={value!r}: expected a list, e.g. [a, b] or a,b.")
        return [_coerce(v, args[0], key) for v in value] if args else value
    if tp is bool:
        _check(isinstance(value, bool), f"{key}={value!r}: expected a boolean (true or false).")
        return value
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok and isinstance(value, float) and value.is_integer():
            return int(value)
        _check(ok, f"{key}={value!r}: expected an integer.")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML reads "1e-5" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        _check(
            isinstance(value, (int, float)) and not isinstance(value, bool),
            f"{key}={value!r}: expected a number.",
        )
        return float(value)
    if tp is str:
        _check(
            isinstance(value, (str, int, float)) and not isinstance(value, bool),
            f"{key}={value!r}: expected text.",
        )
        return str(value)
    return value


def dump_config(cfg: Config, *, with_help: bool = False) -> str:
    """The fully resolved config as YAML (what a run writes to ``config.yaml``); ``with_help`` adds each key's help
    as a comment."""
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    if not with_help:
        return text
    lines, section = [], None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section = getattr(cfg, line.rstrip(":"))
        elif line.startswith("  ") and not line.startswith("   ") and ":" in line and section is not None:
            help_text = field_help(section, line.strip().split(":", 1)[0])
            if help_text:
                line = f"{line}  # {help_text}"
        lines.append(line)
    return "\n".join(lines) + "\n"
