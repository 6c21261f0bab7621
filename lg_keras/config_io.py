"""Config dataclasses to and from JSON-ready dicts, `--set` overrides, and the config hash.

Generic over the dataclasses of `lg_keras.config` and `lg_keras.component_configs`. `config_hash`
is `lg_keras.fingerprints.fingerprint` of the hashed fields; fields added after runs were recorded
carry `HASHED_WHEN_DEFAULT: False` in their metadata, so existing hashes stay valid.
"""

import dataclasses
import json
import typing
from typing import Any

from lg_keras.errors import ConfigError
from lg_keras.fingerprints import fingerprint

# Field metadata key: False for fields the config hash leaves out while at their default.
HASHED_WHEN_DEFAULT = "hashed_when_default"


def to_dict(cfg) -> dict:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def hashed_fields(cfg) -> dict:
    """The fields of a config dataclass that its hash covers (nested configs recursively)."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not f.metadata.get(HASHED_WHEN_DEFAULT, True) and value == f.default:
            continue
        out[f.name] = hashed_fields(value) if dataclasses.is_dataclass(value) else value
    return out


def config_hash(cfg) -> str:
    """A short stable hash of a config, used to name and skip finished outputs.

    Fields added after runs were recorded carry `HASHED_WHEN_DEFAULT: False`: at their default
    they are left out, so adding one keeps every existing hash (and finished run) valid.

    The hash sees values as they are: TrainConfig(warmup_epochs=2) hashes 2, but `from_dict` turns
    a JSON 2 into 2.0 for a float field, so the same config rebuilt from JSON hashes differently.
    Finished runs carry the hash of whichever form built them; neither may change.
    """
    return fingerprint(hashed_fields(cfg))


def from_dict(kind: type, data: Any, field: str = ""):
    """Builds a config dataclass from a (JSON) dict, rejecting unknown keys by name.

    Args:
        kind: the dataclass type to build.
        data: a mapping of field names to values (nested mappings for nested configs).
        field: dotted prefix for error messages.

    Returns:
        An instance of `kind`, validated by its __post_init__.

    Raises:
        ConfigError: for a non-mapping, an unknown key or a value of the wrong type.
    """
    prefix = f"{field}." if field else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{field or kind.__name__} must be a mapping; got {data!r}.")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - set(fields), key=str)  # JSON keys are strings; others may not be
    if unknown:
        raise ConfigError(f"Unknown field {prefix + str(unknown[0])!r}. Available: "
                          f"{', '.join(sorted(fields))}.")
    hints = typing.get_type_hints(kind)
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = from_dict(hint, value, prefix + name)
        else:
            kwargs[name] = _coerce(hint, value, prefix + name)
    return kind(**kwargs)


def parse_config(kind: type, value: Any):
    """A `kind` config from what an entry point received: the config itself, a mapping
    (`from_dict`), or that mapping as a JSON string; None and '' give the defaults.

    Raises:
        ConfigError: for malformed JSON, a non-mapping, an unknown key or an invalid value.
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except (json.JSONDecodeError, RecursionError) as e:
            raise ConfigError(f"The {kind.__name__} must be a JSON object; got {value!r:.200} "
                              f"({e}).") from e
    return from_dict(kind, {} if value is None else value)


def _coerce(hint, value, field: str):
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{field} must be a list; got {value!r}.")
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(f"{field} must be of type {hint.__name__}; got {value!r}.")
    return value


def apply_overrides(cfg, overrides: list[str]):
    """Applies `a.b=value` overrides (value parsed as JSON, else taken as a string).

    Args:
        cfg: a config dataclass instance.
        overrides: strings like 'train.epochs=2' or 'data.labels=coarse'.

    Returns:
        A new, validated config.

    Raises:
        ConfigError: for a malformed override or an unknown field (listing the choices).
    """
    data = to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects FIELD=VALUE (e.g. train.epochs=2); got {item!r}.")
        path, text = item.split("=", 1)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        except RecursionError as e:
            raise ConfigError(f"--set {path.strip()}: the value nests too deeply to parse; got "
                              f"{text[:40]!r}...") from e
        node = data
        parts = path.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"Unknown config section {part!r} in --set {item!r}. "
                                  f"Available: {', '.join(k for k, v in node.items() if isinstance(v, dict))}.")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"Unknown field {path!r} in --set {item!r}. Available: "
                              f"{', '.join(sorted(node))}.")
        node[parts[-1]] = value
    return from_dict(type(cfg), data)
