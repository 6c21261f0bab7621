"""What every dataset source yields: labelled raw examples, one split at a time.

A source knows its class names (in the dataset's label order) and lists the examples of a split as
`RawExample`s. Decoding and validation happen later, per element, in the Beam builder, so a source
stays cheap to list and an image folder can be read by remote workers.
"""

import dataclasses
from typing import Iterator, Protocol

SPLITS = ("train", "test")

# Image payload formats. 'raw' is uint8 pixels, row-major HWC, with the shape given on the example.
FORMATS = ("raw", "png", "jpeg")


@dataclasses.dataclass(frozen=True)
class RawExample:
    """One labelled example as a source yields it.

    Attributes:
        id: stable unique id within the dataset, e.g. 'train/000123' or 'train/cat/0001.jpg'. Sorting
            by id gives a reproducible order independent of how the source was listed.
        label: index into the source's `class_names`.
        format: one of FORMATS ('raw' | 'png' | 'jpeg').
        payload: the image bytes (raw pixels or an encoded file); None when `path` is set instead.
        path: a file to read the payload from (image folders), so workers read files themselves.
        shape: (height, width, channels) for 'raw' payloads; None for encoded ones (read from the
            file header when decoded).
    """

    id: str
    label: int
    format: str
    payload: bytes | None = None
    path: str | None = None
    shape: tuple[int, int, int] | None = None


class Source(Protocol):
    """A dataset source: class names plus the examples of each split."""

    name: str
    class_names: tuple[str, ...]

    def describe(self) -> dict:
        """Where the data comes from (kind, path or TFDS name), for dataset.json."""

    def examples(self, split: str) -> Iterator[RawExample]:
        """Yields the examples of `split` ('train' or 'test')."""
