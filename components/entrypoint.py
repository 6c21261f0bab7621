"""What every command-line entry point shares: logging set-up and clean errors on bad input."""

import logging
import os
import sys

from lg_keras.errors import LgError


def configure_logging() -> None:
    """INFO logging to stderr; TensorFlow's C++ chatter kept to warnings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", force=True)  # Beam's import configures root first


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
