"""A quiet Snakemake console for cardiolens runs: one line per finished job, errors in full.

Snakemake's default console prints a 10-line block for every job and repeats "Select jobs to
execute..." before each, so a 45-job run prints hundreds of lines and buries what matters. This
handler (selected by the default workflow profile, ``logger: [cardiolens]``) prints:

- one line for the job plan (``45 jobs: synth_cohort 1, ingest_source 1, ...``);
- one line per finished job: clock time, progress, rule, wildcards and the time since Snakemake
  scheduled it (on a cluster this includes the queue wait);
- warnings, errors and failed jobs exactly as Snakemake formats them;
- dry runs (``-n``), ``--verbose`` and ``--debug-dag`` runs unchanged (Snakemake's own format).

What it leaves out of a run: the per-job blocks (inputs, outputs, resources; every job's log under
``results/logs/`` says more), group-job headers and the scheduler's narration.

It is a regular Snakemake logger plugin (snakemake-interface-logger-plugins): Snakemake finds it
by its module name; ``--logger`` with another plugin, or ``--workflow-profile none``, restores the
default console.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

# Messages without an event that only narrate the scheduler's inner loop.
_CHATTER = (
    "Select jobs to execute",
    "Building DAG of jobs",
    "Using shell:",
    "Conda environments: ignored",
    "Singularity containers: ignored",
    "Assuming unrestricted shared filesystem usage",
    "Group jobs: inactive",
)
# `snakemake --report` narrates every file it embeds and every script it reads.
_REPORT_CHATTER = re.compile(r"^(Adding .+ \([\d.]+ [KMGT]?i?B\)\.|Loading script code for rule \w+)$")
_SILENT_EVENTS = {LogEvent.WORKFLOW_STARTED, LogEvent.RESOURCES_INFO, LogEvent.JOB_STARTED, LogEvent.RULEGRAPH,
                  LogEvent.DEBUG_DAG}


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    """No settings: the console is deliberately not configurable beyond Snakemake's own flags."""


def _wildcards(wildcards: Any) -> str:
    items = dict(wildcards or {})
    return ", ".join(f"{k}={v}" for k, v in items.items())


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def plan_line(stats: dict[str, Any]) -> str:
    """``{'synth_cohort': 1, ..., 'total': 45}`` (or Snakemake's list-of-rows form) -> one line."""
    counts: dict[str, int] = {}
    rows = stats.get("rows") if isinstance(stats, dict) and "rows" in stats else stats
    if isinstance(rows, dict):
        counts = {str(k): int(v) for k, v in rows.items()}
    elif isinstance(rows, list):
        for row in rows:
            if isinstance(row, dict) and "job" in row:
                counts[str(row["job"])] = int(row.get("count", 0))
    total = counts.pop("total", sum(counts.values()))
    return f"{total} jobs: " + ", ".join(f"{k} {v}" for k, v in counts.items())


class LogHandler(LogHandlerBase):
    """Console handler: progress and findings, not the scheduler's narration."""

    def __post_init__(self) -> None:
        self.stream = sys.stdout if getattr(self.common_settings, "stdout", False) else sys.stderr
        self.jobs: dict[int, tuple[str, str, float]] = {}
        self.finished: list[int] = []  # since the last progress record (several for a group job)
        cs = self.common_settings
        self.passthrough = bool(getattr(cs, "dryrun", False) or getattr(cs, "verbose", False)
                                or getattr(cs, "debug_dag", False))

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's own filter applies (--quiet, --printshellcmds, --verbose)

    @property
    def has_formatter(self) -> bool:
        return False  # Snakemake's formatter renders everything this handler passes through

    @property
    def needs_rulegraph(self) -> bool:
        return False

    def _write(self, text: str) -> None:
        if text:
            self.stream.write(text.rstrip("\n") + "\n")
            self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.passthrough:
                self._write(self.format(record))
                return
            event = getattr(record, "event", None)
            if record.levelno >= logging.WARNING or event in (LogEvent.ERROR, LogEvent.JOB_ERROR, LogEvent.GROUP_ERROR):
                self._write(self.format(record))
            elif event in _SILENT_EVENTS:
                return
            elif event == LogEvent.RUN_INFO:
                stats = getattr(record, "stats", None)
                self._write(plan_line(stats) if stats else self.format(record))
            elif event == LogEvent.JOB_INFO:
                self.jobs[int(record.jobid)] = (record.rule_name, _wildcards(getattr(record, "wildcards", None)), record.created)
            elif event == LogEvent.JOB_FINISHED:
                self.finished.append(int(record.job_id))
            elif event == LogEvent.PROGRESS:
                done, total = int(record.done), int(record.total)
                finished, self.finished = self.finished or [-1], []
                for i, jobid in enumerate(finished):
                    self._write(self._progress_line(jobid, done - (len(finished) - 1 - i), total, record.created))
            elif event == LogEvent.SHELLCMD:
                self._write(self.format(record))
            elif event is None and record.levelno == logging.INFO:
                message = str(record.getMessage())
                if message.strip() and not message.startswith(_CHATTER) and not _REPORT_CHATTER.match(message):
                    self._write(message)
        except Exception:  # a console must never take the run down
            self.handleError(record)

    def _progress_line(self, jobid: int, done: int, total: int, now: float) -> str:
        rule, wildcards, started = self.jobs.pop(jobid, ("?", "", now))
        what = f"{rule} ({wildcards})" if wildcards else rule
        width = len(str(total))
        return (f"{time.strftime('%H:%M:%S', time.localtime(now))}  {done:>{width}}/{total} "
                f"{100 * done // max(total, 1):3d}%  {what}  {_duration(now - started)}")
