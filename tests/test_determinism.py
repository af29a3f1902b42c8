"""Two clean runs of the default configuration give byte-identical tables (issue 10, item 5).

The default run takes ~12 min on 2 cores, so two of them do not fit the CI budget: this test
runs when ``CARDIOLENS_DEFAULT_RUN_TEST=1`` (it skips, saying so, otherwise). CI checks the
same property on the tiny configuration (test_workflow.py), which exercises every stage and rule.
``CARDIOLENS_DEFAULT_RUN_KEEP=DIR`` keeps both run folders under DIR (for the no-op benchmark).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cardiolens.rundiff import compared_files, diff_runs
from conftest import REPO

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def _clean_default_run(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "CARDIOLENS_PSEUDONYM_KEY"}
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "all",
           "--configfile", str(REPO / "config/config.yaml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return workdir / "results"


@pytest.mark.skipif(os.environ.get("CARDIOLENS_DEFAULT_RUN_TEST") != "1",
                    reason="two default runs take ~24 min on 2 cores; set CARDIOLENS_DEFAULT_RUN_TEST=1 to run them "
                    "(the tiny configuration's determinism test runs in CI)")
def test_two_clean_default_runs_give_byte_identical_tables(tmp_path):
    keep = os.environ.get("CARDIOLENS_DEFAULT_RUN_KEEP")
    base = Path(keep) if keep else tmp_path
    for d in ("a", "b"):
        shutil.rmtree(base / d, ignore_errors=True)
    a = _clean_default_run(base / "a")
    b = _clean_default_run(base / "b")
    files = compared_files(a)
    tables = [f for f in files if f.endswith(".parquet")]
    # Every stage of the default configuration wrote its tables (4 studies + motion + quality).
    assert len(tables) > 100 and any(f.startswith("stats/") for f in tables) and any(f.startswith("measure/") for f in tables)
    assert diff_runs(a, b) == []
