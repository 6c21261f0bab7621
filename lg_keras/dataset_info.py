"""`dataset.json`: what a built dataset holds, read back and checked before anything uses it."""

import dataclasses
import json
import os

import numpy as np

from lg_keras import records
from lg_keras.errors import DataError
from lg_keras.label_views import cluster_label_view, noise_label_view, parse_label_view
from lg_keras.labels import ClassCounts


@dataclasses.dataclass(frozen=True)
class DatasetInfo(ClassCounts):
    """The parsed `dataset.json` of a built dataset directory.

    Attributes:
        path: the dataset directory.
        meta: the whole parsed JSON document.
    """

    path: str
    meta: dict

    @property
    def fine_names(self) -> list[str]:
        return self.meta["hierarchy"]["fine_names"]

    @property
    def coarse_names(self) -> list[str]:
        return self.meta["hierarchy"]["coarse_names"]

    @property
    def fine_to_coarse(self) -> np.ndarray:
        return np.asarray(self.meta["hierarchy"]["fine_to_coarse"], np.int64)

    @property
    def channels(self) -> int:
        return self.meta["image"]["channels"]

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        size = self.meta["image"]["fixed_size"]
        return tuple(size) if size else None

    @property
    def noise_kind(self) -> str:
        """'within_coarse' or 'launched' (datasets built before kinds existed: within_coarse)."""
        return self.meta.get("noise", {}).get("kind", "within_coarse")

    @property
    def noise_variants(self) -> list[str]:
        """Noisy variant names, in rate order: '0.1' (within_coarse) or 'launched_0.1'.

        The label view is `label_views.noise_label_view(name)`. Datasets built before variants were
        recorded list only their rates, which are then the (within-coarse) variant names.
        """
        noise = self.meta.get("noise", {})
        return list(noise.get("variants", noise.get("rates", [])))

    def label_views(self) -> list[str]:
        """Label views this dataset can train on."""
        views = ["fine", "coarse"]
        views += [noise_label_view(name).name for name in self.noise_variants]
        views += [cluster_label_view(k).name
                  for k in sorted(self.meta.get("clusters", {}), key=int)]
        return views

    def num_classes(self, label_view: str) -> int:
        """Number of classes of a label view."""
        view = parse_label_view(label_view)
        if view.kind == "coarse":
            return self.num_coarse_classes
        if view.kind == "cluster":
            return len(self.meta["clusters"][view.cluster_key]["fine_to_coarse"])
        return self.num_fine_classes

    def view_to_coarse(self, label_view: str) -> np.ndarray:
        """The map from a label view's classes to coarse classes (identity for 'coarse')."""
        view = parse_label_view(label_view)
        if view.kind == "coarse":
            return np.arange(self.num_coarse_classes, dtype=np.int64)
        if view.kind == "cluster":
            return np.asarray(self.meta["clusters"][view.cluster_key]["fine_to_coarse"], np.int64)
        return self.fine_to_coarse

    def fine_counts(self, split: str) -> np.ndarray:
        """Examples per fine class in a split, in fine-class order."""
        counts = self.meta["counts"][split]["fine"]
        return np.asarray([counts[name] for name in self.fine_names], np.int64)

    def num_examples(self, split: str) -> int:
        return int(self.meta["counts"][split]["total"])

    def files(self, split: str) -> list[str]:
        """The TFRecord shards of a split, sorted (the read order is part of reproducibility)."""
        directory = os.path.join(self.path, split)
        try:
            names = sorted(n for n in os.listdir(directory) if ".tfrecord" in n)
        except OSError as e:
            raise DataError(f"Dataset {self.path!r} has no readable {split} folder "
                            f"{directory!r} ({e.strerror}); rebuild it with `lg data build`."
                            ) from e
        if not names:
            raise DataError(f"Dataset {self.path!r} has no TFRecord files in {directory!r}.")
        return [os.path.join(directory, n) for n in names]

    def expected_shards(self, split: str) -> dict[str, int] | None:
        """{shard file name: records} of a split as the builder wrote it, or None if not recorded.

        Datasets built before the builder recorded its shards have no such listing; their
        readers can only compare the split's total with `num_examples`.
        """
        shards = self.meta.get("shards")
        if not isinstance(shards, dict) or not isinstance(shards.get(split), dict):
            return None
        return dict(shards[split])

    def shard_problems(self, split: str, counts: dict[str, int]) -> list[str]:
        """What is wrong with a split's shards, given the records read from each file.

        Args:
            split: 'train' or 'test'.
            counts: {file path: records read} of the files present.

        Returns:
            One message per problem, each naming the file (missing, unlisted, or holding another
            number of records than dataset.json says) or, without a listing, the split's total.
        """
        expected = self.expected_shards(split)
        problems = []
        if expected is not None:
            present = {os.path.basename(path): n for path, n in counts.items()}
            directory = os.path.join(self.path, split)
            for name in sorted(set(expected) - set(present)):
                problems.append(f"{os.path.join(directory, name)}: missing; dataset.json lists it "
                                f"with {expected[name]} records")
            for name in sorted(set(present) - set(expected)):
                problems.append(f"{os.path.join(directory, name)}: not a shard of this dataset "
                                f"(dataset.json does not list it)")
            for name in sorted(set(present) & set(expected)):
                if present[name] != expected[name]:
                    problems.append(f"{os.path.join(directory, name)}: {present[name]} records, "
                                    f"dataset.json says {expected[name]} (truncated or replaced)")
        total = sum(counts.values())
        if not problems and total != self.num_examples(split):
            problems.append(f"{split}: {total} records in {', '.join(sorted(counts))}, "
                            f"dataset.json says {self.num_examples(split)}")
        return problems

    @property
    def compression(self) -> str:
        return "GZIP" if self.meta["build"]["compression"] == "gzip" else ""


def load_dataset_info(path: str) -> DatasetInfo:
    """Reads and checks `path/dataset.json`.

    Raises:
        DataError: when the directory or its dataset.json is missing, unreadable, or written by an
            incompatible format version.
    """
    meta_path = os.path.join(path, "dataset.json")
    if not os.path.isdir(path):
        raise DataError(f"Dataset directory {path!r} does not exist. Build one with "
                        f"`lg data build --dataset NAME --hierarchy NAME --out {path}`.")
    if not os.path.isfile(meta_path):
        raise DataError(f"{path!r} is not a built dataset: it has no dataset.json. Build one with "
                        f"`lg data build ... --out {path}`.")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"Cannot read {meta_path!r}: {e}.") from e
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version != records.FORMAT_VERSION:
        raise DataError(f"{meta_path!r} has format_version {version!r}; this lg_keras reads "
                        f"version {records.FORMAT_VERSION}. Rebuild the dataset with `lg data build`.")
    for key in ("hierarchy", "counts", "image", "build"):
        if key not in meta:
            raise DataError(f"{meta_path!r} lacks the required key {key!r}; rebuild the dataset.")
    return DatasetInfo(path=os.path.abspath(path), meta=meta)
