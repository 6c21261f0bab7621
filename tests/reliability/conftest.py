"""Shared pieces of the reliability suite: the counts it reports, and the grid dataset.

Every test adds what it tried to `counts` (kills survived, generated inputs, bad files detected,
...). At the end of the session the totals are written as JSON to $LG_RELIABILITY_COUNTS, or to
reliability_counts.json in pytest's base temp dir, and printed in the terminal summary.
"""

import collections
import json
import os

import pytest

from tests.helpers.fixtures import grid_dataset  # pylint: disable=unused-import

_COUNTS = collections.Counter()
_PATH = []


@pytest.fixture(scope="session")
def counts(tmp_path_factory) -> collections.Counter:
    """The session's reliability counts: `counts['kills_survived'] += 1`."""
    if not _PATH:
        _PATH.append(os.environ.get("LG_RELIABILITY_COUNTS") or str(
            tmp_path_factory.getbasetemp() / "reliability_counts.json"))
    return _COUNTS


def pytest_terminal_summary(terminalreporter):
    if not _COUNTS or not _PATH:
        return
    with open(_PATH[0], "w") as f:
        json.dump(dict(sorted(_COUNTS.items())), f, indent=2)
    terminalreporter.write_sep("-", "reliability counts")
    for key, value in sorted(_COUNTS.items()):
        terminalreporter.write_line(f"{key:32s} {value:6d}")
    terminalreporter.write_line(f"written to {_PATH[0]}")
