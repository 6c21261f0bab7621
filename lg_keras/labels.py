"""Fine/coarse label hierarchies and the label transforms of the paper's experiments.

A `Hierarchy` maps fine classes to coarse classes (paper Table II, Table VI). Built-in hierarchies
ship as YAML files in `lg_keras/hierarchies/`, read by `lg_keras.hierarchy_files`, which also
reads users' files in the same format. Until `Hierarchy.aligned_to` reorders them, fine classes
are in YAML order, coarse class by coarse class.

Coarsening (Sec. III) and relabelling are pure numpy here; the noisy-label and data-fraction
variants are in `lg_keras.label_variants`.
"""

import dataclasses
import difflib
import types
from typing import Any, Mapping, Sequence

import numpy as np

from lg_keras.errors import HierarchyError

_DICT_KEYS = ("name", "dataset", "description", "coarse_names", "fine_names", "fine_to_coarse",
              "display_names", "fine_indices")


class ClassCounts:
    """`num_fine_classes` and `num_coarse_classes` of a class with `fine_names` and `coarse_names`
    (a Hierarchy, a built dataset's DatasetInfo)."""

    @property
    def num_fine_classes(self) -> int:
        """Number of fine classes."""
        return len(self.fine_names)

    @property
    def num_coarse_classes(self) -> int:
        """Number of coarse classes."""
        return len(self.coarse_names)


