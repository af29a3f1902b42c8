"""The quiet console (issue 20): the Snakemake logger plugin and the job logs' warning filters."""

from __future__ import annotations

import io
import logging
import warnings
from types import SimpleNamespace

from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_logger_plugin_cardiolens import LogHandler, plan_line

from cardiolens.logs import log_to


def _handler(**settings) -> tuple[LogHandler, io.StringIO]:
    common = SimpleNamespace(**{"dryrun": False, "verbose": False, "debug_dag": False, "stdout": False, "quiet": set(),
                                "printshellcmds": False, "show_failed_logs": False, "nocolor": True, **settings})
    h = LogHandler(common, None)
    h.stream = io.StringIO()
    h.setFormatter(logging.Formatter("%(message)s"))
    return h, h.stream


def _record(msg: str, level: int = logging.INFO, created: float = 0.0, **extra) -> logging.LogRecord:
    r = logging.LogRecord("snakemake", level, __file__, 1, msg, None, None)
    r.created = created
    r.__dict__.update(extra)
    return r


def test_plan_line_from_snakemakes_job_stats():
    assert plan_line({"synth_cohort": 1, "train_fold": 9, "total": 10}) == "10 jobs: synth_cohort 1, train_fold 9"


def test_one_line_per_finished_job_with_progress_and_duration():
    h, out = _handler()
    h.emit(_record("Select jobs to execute..."))
    h.emit(_record("job", event=LogEvent.JOB_INFO, jobid=7, rule_name="train_fold",
                   wildcards={"study": "septal_flash", "fold": 0}, created=100.0))
    h.emit(_record("Execute 1 jobs...", event=LogEvent.JOB_STARTED, jobs=[7]))
    h.emit(_record("Finished jobid: 7", event=LogEvent.JOB_FINISHED, job_id=7))
    h.emit(_record("3 of 45", event=LogEvent.PROGRESS, done=3, total=45, created=172.0))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].split("  ", 1)[1] == " 3/45   6%  train_fold (study=septal_flash, fold=0)  1m12s"


def test_a_group_job_gives_one_line_per_member():
    h, out = _handler()
    for jobid in (1, 2):
        h.emit(_record("job", event=LogEvent.JOB_INFO, jobid=jobid, rule_name=f"r{jobid}", wildcards={}, created=0.0))
    for jobid in (1, 2):
        h.emit(_record("f", event=LogEvent.JOB_FINISHED, job_id=jobid))
    h.emit(_record("p", event=LogEvent.PROGRESS, done=2, total=2, created=5.0))
    assert [ln.split()[1:4] for ln in out.getvalue().splitlines()] == [["1/2", "50%", "r1"], ["2/2", "100%", "r2"]]


def test_errors_warnings_and_dry_runs_pass_through():
    h, out = _handler()
    h.emit(_record("Error in rule train_fold: ...", level=logging.ERROR, event=LogEvent.JOB_ERROR))
    h.emit(_record("something to act on", level=logging.WARNING))
    assert out.getvalue().splitlines() == ["Error in rule train_fold: ...", "something to act on"]
    h, out = _handler(dryrun=True)
    h.emit(_record("Select jobs to execute..."))
    assert out.getvalue() == "Select jobs to execute...\n"


def test_known_dependency_warnings_are_filtered_by_message_and_module_only(tmp_path, capsys):
    message = "Checkpoint directory /x exists and is not empty."
    with log_to(str(tmp_path / "job.log")):
        warnings.warn_explicit(message, UserWarning, "callback.py", 1, module="lightning.pytorch.callbacks.model_checkpoint")
        # on a machine with SLURM installed (CI's test cluster), every Trainer hints at srun
        warnings.warn_explicit("The `srun` command is available on your system but is not used. HINT: ...", UserWarning,
                               "slurm.py", 204, module="lightning.fabric.plugins.environments.slurm")
        logging.getLogger("cardiolens.x").info("progress detail")
    err = capsys.readouterr().err
    assert "exists and is not empty" not in err and "srun" not in err and "progress detail" not in err  # INFO: file only
    assert "progress detail" in (tmp_path / "job.log").read_text()
    with log_to(str(tmp_path / "job.log")):
        warnings.warn_explicit(message, UserWarning, "mine.py", 2, module="cardiolens.train.run")  # same text, our code
        warnings.warn_explicit("a new dependency warning", UserWarning, "other.py", 3, module="monai.transforms")
    err = capsys.readouterr().err
    assert "exists and is not empty" in err and "a new dependency warning" in err
