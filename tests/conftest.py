"""Shared fixtures: a tiny synthetic cohort generated once per session, and its ingestion."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from cardiolens.config import DEMO_KEY, validate_config

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared/data"  # ../shared/data beside the clone
TEST_KEY = b"cardiolens-test-key"

TINY_SYNTHETIC: dict[str, Any] = {
    "recordings_per_patient": [1, 2],
    "broken_files": 2,
    "echo": {
        "rows": 96, "cols": 96, "spacing_mm": 1.4, "frame_rate_hz": 60, "cycles": [1, 1],
        "septal_flash": {"patients": 4}, "takotsubo_stemi": {"patients": 2},
    },
    "cmr": {"patients": 3, "rows": 80, "cols": 80, "spacing_mm": 2.5, "slices": 3, "phases": 6},
}


def tiny_config(outdir: str | Path, **overrides: Any) -> dict[str, Any]:
    synthetic = copy.deepcopy(TINY_SYNTHETIC)
    synthetic["outdir"] = str(outdir)
    raw = {"seed": 7, "privacy": {"key": DEMO_KEY}, "cohort": {"source": "synthetic", "synthetic": synthetic}}
    raw.update(overrides)
    return validate_config(raw)


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """(config, outdir) of a generated tiny cohort: 4 septal-flash, 2 Takotsubo/STEMI, 3 cine-MR patients."""
    from cardiolens.synth.generate import generate

    outdir = tmp_path_factory.mktemp("cohort") / "synthetic"
    config = tiny_config(outdir)
    generate(config["cohort"]["synthetic"], config["seed"], outdir, key=TEST_KEY, workers=2)  # the key tiny_ingest uses
    return config, outdir


def real_paths(res: Any) -> dict[str, str]:
    """Path key -> real path (relative to its configured folder) of an ingest ``SourceResult``:
    the private mapping the tables' path keys come from."""
    return dict(zip(res.paths["path_key"], res.paths["path"]))


@pytest.fixture(scope="session")
def tiny_ingest(tiny_cohort, tmp_path_factory):
    """Result of ingesting the tiny cohort: (config, SourceResult, out_dir)."""
    from cardiolens.config import sources
    from cardiolens.ingest.stage import ingest_source

    config, _ = tiny_cohort
    out = tmp_path_factory.mktemp("ingest") / "synthetic"
    res = ingest_source(sources(config)[0], TEST_KEY, out, workers=2)
    return config, res, out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """Working folder of one complete `snakemake` run of the tiny configuration (tinyrun.TINY)."""
    from tinyrun import run_tiny

    return run_tiny(tmp_path_factory.mktemp("wf") / "a")


@pytest.fixture(scope="session")
def resumed_run(tiny_run, tmp_path_factory):
    """A second run of the tiny configuration, killed mid-training and resumed
    (tinyrun.run_tiny_resumed): the reproducibility tests compare it with ``tiny_run``."""
    from tinyrun import run_tiny_resumed

    return run_tiny_resumed(tmp_path_factory.mktemp("wf") / "b")
