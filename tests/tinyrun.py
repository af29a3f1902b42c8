"""The tiny workflow configuration and a `snakemake` runner shared by the end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# The tiny configuration lives where the Snakemake workflow catalog expects it.
TINY = (REPO / ".test" / "config" / "config.yaml").read_text(encoding="utf-8")

# The septal-flash study alone (no comparison: it needs a second study); its tables equal the
# same tables of the full tiny run, since no table depends on which other studies are enabled.
ONE_STUDY = """\
studies:
  cardiomyopathy: {enabled: false}
  takotsubo_stemi: {enabled: false}
  regional_quality: {enabled: false}
  septal_flash_b: {enabled: false}
stats:
  comparisons: []
"""


def ran_rules(output: str) -> list[str]:
    """Rules of the jobs a run finished, from the cardiolens console's progress lines
    (``12:00:01  3/45   6%  train_fold (study=..., fold=0)  1m12s``) or, for runs without the
    default profile (dry runs, the SLURM profile), from Snakemake's ``rule X:`` blocks."""
    import re

    progress = re.findall(r"^\d\d:\d\d:\d\d +\d+/\d+ +\d+%  (\w+)", output, flags=re.M)
    return progress or re.findall(r"^(?:local)?rule (\w+):", output, flags=re.M)


def differs_from_tiny_run(results: Path, tiny_results: Path) -> list[str]:
    """Files of a one-study run's ``results`` that are not byte-identical to the full tiny run's.

    ``stats/provenance.html`` and the results summary (``summary.parquet``, ``summary.rst``) are
    left out: they list the run's studies and final tables, which are fewer when fewer studies run.
    Everything else (`cardiolens.rundiff.compared_files`) must match.
    """
    from cardiolens.rundiff import compared_files

    per_run = {"stats/provenance.html", "summary.parquet", "summary.rst"}
    mine = [f for f in compared_files(results) if f not in per_run]
    assert any(f.startswith("stats/septal_flash/") for f in mine) and any(f.startswith("attribute/") for f in mine)
    return [f for f in mine if not (tiny_results / f).is_file() or (tiny_results / f).read_bytes() != (results / f).read_bytes()]


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2", *args]
    env = {k: v for k, v in os.environ.items() if k != "CARDIOLENS_PSEUDONYM_KEY"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def up_to_date(workdir: Path, target: str) -> bool:
    """Whether ``workdir`` holds ``target`` and Snakemake, in a dry run of the workflow's default
    configuration there, plans no job for it (same code, parameters and inputs; not incomplete)."""
    if not (workdir / target).is_file():
        return False
    proc = snakemake(workdir, "--dry-run", target, check=False, timeout=300)
    return proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


def run_tiny(tmp: Path) -> Path:
    """Run the tiny configuration in ``tmp``; its terminal output (stdout, then stderr) is kept
    in ``tmp/terminal.txt`` for the console tests."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "tiny.yaml").write_text(TINY)
    proc = snakemake(tmp, "--configfile", "tiny.yaml")
    (tmp / "terminal.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    return tmp


@dataclass
class ResumedRun:
    """A second run of the tiny configuration, killed mid-training and resumed (`run_tiny_resumed`).

    ``workdir``: its working folder; what was seen when it was killed: ``killed_fold`` (the files
    of the fold whose training was killed), ``leftovers`` (temporary files left under results/),
    ``finished`` (mtime of every table then present); ``locked`` the output of a plain rerun before
    ``--unlock``; ``rerun`` the resumed run's output; ``finished_after`` the same tables' mtimes at
    the end.
    """

    workdir: Path
    killed_fold: list[str]
    leftovers: list[str]
    finished: dict[str, int]
    locked: subprocess.CompletedProcess
    rerun: str
    finished_after: dict[str, int]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float, text: str = "") -> None:
    """Wait until ``path`` exists (and holds ``text``), failing if Snakemake ends first."""
    t0 = time.monotonic()
    while not path.exists() or text not in path.read_text(errors="replace"):
        if proc.poll() is not None:
            raise AssertionError(f"snakemake ended (exit {proc.returncode}) before {path} appeared")
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def run_tiny_resumed(tmp: Path) -> ResumedRun:
    """Run the tiny configuration in ``tmp``, SIGKILL Snakemake and its job while the septal-flash
    model trains (power loss, OOM killer), then ``--unlock`` and rerun to the end.

    The run is the reproducibility tests' second run: its tables must equal the uninterrupted
    ``tiny_run``'s byte for byte. A training job takes both cores (``threads: 2``), so it is the
    only job running when it is killed. Lightning seeds right before the model is built and
    trained, and the tiny model trains in about a second: the kill follows that log line at once.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "tiny.yaml").write_text(TINY)
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp), "--cores", "2", "--configfile", "tiny.yaml"]
    env = {k: v for k, v in os.environ.items() if k != "CARDIOLENS_PSEUDONYM_KEY"}
    with open(tmp / "first.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_for(tmp / "results/logs/train_fold/septal_flash/fold0.log", proc, timeout=900, text="Seed set to")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    results = tmp / "results"
    fold = results / "train/septal_flash/fold0"
    killed_fold = sorted(str(p.relative_to(fold)) for p in fold.rglob("*") if p.is_file()) if fold.is_dir() else []
    leftovers = sorted(str(p.relative_to(results)) for p in results.rglob("*") if ".tmp" in p.name or ".partial" in p.name)
    finished = {str(p.relative_to(results)): p.stat().st_mtime_ns for p in results.rglob("*.parquet")}
    locked = snakemake(tmp, "--configfile", "tiny.yaml", check=False)  # (a dry run takes no lock)
    snakemake(tmp, "--configfile", "tiny.yaml", "--unlock")
    proc2 = snakemake(tmp, "--configfile", "tiny.yaml", "--rerun-incomplete")
    after = {f: (results / f).stat().st_mtime_ns for f in finished if (results / f).is_file()}
    return ResumedRun(tmp, killed_fold, leftovers, finished, locked, proc2.stdout + proc2.stderr, after)
