"""TFDS-backed sources for cifar10, cifar100, fashion_mnist and imagenet2012.

Used when no local copy is found. Offline, TFDS retries a download for minutes before failing, so
before downloading this module probes the download host with a short TCP connect and fails at once
when it is unreachable. ImageNet is never downloaded: TFDS builds it from the two ILSVRC2012 tar
files in its manual_dir. `tensorflow_datasets` is imported inside functions only, so importing
lg_keras.sources stays cheap.
"""

import logging
import os
import socket
import threading
from typing import Iterator

from lg_keras.errors import DataError
from lg_keras.sources.base import SPLITS, RawExample
from lg_keras.sources.cifar import (
    CIFAR10_CLASS_NAMES,
    CIFAR100_COARSE_NAMES,
    CIFAR100_FINE_NAMES,
    CIFAR100_FINE_TO_COARSE,
)
from lg_keras.sources.archives import detect_image_format
from lg_keras.sources.idx import FASHION_MNIST_CLASS_NAMES

TFDS_NAMES = ("cifar10", "cifar100", "fashion_mnist", "imagenet2012")
# Where TFDS downloads each dataset from (tensorflow_datasets/image_classification/cifar.py
# and mnist.py); probed before a download.
DOWNLOAD_HOSTS = {
    "cifar10": ("www.cs.toronto.edu", 443),
    "cifar100": ("www.cs.toronto.edu", 443),
    "fashion_mnist": ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
}
# The files TFDS's imagenet2012 builder reads from manual_dir (the test tar is optional).
IMAGENET_MANUAL_FILES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
# Our split -> the TFDS split. ImageNet's labelled held-out split is 'validation'.
_TFDS_SPLITS = {"imagenet2012": {"train": "train", "test": "validation"}}
# Class names where TFDS's unprepared info has none (cifar) or spells them otherwise (fashion).
_CLASS_NAMES = {
    "cifar10": CIFAR10_CLASS_NAMES,
    "cifar100": CIFAR100_FINE_NAMES,
    "fashion_mnist": FASHION_MNIST_CLASS_NAMES,
}
PROVIDE_HINT = (
    "Provide the files with --data-dir DIR or LG_DATA_DIR=DIR, or run where the download host "
    "is reachable."
)


def can_connect(host: str, port: int, timeout: float = 3.0) -> bool:
    """Returns whether a TCP connection to host:port opens within `timeout` seconds.

    Name resolution is bounded too: the attempt runs in a daemon thread that is abandoned once
    the timeout passes.

    Args:
        host: host name or address.
        port: TCP port.
        timeout: seconds to wait in all.
    """
    result = []

    def attempt():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


