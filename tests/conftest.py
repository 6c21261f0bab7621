"""Shared pytest fixtures: quiet TensorFlow and the shared data directory when given (the skip
rule for optional dataset copies is tests/helpers/data_copies.py)."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def shared_data_dir():
    """The directory of real dataset copies (LG_DATA_DIR), or skip when it is not set."""
    path = os.environ.get("LG_DATA_DIR")
    if not path or not os.path.isdir(path):
        pytest.skip("LG_DATA_DIR is not set: the real dataset copies are not available")
    return path
