"""Shared pytest fixtures: quiet TensorFlow, the shared data directory when given, and the skip
rule for optional dataset copies."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


@pytest.fixture(scope="session")
def shared_data_dir():
    """The directory of real dataset copies (LG_DATA_DIR), or skip when it is not set."""
    path = os.environ.get("LG_DATA_DIR")
    if not path or not os.path.isdir(path):
        pytest.skip("LG_DATA_DIR is not set: the real dataset copies are not available")
    return path
