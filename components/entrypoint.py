"""What every command-line entry point shares: logging set-up, clean errors on bad input, and the
argv -> parser -> command wiring of `python -m components.<name>` and of an `lg` subcommand."""

import argparse
import logging
import os
import sys

from lg_keras import outputs
from lg_keras.errors import LgError


class _NoTracebackForLgErrors(logging.Filter):
    """Drops the traceback from log records of an LgError or a full disk, keeping their message.

    Beam logs a failing element's exception with its traceback before re-raising it; for an
    LgError (bad input, its message already says what and where) or a full or read-only disk
    (reported as a RunDirError), that is 30 lines of noise ahead of the one-line `error:` the
    entry point prints.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and (isinstance(error, LgError)
                                  or outputs.storage_error(error, "") is not None):
            record.exc_info, record.exc_text = None, None
        return True


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes each record to `sys.stderr` as it is when the record is emitted.

    A plain StreamHandler keeps the stream it was created with. An entry point called in-process
    (a test calling `main()` under pytest's capture, a notebook) would leave the root logger
    writing to a stream that its caller later closes, and every later record would fail with
    `--- Logging error --- ValueError: I/O operation on closed file`.
    """

    def __init__(self):
        logging.Handler.__init__(self)  # pylint: disable=non-parent-init-called

    @property
    def stream(self):
        return sys.stderr


def configure_logging() -> None:
    """INFO logging to stderr; TensorFlow's C++ chatter kept to warnings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    handler = _CurrentStderrHandler()
    handler.addFilter(_NoTracebackForLgErrors())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", handlers=[handler],
                        force=True)  # Beam's import configures root first


def run_guarded(fn) -> int:
    """Runs fn(); an LgError prints its message (no traceback) and returns exit status 2."""
    configure_logging()
    try:
        fn()
    except LgError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def add_command(subparsers, name: str, add_arguments, command, *, summary: str,
                description: str) -> None:
    """Adds the subcommand `name` to an `lg` subparsers object.

    Args:
        subparsers: `commands` or `data_commands` of `pipelines.cli.build_parser`.
        name: the subcommand, e.g. 'train'.
        add_arguments: adds the subcommand's options to its parser.
        command: called with the parsed arguments (the `lg` main runs it under run_guarded).
        summary: the one line in `lg --help`.
        description: the paragraph of `lg NAME --help`.
    """
    parser = subparsers.add_parser(name, help=summary, description=description)
    add_arguments(parser)
    parser.set_defaults(func=command)


def main_with(argv, prog: str, description: str, add_arguments, command, *,
              formatter_class=argparse.RawDescriptionHelpFormatter) -> int:
    """`python -m components.<name>`: parses argv and runs command(args) under run_guarded.

    Args:
        argv: the arguments (None: sys.argv[1:]).
        prog: the program name in usage lines, e.g. 'python -m components.trainer'.
        description: the help text, usually the module docstring.
        add_arguments: adds the options to the parser.
        command: called with the parsed arguments.
        formatter_class: argparse's help formatter (the default keeps the docstring's layout).

    Returns:
        The exit status: 0, 2 for an LgError, 130 when interrupted (argparse exits with 2 on a
        usage error).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=formatter_class)
    add_arguments(parser)
    return run_guarded(lambda: command(parser.parse_args(argv)))
