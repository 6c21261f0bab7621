"""The table of dataset keys: every dataset an experiment trains on, and what it is.

A dataset key is the name of its label hierarchy (`lg data hierarchies`) unless the entry names
another. Each `DatasetEntry` says which source it is built from (`lg_keras.sources.catalog`: sizes,
local layouts, the hint on how to provide it), its name in the paper's tables, its recipe family
(paper Table III: which network trains it), which noisy fine-label views its build carries
(Table VII) and the key of the paper's numbers (`components.reporter.paper_numbers`), if the paper
prints any under its name.

The table sits in the library, beside the hierarchies it names, because both the planner
(pipelines/) and the reporter (components/) read it and dependencies point one way, pipelines ->
components -> lg_keras; it holds plain facts, no pipeline logic.

Adding a dataset is one `register_dataset` call here (plus, for a new source, its entry in the
source table and its reader module).

    from lg_keras import dataset_table
    dataset_table.dataset_entry("cifar100_animals").family  # 'cifar100'
"""

import dataclasses

from lg_keras.errors import ConfigError
from lg_keras.sources import catalog

# Recipe families: a family shares one recipe (network, schedule, input size) in a profile
# (`pipelines.profiles.Profile` has one field per family).
FAMILIES = ("cifar10", "cifar100", "imagenet")
# Kinds of noisy fine-label views a build may carry (`BuildConfig.noise_kind`).
NOISE_KINDS = ("within_coarse", "launched")


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """One dataset key.

    Attributes:
        key: the key experiments, plan.json and the report use.
        source: the source it is built from (a `catalog` name).
        display_name: its name in the paper's tables (or ours, for an extra).
        family: its recipe family, one of FAMILIES.
        hierarchy: its label hierarchy; None: the key itself.
        noise_kind: the kind of Table VII's noisy fine-label views its build carries (one of
            NOISE_KINDS); None: none.
        paper_key: the key of the paper's printed numbers for it (`paper_numbers`); None where the
            paper prints none under its name (an extra, a Table VI row, a noise variant).
    """

    key: str
    source: str
    display_name: str
    family: str
    hierarchy: str | None = None
    noise_kind: str | None = None
    paper_key: str | None = None

    @property
    def hierarchy_name(self) -> str:
        """The hierarchy the build uses."""
        return self.hierarchy or self.key


_DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Adds `entry` to the table.

    Raises:
        ConfigError: a key registered twice, an unknown source, family or noise kind (listing
            the known ones).
    """
    if entry.key in _DATASETS:
        raise ConfigError(f"Dataset key {entry.key!r} is registered twice.")
    catalog.source_entry(entry.source)
    if entry.family not in FAMILIES:
        raise ConfigError(f"Unknown family {entry.family!r} for dataset {entry.key!r}. "
                          f"Available: {', '.join(FAMILIES)}.")
    if entry.noise_kind is not None and entry.noise_kind not in NOISE_KINDS:
        raise ConfigError(f"Unknown noise kind {entry.noise_kind!r} for dataset {entry.key!r}. "
                          f"Available: {', '.join(NOISE_KINDS)}.")
    _DATASETS[entry.key] = entry
    return entry


def unregister_dataset(key: str) -> None:
    """Removes a key registered by `register_dataset` (tests)."""
    del _DATASETS[key]


def dataset_keys() -> list[str]:
    """The registered keys, in registration order."""
    return list(_DATASETS)


def dataset_entry(key: str) -> DatasetEntry:
    """The entry of dataset `key`.

    Raises:
        ConfigError: for an unknown key, listing the known ones.
    """
    if key not in _DATASETS:
        raise ConfigError(f"Unknown dataset key {key!r}. Available: {', '.join(_DATASETS)}.")
    return _DATASETS[key]


def paper_dataset_names() -> dict[str, str]:
    """The paper's numbers key -> display name, for the datasets the paper prints numbers of."""
    return {e.paper_key: e.display_name for e in _DATASETS.values() if e.paper_key}


# --------------------------------------------------------------------------- the datasets

# Paper Table I's datasets and Table VIII's CIFAR-100 subsets (hierarchies: the authors' code's).
register_dataset(DatasetEntry("cifar10", "cifar10", "CIFAR-10", "cifar10",
                              noise_kind="within_coarse", paper_key="cifar10"))
register_dataset(DatasetEntry("cifar100", "cifar100", "CIFAR-100", "cifar100",
                              paper_key="cifar100"))
register_dataset(DatasetEntry("cifar100_animals", "cifar100", "CIFAR-100 animals", "cifar100",
                              paper_key="cifar100_animals"))
register_dataset(DatasetEntry("cifar100_5", "cifar100", "CIFAR-100-5", "cifar100",
                              paper_key="cifar100_5"))
register_dataset(DatasetEntry("cifar100_15", "cifar100", "CIFAR-100-15", "cifar100",
                              paper_key="cifar100_15"))
register_dataset(DatasetEntry("imagenet_dogcat", "imagenet2012", "ImageNet dog vs. cat",
                              "imagenet", paper_key="imagenet_dogcat"))
register_dataset(DatasetEntry("imagenet_fruitveg", "imagenet2012", "ImageNet fruit vs. vege.",
                              "imagenet", paper_key="imagenet_fruitveg"))
# Not in the paper: one-channel 28 px clothing vs. accessories, trained as CIFAR-10 is.
register_dataset(DatasetEntry("fashion_mnist", "fashion_mnist", "Fashion-MNIST (extra)",
                              "cifar10"))
# Table VI's customised coarse classes of CIFAR-10 (rows 1-10; row 1 is CIFAR-10's own).
for _row in range(1, 11):
    register_dataset(DatasetEntry(f"cifar10_custom_{_row}", "cifar10",
                                  f"CIFAR-10 custom ({_row})", "cifar10"))
# Table VII's noise as the authors' code stood when these runs were launched: its own build, so
# CIFAR-10's build, and every finished run on it, keeps its hash.
register_dataset(DatasetEntry("cifar10_launched", "cifar10", "CIFAR-10, launched noise",
                              "cifar10", hierarchy="cifar10", noise_kind="launched"))
