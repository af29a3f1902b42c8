"""Logging set-up shared by the CLI and the Snakemake scripts."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def log_to(path: str | None = None, level: int = logging.INFO) -> Iterator[None]:
    """Log to ``path`` (and stderr); exceptions are logged before they propagate."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w", encoding="utf-8"))
    root = logging.getLogger()
    for h in handlers:
        h.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(h)
    root.setLevel(level)
    job = os.environ.get("SLURM_JOB_ID")
    if job:  # the cluster job this log belongs to (sacct/squeue find it by this ID)
        logging.getLogger("cardiolens").info("SLURM job %s (%s CPUs)", job, os.environ.get("SLURM_CPUS_PER_TASK", "?"))
    try:
        yield
    except Exception:
        logging.getLogger("cardiolens").exception("failed")
        raise
    finally:
        for h in handlers:
            root.removeHandler(h)
            h.close()
