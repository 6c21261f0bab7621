"""Hierarchy files: the YAML format of label hierarchies, the built-ins, and their loader.

Built-in hierarchies ship in `lg_keras/hierarchies/`; users write their own in the same format:

    name: digits_loops        # optional (default: the file stem)
    dataset: mnist            # optional
    description: "..."        # optional
    coarse:
      loops: [zero, six, eight, nine]
      no_loops: [one, two, three, four, five, seven]
    display_names:            # optional, fine id -> human-readable name
      n02085620: chihuahua
    fine_indices:             # optional, fine id -> index in the source's full label list
      n02085620: 151

Fine names are the dataset's class names (or an image folder's class folder names). Files are
read with a safe loader that refuses repeated keys and names that YAML would turn into numbers,
dates or booleans, and every error names the field, the rule and the value.

    from lg_keras import hierarchy_files
    hierarchy = hierarchy_files.load_hierarchy("cifar100")   # or a path to a YAML file
"""

import importlib.resources
import pathlib
import re
from typing import Any, Mapping

import yaml

from lg_keras.errors import HierarchyError
from lg_keras.labels import Hierarchy, build_hierarchy

_YAML_KEYS = ("name", "dataset", "description", "coarse", "display_names", "fine_indices")
_QUOTE_HINT = (
    "YAML reads unquoted numbers, dates, yes/no/on/off and null as non-strings; quote the name")


class _YamlMapping(dict):
    """A YAML mapping that remembers keys the file repeats (plain YAML keeps only the last)."""

    def __init__(self):
        super().__init__()
        self.repeated_keys: list[tuple[Any, int]] = []


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader whose mappings record repeated keys instead of silently merging them."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> _YamlMapping:
    loader.flatten_mapping(node)
    mapping = _YamlMapping()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool, type(None))):
            raise yaml.constructor.ConstructorError(
                None, None, f"found an unusable mapping key {key!r:.40}", key_node.start_mark)
        if key in mapping:
            mapping.repeated_keys.append((key, key_node.start_mark.line + 1))
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_repeated(mapping: Mapping, what: str, where: str) -> None:
    for key, line in getattr(mapping, "repeated_keys", ()):
        raise HierarchyError(
            f"{where}: {what} {key!r} appears twice (again on line {line}); {what}s must be unique.")


