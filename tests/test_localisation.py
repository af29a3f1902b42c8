"""Grad-CAM++ localises the septal flash: the septal-flash study with GapCNN end to end (slow).

The synthetic flash is the whole class difference and lies, by construction, in the septum
between mitral valve closure and aortic valve opening (`cardiolens.synth.echo_case`). So a model
that detects it and a map that shows why must point there: issue 7 asks for a pointing-game hit
rate >= 0.9 (Zhang et al. 2018, 4 px tolerance) inside the septum band x MVC-AVO window, over the
correctly classified flash M-modes. This runs the septal-flash study of `config/config.yaml`
with `config/localise.yaml` (the GapCNN network; attribution settings unchanged), on its own
36-patient cohort (the other studies' patients are not generated).

Opt-in (``CARDIOLENS_LOCALISATION_TEST=1``, about 5 min on 2 cores): the default configuration's
small DenseNet does not meet the target (README, "Attribution"), and CI's 30-min budget is spent.
"""

from __future__ import annotations

import os

import pytest

from cardiolens.tables import read_table
from cardiolens.tables.registry import ATTRIBUTION
from conftest import REPO
from tinyrun import snakemake

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.environ.get("CARDIOLENS_LOCALISATION_TEST") != "1",
                                                   reason="opt-in: set CARDIOLENS_LOCALISATION_TEST=1 (about 5 min)")]

FLASH_ONLY = """\
cohort:
  synthetic:
    cmr: {patients: 0}
    echo: {takotsubo_stemi: {patients: 0}}
studies:
  cardiomyopathy: {enabled: false}
  takotsubo_stemi: {enabled: false}
  regional_quality: {enabled: false}
  septal_flash: {stats: {enabled: false}}
stats:
  comparisons: []
"""


def test_gradcampp_points_at_the_septal_flash(tmp_path):
    (tmp_path / "flash.yaml").write_text(FLASH_ONLY)
    snakemake(tmp_path, "--configfile", str(REPO / "config/config.yaml"), str(REPO / "config/localise.yaml"), "flash.yaml", timeout=1500)
    table = read_table(tmp_path / "results/attribute/septal_flash/attribution.parquet", ATTRIBUTION)
    assert set(table["pointing_roi"]) == {"septum&event_window"}
    hits = table[(table["method"] == "gradcampp") & table["correct"] & (table["y_pred"] == "flash")]["pointing_hit"]
    assert len(hits) >= 30 and hits.notna().all()  # enough correct flash maps for the rate to mean something
    assert hits.mean() >= 0.9, f"Grad-CAM++ pointing-game hit rate {hits.mean():.3f} over {len(hits)} maps"
