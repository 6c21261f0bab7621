"""What `lg study` learns of a user's dataset before building it, and the input it refuses.

`survey_dataset` lists an image folder (no image decoded: counts come from the listing, the side
from up to `study_recipe.SIDE_SAMPLE_PER_CLASS` headers per class) or looks a named dataset up in
the planner's table, and checks the input once, before anything is built or trained. Each refusal
is one error that names the class and the path:

- a folder with one class (fine and coarse labels need two classes, in two coarse classes);
- a hierarchy that names classes the dataset lacks (listing the dataset's classes);
- a class with fewer than `MIN_IMAGES_PER_SPLIT` images in a split (after the held-out split of
  a folder without a test split: the test fraction and the seed are named);
- a hierarchy whose every coarse class holds one fine class (fine and coarse labels would be
  the same, so there is nothing to compare).

    survey = survey_dataset("folder:data/pets", "pets.yaml", test_fraction=0.2)
    survey.counts["test"]     # {'tabby': 16, 'persian': 16, ...}, the hierarchy's classes
"""

import dataclasses
import os
import statistics

from lg_keras import hierarchy_files, images
from lg_keras.errors import ConfigError, DataError, HierarchyError
from lg_keras.labels import Hierarchy
from lg_keras.sources.cifar import CIFAR10_CLASS_NAMES, CIFAR100_FINE_NAMES
from lg_keras.sources.folder import ImageFolderSource
from lg_keras.sources.idx import FASHION_MNIST_CLASS_NAMES
from pipelines import estimates
from pipelines.study_recipe import SIDE_SAMPLE_PER_CLASS

# A class needs this many images in each split: with one test image its accuracy is 0 or 100 %,
# and one training image teaches nothing of the class's variation.
MIN_IMAGES_PER_SPLIT = 2
FOLDER_PREFIX = "folder:"
# Class names of the named datasets whose names are known without opening them.
_KNOWN_CLASS_NAMES = {"cifar10": CIFAR10_CLASS_NAMES, "cifar100": CIFAR100_FINE_NAMES,
                      "fashion_mnist": FASHION_MNIST_CLASS_NAMES}


@dataclasses.dataclass(frozen=True)
class DatasetSurvey:
    """A dataset as `lg study` plans it.

    Attributes:
        dataset: BuildConfig.dataset ('folder:<absolute path>' or a named dataset).
        hierarchy: the hierarchy, its fine classes in the dataset's label order.
        counts: {'train': {fine class: images}, 'test': {...}} of the hierarchy's classes, after
            any held-out split (before the profile's per-class cap).
        side: the images' side in pixels (median larger side of a sample); 0 when sizes vary.
        fixed_size: every image has that side (a named dataset of one size).
        total_images: images the builder reads (every class of the source).
        test_fraction: the held-out share the build applies (0: the dataset's own test split).
        where: {'train': {class: path}, 'test': {...}}, for messages and the report.
    """

    dataset: str
    hierarchy: Hierarchy
    counts: dict
    side: int
    fixed_size: bool
    total_images: int
    test_fraction: float
    where: dict = dataclasses.field(default_factory=dict)

    @property
    def is_folder(self) -> bool:
        """Whether the dataset is an image folder (folder:PATH)."""
        return self.dataset.startswith(FOLDER_PREFIX)

    def train_images(self, max_per_class: int | None = None) -> int:
        """Training images of the hierarchy's classes, each class cut to `max_per_class`."""
        cap = max_per_class or float("inf")
        return int(sum(min(n, cap) for n in self.counts["train"].values()))


def survey_dataset(dataset: str, hierarchy: str, *, test_fraction: float = 0.2,
                   seed: int = 0) -> DatasetSurvey:
    """Counts and checks a dataset for `lg study` (module docstring), building nothing.

    Args:
        dataset: 'folder:PATH' (a directory or archive) or a named dataset (`lg data build`).
        hierarchy: a built-in hierarchy name or a YAML path.
        test_fraction: for a folder without a test split: the share of each class held out.
        seed: the held-out split's seed (the build's seed).

    Returns:
        The DatasetSurvey.

    Raises:
        DataError: a missing or malformed folder, one class, a class with too few images.
        HierarchyError: a malformed hierarchy, or one naming classes the dataset lacks.
        ConfigError: a hierarchy that makes fine labels equal to coarse ones.
    """
    tree = hierarchy_files.load_hierarchy(hierarchy)
    if dataset.startswith(FOLDER_PREFIX):
        survey = _survey_folder(dataset[len(FOLDER_PREFIX):], tree, hierarchy, test_fraction,
                                seed)
    else:
        survey = _survey_named(dataset, tree, hierarchy)
    if all(survey.hierarchy.fine_to_coarse.count(c) == 1
           for c in range(survey.hierarchy.num_coarse_classes)):
        raise ConfigError(f"Hierarchy {hierarchy!r} puts one fine class in each coarse class, so "
                          f"fine labels are the coarse labels and there is nothing to compare; "
                          f"group the fine classes ({', '.join(survey.hierarchy.fine_names)}) "
                          f"into fewer coarse classes.")
    return survey


