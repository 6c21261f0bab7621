"""Optional dataset copies: where they live, and the skip rule when one is absent."""

import os

import pytest

# Optional copies that LG_DATA_DIR does not hold: where they live and how a user gets them.
# A missing one skips its tests with this reason; a present but broken one still fails them.
OPTIONAL_COPIES = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",
                      "Fashion-MNIST is not installed: `apt install dataset-fashion-mnist`"),
}


def require_copy(dataset: str) -> None:
    """Skips the calling test, with the reason, when `dataset` is optional and its copy is absent."""
    if dataset in OPTIONAL_COPIES:
        path, reason = OPTIONAL_COPIES[dataset]
        if not os.path.isdir(path):
            pytest.skip(f"{reason} (no {path})")
