"""Field checks of the config dataclasses: each failure is a ConfigError naming the field, the rule
and the value (`lg_keras.config`, `lg_keras.component_configs`, `lg_keras.label_views`)."""

from typing import Any

from lg_keras.errors import ConfigError


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def require(ok: bool, field: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{field} {rule}; got {value!r}.")


def choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"Unknown {field} {value!r}. Available: {', '.join(choices)}.")