@dataclasses.dataclass(frozen=True)
class Hierarchy(ClassCounts):
    """A two-level label hierarchy: every fine class belongs to exactly one coarse class.

    Attributes:
        name: short name, e.g. 'cifar10' or a YAML file's stem.
        coarse_names: coarse class names; a coarse label is an index into this tuple.
        fine_names: fine classes used, in YAML order, or in the dataset's label order once aligned
            with `aligned_to`. A fine label is an index into this tuple.
        fine_to_coarse: coarse index of each fine class, parallel to `fine_names`.
        dataset: dataset the hierarchy is written for ('cifar10', 'cifar100', 'imagenet',
            'fashion_mnist', ...), or None.
        description: free text, e.g. the paper table it comes from and any correction.
        display_names: optional (fine name, human-readable name) pairs, in `fine_names` order,
            e.g. ('n02085620', 'Chihuahua') for ImageNet synsets.
        fine_indices: optional index of each fine class in the source's full label list (e.g. the
            ILSVRC-2012 class index), parallel to `fine_names`; empty when not given.

    Raises:
        HierarchyError: if the fields are inconsistent (checked on construction).
    """

    name: str
    coarse_names: tuple[str, ...]
    fine_names: tuple[str, ...]
    fine_to_coarse: tuple[int, ...]
    dataset: str | None = None
    description: str = ""
    display_names: tuple[tuple[str, str], ...] = ()
    fine_indices: tuple[int, ...] = ()

    def __post_init__(self):
        for field in ("coarse_names", "fine_names", "fine_to_coarse", "fine_indices"):
            object.__setattr__(self, field, tuple(getattr(self, field)))
        object.__setattr__(self, "display_names", tuple(tuple(p) for p in self.display_names))
        _check_fields(self, f"Hierarchy '{self.name}'")
        # Plain ints, so to_dict() is JSON-ready even when numpy integers were passed in.
        object.__setattr__(self, "fine_to_coarse", tuple(int(c) for c in self.fine_to_coarse))
        object.__setattr__(self, "fine_indices", tuple(int(i) for i in self.fine_indices))

    def fine_to_coarse_array(self) -> np.ndarray:
        """Returns the fine -> coarse map as an int32 array of shape [num_fine_classes]."""
        return np.asarray(self.fine_to_coarse, dtype=np.int32)

    def source_indices(self, class_names: Sequence[str]) -> np.ndarray:
        """Finds each fine class (in this hierarchy's order) among a dataset's class names.

        Args:
            class_names: the dataset's class names, in its label order.

        Returns:
            int64 array of shape [num_fine_classes]: the index in `class_names` of each fine class.

        Raises:
            HierarchyError: if `class_names` repeats a name or lacks some fine classes.
        """
        class_names = list(class_names)
        position = {}
        for i, class_name in enumerate(class_names):
            if class_name in position:
                raise HierarchyError(
                    f"Hierarchy '{self.name}': the dataset's class names list {class_name!r} twice "
                    f"(indices {position[class_name]} and {i}); class names must be unique.")
            position[class_name] = i
        unknown = [f for f in self.fine_names if f not in position]
        if unknown:
            hints = [f"{f!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(f, class_names, 1))
                     else repr(f) for f in unknown[:10]]
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise HierarchyError(
                f"Hierarchy '{self.name}': fine classes {', '.join(hints)}{more} are not among the "
                f"dataset's {len(class_names)} class names; the fine classes must be a subset of them. "
                f"Valid names include: {', '.join(class_names[:10])}"
                f"{', ...' if len(class_names) > 10 else ''}.")
        return np.asarray([position[f] for f in self.fine_names], dtype=np.int64)

    def aligned_to(self, class_names: Sequence[str]) -> "Hierarchy":
        """Returns the same hierarchy with its fine classes in the dataset's label order.

        Coarse classes keep their order, so coarse labels do not change meaning.

        Args:
            class_names: the dataset's class names, in its label order; may hold more classes than
                the hierarchy uses.

        Returns:
            A `Hierarchy` whose `fine_names` follow `class_names`' order.

        Raises:
            HierarchyError: if some fine classes are not in `class_names` (see `source_indices`).
        """
        order = np.argsort(self.source_indices(class_names), kind="stable").tolist()
        display = dict(self.display_names)
        fine_names = tuple(self.fine_names[i] for i in order)
        return dataclasses.replace(
            self,
            fine_names=fine_names,
            fine_to_coarse=tuple(self.fine_to_coarse[i] for i in order),
            display_names=tuple((f, display[f]) for f in fine_names if f in display),
            fine_indices=tuple(self.fine_indices[i] for i in order) if self.fine_indices else ())

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict (for dataset.json) that `from_dict` reads back unchanged."""
        return {
            "name": self.name,
            "dataset": self.dataset,
            "description": self.description,
            "coarse_names": list(self.coarse_names),
            "fine_names": list(self.fine_names),
            "fine_to_coarse": list(self.fine_to_coarse),
            "display_names": dict(self.display_names),
            "fine_indices": list(self.fine_indices),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], origin: str) -> "Hierarchy":
        """Reads a dict written by `to_dict`, validating it.

        Args:
            d: the decoded dict.
            origin: where it came from (e.g. a dataset.json path), for error messages.

        Returns:
            The `Hierarchy`.

        Raises:
            HierarchyError: if a key is missing or unknown, or a value breaks a rule.
        """
        where = f"Hierarchy in '{origin}'"
        if not isinstance(d, Mapping):
            raise HierarchyError(f"{where}: expected a mapping, got {type(d).__name__} {d!r:.80}.")
        unknown = sorted(set(map(str, d)) - set(_DICT_KEYS))
        missing = [k for k in ("name", "coarse_names", "fine_names", "fine_to_coarse") if k not in d]
        if unknown or missing:
            raise HierarchyError(
                f"{where}: unknown keys {unknown}, missing keys {missing}; required keys are name, "
                f"coarse_names, fine_names, fine_to_coarse (optional: dataset, description, "
                f"display_names, fine_indices).")
        for key in ("coarse_names", "fine_names", "fine_to_coarse", "fine_indices"):
            if not isinstance(d.get(key, []), (list, tuple)):
                raise HierarchyError(f"{where}: {key} must be a list, got {d[key]!r:.80}.")
        display = d.get("display_names") or {}
        if not isinstance(display, Mapping):
            raise HierarchyError(f"{where}: display_names must be a mapping, got {display!r:.80}.")
        fields = dict(name=d["name"], coarse_names=tuple(d["coarse_names"]),
                      fine_names=tuple(d["fine_names"]), fine_to_coarse=tuple(d["fine_to_coarse"]),
                      dataset=d.get("dataset"), description=d.get("description", ""),
                      display_names=tuple(display.items()),
                      fine_indices=tuple(d.get("fine_indices") or ()))
        return build_hierarchy(fields, where, cls)


def build_hierarchy(fields: dict[str, Any], where: str, cls: type = Hierarchy) -> Hierarchy:
    """Validates `fields` (Hierarchy's attributes) with errors prefixed by `where`, then builds it."""
    _check_fields(types.SimpleNamespace(**fields), where)
    return cls(**fields)


def _check_fields(h: Any, where: str) -> None:
    """Raises HierarchyError, prefixed with `where`, if the fields of `h` are inconsistent."""
    if not isinstance(h.name, str) or not h.name:
        raise HierarchyError(f"{where}: name must be a non-empty string, got {h.name!r}.")
    if h.dataset is not None and (not isinstance(h.dataset, str) or not h.dataset):
        raise HierarchyError(f"{where}: dataset must be a non-empty string or absent, got {h.dataset!r}.")
    if not isinstance(h.description, str):
        raise HierarchyError(f"{where}: description must be a string, got {h.description!r:.80}.")
    for field in ("coarse_names", "fine_names"):
        names = getattr(h, field)
        bad = [n for n in names if not isinstance(n, str) or not n]
        if bad:
            raise HierarchyError(f"{where}: {field} must be non-empty strings; got {bad[0]!r}.")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise HierarchyError(f"{where}: {field} must be unique; repeated {repeated}.")
    if len(h.coarse_names) < 2:
        raise HierarchyError(
            f"{where}: needs at least 2 coarse classes, got {len(h.coarse_names)} {list(h.coarse_names)}.")
    num_coarse = len(h.coarse_names)
    if len(h.fine_to_coarse) != len(h.fine_names):
        raise HierarchyError(
            f"{where}: fine_to_coarse must have one entry per fine class; got {len(h.fine_to_coarse)} "
            f"entries for {len(h.fine_names)} fine classes.")
    bad = [c for c in h.fine_to_coarse if not is_int(c) or not 0 <= c < num_coarse]
    if bad:
        raise HierarchyError(
            f"{where}: fine_to_coarse entries must be integers in [0, {num_coarse}); got {bad[0]!r}.")
    used = set(h.fine_to_coarse)
    empty = [c for i, c in enumerate(h.coarse_names) if i not in used]
    if empty:
        raise HierarchyError(
            f"{where}: coarse classes {empty} have no fine class; every coarse class needs at least one.")
    fine_set = set(h.fine_names)
    keys = [p[0] for p in h.display_names]
    bad = [p for p in h.display_names if len(p) != 2 or p[0] not in fine_set or not isinstance(p[1], str)]
    if bad or len(set(keys)) != len(keys):
        raise HierarchyError(
            f"{where}: display_names must map each fine class at most once to a string; got "
            f"{(bad or [keys])[0]!r}.")
    if h.fine_indices:
        bad = [i for i in h.fine_indices if not is_int(i) or i < 0]
        if len(h.fine_indices) != len(h.fine_names) or bad or len(set(h.fine_indices)) != len(h.fine_indices):
            raise HierarchyError(
                f"{where}: fine_indices must give every fine class a distinct non-negative integer; got "
                f"{len(h.fine_indices)} entries for {len(h.fine_names)} fine classes "
                f"{list(h.fine_indices)[:10]}.")


def is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def int_labels(labels: Any, field: str, upper: int) -> np.ndarray:
    """Returns `labels` as an integer array, raising HierarchyError if any is outside [0, upper)."""
    labels = np.asarray(labels)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise HierarchyError(f"{field} must be integers, got dtype {labels.dtype}.")
    bad = labels[(labels < 0) | (labels >= upper)]
    if bad.size:
        raise HierarchyError(f"{field} must lie in [0, {upper}); got {bad[0]} ({bad.size} such values).")
    return labels


def coarsen_labels(fine_labels: np.ndarray, fine_to_coarse: np.ndarray) -> np.ndarray:
    """Maps fine labels to coarse labels (paper Sec. III).

    Args:
        fine_labels: integer array of any shape, values in [0, len(fine_to_coarse)).
        fine_to_coarse: int array [num_fine_classes], e.g. `Hierarchy.fine_to_coarse_array()`.

    Returns:
        Coarse labels, same shape as `fine_labels`, dtype of `fine_to_coarse`.

    Raises:
        HierarchyError: if a fine label is out of range.
    """
    fine_to_coarse = np.asarray(fine_to_coarse)
    return fine_to_coarse[int_labels(fine_labels, "fine_labels", len(fine_to_coarse))]


def relabel_to_hierarchy(source_labels: np.ndarray, source_index_to_fine: np.ndarray) -> np.ndarray:
    """Maps a dataset's labels to a hierarchy's fine labels; -1 marks classes the hierarchy drops.

    Build the map from `Hierarchy.source_indices(class_names)`:
    `m = np.full(len(class_names), -1); m[h.source_indices(class_names)] = np.arange(h.num_fine_classes)`.

    Args:
        source_labels: integer array of the dataset's labels, values in [0, len(source_index_to_fine)).
        source_index_to_fine: int array [num_source_classes]: fine index of each source class, or -1.

    Returns:
        int64 array, same shape as `source_labels`: fine labels, -1 where the class is dropped.

    Raises:
        HierarchyError: if a source label is out of range.
    """
    source_index_to_fine = np.asarray(source_index_to_fine, dtype=np.int64)
    return source_index_to_fine[int_labels(source_labels, "source_labels", len(source_index_to_fine))]
