"""components.entrypoint: the logging every entry point sets up, and its clean errors."""

import io
import logging
import sys

import pytest

from components.entrypoint import run_guarded
from lg_keras.errors import ConfigError


@pytest.fixture
def root_logging():
    """Restores the root logger's handlers and level that run_guarded replaces."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_logging_follows_stderr_after_its_first_stream_is_closed(monkeypatch, root_logging):
    # A test calling `main()` under pytest's capture: the stream it logged to is closed after the
    # test, and a later test's log records must not fail with "I/O operation on closed file".
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    assert run_guarded(lambda: logging.info("to the first stream")) == 0
    assert "INFO to the first stream" in first.getvalue()
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.warning("to the second stream")
    assert "WARNING to the second stream" in second.getvalue()
    assert "Logging error" not in second.getvalue()


def test_an_lg_error_is_one_line_and_exit_status_2(capsys, root_logging):
    def fail():
        raise ConfigError("train.epochs must be positive; got 0.")

    assert run_guarded(fail) == 2
    assert capsys.readouterr().err == "error: train.epochs must be positive; got 0.\n"
