"""The project's own error types.

Every error raised on bad user input is an `LgError`, so entry points can show its message without a
traceback. A message names the field, the rule and the value it received.
"""


class LgError(Exception):
    """Base class of every error lg_keras raises on bad input or a bad environment."""


class ConfigError(LgError, ValueError):
    """A configuration value breaks a rule (names the field, the rule and the value)."""


class HierarchyError(LgError, ValueError):
    """A label hierarchy is malformed or does not fit a dataset's classes."""


class DataError(LgError):
    """A data source or a built dataset is missing, corrupt or inconsistent."""


class RunDirError(LgError):
    """An output directory holds a different run, is locked by another process, or cannot be written."""


class ClusterError(LgError):
    """A multi-worker run lost a worker (dead, hung or unreachable) or its workers disagree."""