def builtin_hierarchy_names() -> list[str]:
    """Returns the names of the built-in hierarchies (files in lg_keras/hierarchies/)."""
    folder = importlib.resources.files("lg_keras") / "hierarchies"
    names = [p.name[:-len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")]
    # Natural order, so cifar10_custom_10 follows cifar10_custom_9.
    return sorted(names, key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])


def load_hierarchy(spec: str) -> Hierarchy:
    """Loads a built-in hierarchy by name, or a user's YAML file by path.

    Args:
        spec: a built-in name (see `builtin_hierarchy_names`) or a path to a YAML file.

    Returns:
        The validated `Hierarchy`, fine classes in YAML order (align it with `aligned_to`).

    Raises:
        HierarchyError: if `spec` is neither a built-in nor an existing file, or the file is invalid.
    """
    names = builtin_hierarchy_names()
    if spec in names:
        resource = importlib.resources.files("lg_keras") / "hierarchies" / f"{spec}.yaml"
        return _parse_yaml_text(resource.read_text(encoding="utf-8"), f"{spec}.yaml")
    path = pathlib.Path(spec)
    if not path.is_file():
        raise HierarchyError(
            f"Unknown hierarchy {spec!r}: not a built-in name and no file exists at {str(path)!r}. "
            f"Built-in: {', '.join(names)}.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise HierarchyError(f"Hierarchy file {str(path)!r} cannot be read as UTF-8 text: {e}."
                             ) from e
    return _parse_yaml_text(text, str(path))


def _parse_yaml_text(text: str, origin: str) -> Hierarchy:
    try:
        loader = _StrictLoader(text)  # a SafeLoader subclass: no arbitrary Python objects
        try:
            mapping = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise HierarchyError(f"Hierarchy '{origin}': not valid YAML: {e}") from e
    except ValueError as e:  # PyYAML's constructors raise it, e.g. for the date 2001-02-30
        raise HierarchyError(f"Hierarchy '{origin}': a value does not parse ({e}); {_QUOTE_HINT}."
                             ) from e
    except RecursionError as e:
        raise HierarchyError(f"Hierarchy '{origin}': nested too deeply; a hierarchy is a mapping "
                             f"of coarse class -> list of fine classes.") from e
    return parse_hierarchy(mapping, origin)


def parse_hierarchy(mapping: Any, origin: str) -> Hierarchy:
    """Validates a decoded YAML hierarchy (see the module docstring for the format).

    Args:
        mapping: the decoded YAML document.
        origin: where it came from (a file name), used in messages and as the default name.

    Returns:
        The `Hierarchy`, fine classes in YAML order.

    Raises:
        HierarchyError: naming the field, the rule and the value, if the document is invalid.
    """
    where = f"Hierarchy '{origin}'"
    if mapping is None:
        raise HierarchyError(f"{where}: the file is empty; it must be a mapping with a 'coarse' key.")
    if not isinstance(mapping, Mapping) or not mapping:
        raise HierarchyError(
            f"{where}: the file must be a non-empty mapping with a 'coarse' key; got "
            f"{type(mapping).__name__} {mapping!r:.80}.")
    _check_repeated(mapping, "top-level key", where)
    unknown = [k for k in mapping if k not in _YAML_KEYS]
    if unknown:
        raise HierarchyError(f"{where}: unknown top-level keys {unknown}; allowed: {', '.join(_YAML_KEYS)}.")
    coarse = mapping.get("coarse")
    if not isinstance(coarse, Mapping) or not coarse:
        raise HierarchyError(
            f"{where}: 'coarse' must be a non-empty mapping of coarse class -> list of fine classes; "
            f"got {coarse!r:.80}.")
    _check_repeated(coarse, "coarse class", where)
    owner: dict[str, str] = {}
    fine_names, fine_to_coarse = [], []
    for c, (coarse_name, fines) in enumerate(coarse.items()):
        if not isinstance(coarse_name, str) or not coarse_name:
            raise HierarchyError(
                f"{where}: coarse class name {coarse_name!r} is not a string; {_QUOTE_HINT}.")
        if not fines:
            raise HierarchyError(
                f"{where}: coarse class {coarse_name!r} has no fine class (got {fines!r}); each coarse "
                f"class needs a list of at least one fine class.")
        if not isinstance(fines, list):
            raise HierarchyError(
                f"{where}: coarse class {coarse_name!r} must list its fine classes, got {fines!r:.80}.")
        for fine in fines:
            if not isinstance(fine, str) or not fine:
                raise HierarchyError(
                    f"{where}: fine class {fine!r} ({type(fine).__name__}) under coarse class "
                    f"{coarse_name!r} is not a non-empty string; {_QUOTE_HINT}.")
            if fine in owner:
                if owner[fine] == coarse_name:
                    raise HierarchyError(
                        f"{where}: fine class {fine!r} is listed twice under coarse class {coarse_name!r}; "
                        f"list each fine class once.")
                raise HierarchyError(
                    f"{where}: fine class {fine!r} is listed under two coarse classes ({owner[fine]!r}, "
                    f"{coarse_name!r}); each fine class must belong to exactly one.")
            owner[fine] = coarse_name
            fine_names.append(fine)
            fine_to_coarse.append(c)
    if len(coarse) < 2:
        raise HierarchyError(
            f"{where}: needs at least 2 coarse classes, got {len(coarse)} ({list(coarse)}).")
    display = _optional_mapping(mapping, "display_names", where, owner, str)
    indices = _optional_mapping(mapping, "fine_indices", where, owner, int)
    if indices and len(indices) != len(fine_names):
        missing = [f for f in fine_names if f not in indices]
        raise HierarchyError(f"{where}: fine_indices must cover every fine class; missing {missing[:10]}.")
    return build_hierarchy(dict(
        name=mapping.get("name", pathlib.PurePath(origin).stem),
        coarse_names=tuple(coarse),
        fine_names=tuple(fine_names),
        fine_to_coarse=tuple(fine_to_coarse),
        dataset=mapping.get("dataset"),
        description=mapping.get("description", ""),
        display_names=tuple((f, display[f]) for f in fine_names if f in display),
        fine_indices=tuple(indices[f] for f in fine_names) if indices else ()), where)


def _optional_mapping(mapping: Mapping, key: str, where: str, fine: Mapping, value_type: type) -> dict:
    """Reads an optional `fine class -> value_type` mapping such as display_names."""
    value = mapping.get(key) or {}
    if not isinstance(value, Mapping):
        raise HierarchyError(f"{where}: {key} must be a mapping of fine class -> value, got {value!r:.80}.")
    _check_repeated(value, f"{key} key", where)
    for k, v in value.items():
        if k not in fine:
            raise HierarchyError(f"{where}: {key} names {k!r}, which is not one of the fine classes.")
        if not isinstance(v, value_type) or isinstance(v, bool):
            raise HierarchyError(f"{where}: {key}[{k!r}] must be a {value_type.__name__}, got {v!r}.")
    return dict(value)


# ---------------------------------------------------------------------------------------------
# Label transforms
# ---------------------------------------------------------------------------------------------