class TfdsSource:
    """A dataset read through TFDS, prepared (downloaded) on first use.

    Usage:
        source = TfdsSource("cifar100", data_dir="~/tensorflow_datasets")
        first = next(source.examples("train"))  # 'raw' (32, 32, 3) payload

    Attributes:
        name: the TFDS dataset name.
        class_names: class names in label order (the canonical spelling for fashion_mnist,
            WordNet synset ids for imagenet2012).
        coarse_label_names, official_fine_to_coarse: cifar100 only.
    """

    def __init__(
        self,
        name: str,
        *,
        data_dir: str | None = None,
        manual_dir: str | None = None,
        allow_download: bool = True,
        probe_timeout: float = 3.0,
    ):
        """Checks that the dataset is prepared, or can be.

        Args:
            name: one of TFDS_NAMES.
            data_dir: the TFDS data dir; None for TFDS's default.
            manual_dir: where the ImageNet tar files are; default `<data_dir>/downloads/manual`.
            allow_download: whether an unprepared dataset may be downloaded.
            probe_timeout: seconds allowed for the download-host probe.

        Raises:
            DataError: unknown name, or not prepared and it cannot be prepared here (no download
                allowed, download host unreachable, ImageNet tar files missing).
        """
        if name not in TFDS_NAMES:
            raise DataError(f"Unknown TFDS dataset {name!r}. Available: {', '.join(TFDS_NAMES)}.")
        self.name, self.data_dir, self.manual_dir = name, data_dir, manual_dir
        builder = self._builder()
        if not builder.is_prepared():
            self._check_can_prepare(builder, allow_download, probe_timeout)
        self.class_names = _CLASS_NAMES.get(name) or tuple(builder.info.features["label"].names)
        if name == "cifar100":
            self.coarse_label_names = CIFAR100_COARSE_NAMES
            self.official_fine_to_coarse = CIFAR100_FINE_TO_COARSE

    def describe(self) -> dict:
        """Returns where the data comes from, for dataset.json."""
        builder = self._builder()
        return {"kind": "tfds", "name": self.name, "version": str(builder.version),
                "data_dir": str(builder.data_dir)}

    def examples(self, split: str) -> Iterator[RawExample]:
        """Prepares the dataset if needed and yields the examples of `split` in TFDS order.

        Fixed-size images come as 'raw' payloads; ImageNet's as the stored JPEG bytes.

        Raises:
            DataError: unknown split, a cifar100 coarse label that disagrees with the official
                map, or an image neither JPEG nor PNG.
        """
        import tensorflow_datasets as tfds  # Heavy (imports TensorFlow): only when reading.

        if split not in SPLITS:
            raise DataError(f"Unknown split {split!r}. Available: {', '.join(SPLITS)}.")
        builder = self._prepared_builder()
        tfds_split = _TFDS_SPLITS.get(self.name, {}).get(split, split)
        encoded = self.name == "imagenet2012"
        decoders = {"image": tfds.decode.SkipDecoding()} if encoded else None
        dataset = builder.as_dataset(split=tfds_split, shuffle_files=False, decoders=decoders)
        # Wide enough that ids sort in index order (ImageNet train has 1,281,167 images).
        width = max(6, len(str(int(dataset.cardinality()) - 1)))
        for index, features in enumerate(tfds.as_numpy(dataset)):
            label = int(features["label"])
            example_id = f"{split}/{index:0{width}d}"
            if self.name == "cifar100":
                self._check_coarse(label, int(features["coarse_label"]), example_id)
            image = features["image"]
            if encoded:
                payload = bytes(image)
                fmt = detect_image_format(payload[:8], f"TFDS {self.name} {example_id}")
                yield RawExample(id=example_id, label=label, format=fmt, payload=payload)
            else:
                yield RawExample(id=example_id, label=label, format="raw",
                                 payload=image.tobytes(), shape=tuple(image.shape))

    def _builder(self):
        import tensorflow_datasets as tfds

        return tfds.builder(self.name, data_dir=self.data_dir)

    def _manual_dir(self, builder) -> str:
        return self.manual_dir or os.path.join(str(builder.data_dir_root), "downloads", "manual")

    def _check_can_prepare(self, builder, allow_download: bool, probe_timeout: float) -> None:
        looked = f"looked in: TFDS data dir {builder.data_dir}"
        if self.name == "imagenet2012":
            manual_dir = self._manual_dir(builder)
            missing = [f for f in IMAGENET_MANUAL_FILES
                       if not os.path.isfile(os.path.join(manual_dir, f))]
            if missing:
                raise DataError(
                    f"TFDS imagenet2012 is not prepared and cannot be downloaded; {looked} and "
                    f"manual_dir {manual_dir} (missing {', '.join(missing)}). Put the ILSVRC2012 "
                    "tar files from image-net.org in the manual_dir, or provide an image folder "
                    "imagenet/{train,val}/<synset>/ under --data-dir/LG_DATA_DIR."
                )
        elif not allow_download:
            raise DataError(f"TFDS {self.name} is not prepared and downloading is off; {looked}. "
                            f"{PROVIDE_HINT}")
        else:
            host, port = DOWNLOAD_HOSTS[self.name]
            if not can_connect(host, port, probe_timeout):
                raise DataError(
                    f"No network to download {self.name} ({host}:{port} unreachable within "
                    f"{probe_timeout:g} s); {looked}. {PROVIDE_HINT}"
                )

    def _prepared_builder(self):
        import tensorflow_datasets as tfds

        builder = self._builder()
        if not builder.is_prepared():
            logging.info("Preparing TFDS %s in %s.", self.name, builder.data_dir)
            config = tfds.download.DownloadConfig(manual_dir=self._manual_dir(builder))
            builder.download_and_prepare(download_config=config)
        return builder

    def _check_coarse(self, fine: int, coarse: int, example_id: str) -> None:
        if CIFAR100_FINE_TO_COARSE[fine] != coarse:
            raise DataError(
                f"TFDS cifar100 {example_id} pairs fine label {fine} with coarse label {coarse}; "
                f"the official map gives {CIFAR100_FINE_TO_COARSE[fine]}."
            )
