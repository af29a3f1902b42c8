"""Logging set-up shared by the CLI and the Snakemake scripts.

A Snakemake job logs everything (INFO and up) to its log file and only what the user must act on
(WARNING and up) to the terminal; the run's progress comes from Snakemake's console and its
findings from the results summary printed at the end. Python warnings are routed through logging
(so they land in the job's log), except a short list of known-harmless dependency warnings,
each filtered by its message *and* the module that raises it (`quiet_dependency_warnings`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from cardiolens.errors import InputError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The terminal's lines: what the user must act on, without the log file's time and logger name
#: (the job's progress line already says when and which job).
CONSOLE_FORMAT = "%(levelname)s: %(message)s"

# (message regex, module regex) of dependency warnings that never call for action in cardiolens.
# Each says why; a new warning is shown until someone decides it is harmless and adds it here.
HARMLESS_WARNINGS: tuple[tuple[str, str, str], ...] = (
    (r"Checkpoint directory .* exists and is not empty", r"lightning\.pytorch(\..*)?",
     "the folder holds this job's own resume stamp (cardiolens.train.resume), not an old run"),
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"(torch|lightning)(\..*)?",
     "torch's pytree deprecation raised inside Lightning's own code"),
    (r"Input Tensor \d+ did not already require gradients", r"captum(\..*)?",
     "Captum enables input gradients itself, as intended for attribution"),
    (r"The '\w+_dataloader' does not have many workers", r"lightning\.pytorch(\..*)?",
     "num_workers 0 is the deterministic CPU default (train.num_workers)"),
    (r"No (negative|positive) samples in targets, (false|true) positive value should be meaningless",
     r"torchmetrics(\..*)?", "a class absent from a small validation role; train_fold logs it once per fold"),
    (r"The `srun` command is available on your system but is not used", r"lightning\.fabric(\..*)?",
     "a job trains in one process; on a cluster the slurm profile runs each job inside its own allocation"),
    (r"builtin type .* has no __module__ attribute", r"(importlib\..*|itk(\..*)?)", "ITK's SWIG wrappers"),
)

_LIBRARY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning")


def _not_an_advert(record: logging.LogRecord) -> bool:
    """Lightning's tip to install its cloud logger: not a fact about this job."""
    return "litlogger" not in str(record.msg)


def quiet_dependency_warnings() -> None:
    """Ignore exactly the warnings of `HARMLESS_WARNINGS` (message and raising module both match)."""
    for message, module, _why in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)


def adopt_library_loggers() -> None:
    """Lightning adds its own stderr handlers when it is imported, which print every INFO line a
    second time: drop them and let records reach our handlers. Called by `log_to` and again by code
    that imports Lightning later (`cardiolens.train.run.train_fold`)."""
    for name in _LIBRARY_LOGGERS:
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                lg.removeHandler(h)
        lg.propagate = True
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _not_an_advert not in rank_zero.filters:
        rank_zero.addFilter(_not_an_advert)


@contextlib.contextmanager
def log_to(path: str | None = None, level: int = logging.INFO, console_level: int | None = None) -> Iterator[None]:
    """Log to ``path`` at ``level`` and to stderr at ``console_level`` (default: WARNING when a
    log file is given, as in a Snakemake job, else ``level``); exceptions are logged before they
    propagate, so a failed job's error reaches both its log and the terminal. An
    :class:`~cardiolens.errors.InputError` is logged as its message alone and ends the process
    with exit status 1 (`cardiolens.errors`)."""
    root = logging.getLogger()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level if console_level is not None else (logging.WARNING if path else level))
    handlers: list[logging.Handler] = [console]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w", encoding="utf-8"))
    for h in handlers:
        h.setFormatter(logging.Formatter(CONSOLE_FORMAT if h is console and path else FORMAT))
        root.addHandler(h)
    root.setLevel(level)
    quiet_dependency_warnings()
    logging.captureWarnings(True)
    adopt_library_loggers()
    job = os.environ.get("SLURM_JOB_ID")
    if job:  # the cluster job this log belongs to (sacct/squeue find it by this ID)
        logging.getLogger("cardiolens").info("SLURM job %s (%s CPUs)", job, os.environ.get("SLURM_CPUS_PER_TASK", "?"))
    try:
        yield
    except InputError as exc:  # the user's to fix: the message says what; a traceback would only hide it
        logging.getLogger("cardiolens").error("%s", exc)
        raise SystemExit(1) from None
    except Exception:
        logging.getLogger("cardiolens").exception("failed")
        raise
    finally:
        logging.captureWarnings(False)
        for h in handlers:
            root.removeHandler(h)
            h.close()
