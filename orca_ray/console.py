"""What the terminal shows. By default a run's story: orca-ray's own lines (logger `orca_ray.story`), one live
progress display per step, warnings and errors of orca-ray, and of the libraries and workers only those that
matter (everything else goes to `runs/<id>/logs/`, see orca_ray/distributed/run_logs.py). `--verbose` or
ORCA_RAY_LOG_LEVEL=<level> shows everything instead, at DEBUG or that level, as before this module existed.

    configure_console(verbose=args.verbose)      # the CLI and jobs/*.py, once, before any work
    story().info("student engine ready in %.0f s", seconds)
"""

from __future__ import annotations

import logging
import os
import sys

from orca_ray.core.worker_output import matters

STORY = "orca_ray.story"
WORKERS = "orca_ray.workers"  # notices picked out of Ray workers' output
LEVEL_ENV = "ORCA_RAY_LOG_LEVEL"
VERBOSE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_mode = {"quiet": False}


def story() -> logging.Logger:
    """The logger of the story's lines: at INFO whatever the root logger's level (a run's driver.log has them)."""
    logger = logging.getLogger(STORY)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return logger


def is_quiet() -> bool:
    """True once configure_console chose the story: Ray Data's progress bars off, worker output to files."""
    return _mode["quiet"]


def verbose_level(verbose: bool, env: dict | None = None) -> int | None:
    """The level of the everything-shown mode, or None for the story: --verbose is DEBUG, ORCA_RAY_LOG_LEVEL a
    level name or number.

    >>> verbose_level(False, {}), verbose_level(True, {}), verbose_level(False, {"ORCA_RAY_LOG_LEVEL": "info"})
    (None, 10, 20)
    """
    if verbose:
        return logging.DEBUG
    value = (os.environ if env is None else env).get(LEVEL_ENV, "").strip()
    if not value:
        return None
    if value.isdigit():
        return int(value)
    level = logging.getLevelName(value.upper())
    return level if isinstance(level, int) else logging.INFO


def shows_on_terminal(name: str, level: int, message: str) -> bool:
    """Whether a driver log record reaches the terminal in the story: orca-ray's story lines, orca-ray's warnings
    and errors, other libraries' errors, and their warnings only when they matter (core.worker_output.matters).

    >>> shows_on_terminal("orca_ray.story", logging.INFO, "sft done"), shows_on_terminal("ray.data", 30, "bars off")
    (True, False)
    >>> shows_on_terminal("orca_ray.loop", logging.INFO, "step sft: starting"), shows_on_terminal("ray", 40, "x")
    (False, True)
    """
    if name == STORY or name.startswith(STORY + "."):
        return level >= logging.INFO
    if name == "orca_ray" or name.startswith("orca_ray."):
        return level >= logging.WARNING
    return level >= logging.ERROR or (level >= logging.WARNING and matters(message))


class TerminalHandler(logging.Handler):
    """The story's terminal: records that `shows_on_terminal` lets through, written around a live progress bar
    (tqdm.write clears and redraws it)."""

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self.setFormatter(_StoryFormatter())

    def filter(self, record: logging.LogRecord) -> bool:
        return shows_on_terminal(record.name, record.levelno, record.getMessage()) and super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=self.stream or sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


class _StoryFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING and record.name != WORKERS:
            stamp, _, message = text.partition(" ")
            text = f"{stamp} {record.levelname} {record.name}: {message}"
        return text


def configure_console(verbose: bool = False, tell_story: bool = True) -> bool:
    """Set up the terminal for a command; returns True for the story, False for everything (verbose, or a command
    that tells no story: `tell_story=False` keeps every INFO line, as for `orca-ray eval`)."""
    level = verbose_level(verbose)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, TerminalHandler):  # an earlier call's, in this process
            root.removeHandler(handler)
    if level is not None or not tell_story:
        logging.captureWarnings(False)
        logging.basicConfig(level=level or logging.INFO, format=VERBOSE_FORMAT, datefmt="%H:%M:%S")
        _mode["quiet"] = False
        return False
    root.setLevel(logging.INFO)  # what the run's driver.log gets; the terminal filters
    root.addHandler(TerminalHandler())
    # Library warnings through warnings.warn (Ray Data's "the operator only received 1 input(s)") go to the run's
    # log files through logging, not straight to stderr.
    logging.captureWarnings(True)
    _mode["quiet"] = True
    return True