def _check_names(tree: Hierarchy, spec: str, classes, where: str) -> Hierarchy:
    missing = [f for f in tree.fine_names if f not in classes]
    if missing:
        coarse = {f: tree.coarse_names[c] for f, c in zip(tree.fine_names, tree.fine_to_coarse)}
        named = ", ".join(f"{f!r} (coarse {coarse[f]!r})" for f in missing)
        raise HierarchyError(
            f"Hierarchy {spec!r} names {len(missing)} class(es) that {where} lacks: {named}. Its "
            f"classes are: {', '.join(classes)}. Fix the names in the hierarchy, or add the "
            f"class folders.")
    return tree.aligned_to(classes)


def _survey_folder(path: str, tree: Hierarchy, spec: str, test_fraction: float,
                   seed: int) -> DatasetSurvey:
    path = os.path.abspath(path)
    source = ImageFolderSource(path, test_fraction=test_fraction, seed=seed)
    if len(source.class_names) < 2:
        (name,) = source.class_names
        raise DataError(
            f"Image folder {path} has one class, {name!r} ({source.class_dir('train', name)}); "
            f"comparing fine with coarse labels needs at least two fine classes in two coarse "
            f"classes. Put each class's images in its own folder: {path}/<class>/ (or "
            f"{path}/train/<class>/ and {path}/test/<class>/).")
    aligned = _check_names(tree, spec, source.class_names,
                           f"the image folder {path} (class folders such as "
                           f"{source.class_dir('train', source.class_names[0])})")
    counts = source.class_counts()
    where = {split: {c: source.class_dir(split, c) for c in aligned.fine_names}
             for split in ("train", "test")}
    for split in ("train", "test"):
        for name in aligned.fine_names:
            n = counts[split][name]
            if n < MIN_IMAGES_PER_SPLIT:
                raise DataError(
                    f"Class {name!r} has {n} image(s) in the {split} split "
                    f"({where[split][name]}); every class of the hierarchy needs at least "
                    f"{MIN_IMAGES_PER_SPLIT} in each split. Add images to it"
                    + (", or raise the test fraction (--test-fraction)"
                       if source.held_out and split == "test" else "") + ".")
    side = _median_side(source)
    return DatasetSurvey(
        dataset=f"{FOLDER_PREFIX}{path}", hierarchy=aligned,
        counts={s: {c: counts[s][c] for c in aligned.fine_names} for s in counts},
        side=side, fixed_size=False,
        total_images=sum(sum(per_class.values()) for per_class in counts.values()),
        test_fraction=source.test_fraction if source.held_out else 0.0, where=where)


def _median_side(source: ImageFolderSource) -> int:
    """Median larger side over up to SIDE_SAMPLE_PER_CLASS training images per class."""
    sides = [max(images.read_size(raw)) for raw in source.sample(SIDE_SAMPLE_PER_CLASS)]
    return int(round(statistics.median(sides)))


def _survey_named(dataset: str, tree: Hierarchy, spec: str) -> DatasetSurvey:
    if dataset not in estimates.SOURCE_SIZES:
        raise ConfigError(f"Unknown dataset {dataset!r}. Available: "
                          f"{', '.join(estimates.SOURCE_SIZES)}, folder:PATH.")
    size = estimates.SOURCE_SIZES[dataset]
    known = _KNOWN_CLASS_NAMES.get(dataset)
    # ImageNet's class names (synsets) need the copy: its build checks them.
    aligned = _check_names(tree, spec, known, dataset) if known else tree
    counts = {"train": dict.fromkeys(aligned.fine_names, size.train_per_class),
              "test": dict.fromkeys(aligned.fine_names, size.test_per_class)}
    return DatasetSurvey(dataset=dataset, hierarchy=aligned, counts=counts, side=size.side,
                         fixed_size=size.side > 0, total_images=size.total_images,
                         test_fraction=0.0)
