"""Shortcut detection end to end: `snakemake --configfile config/shortcut.yaml` as shipped (slow, ~3 min)."""

from __future__ import annotations

import pytest

from cardiolens.tables import read_table
from cardiolens.tables.registry import ATTRIBUTION, ATTRIBUTION_SUMMARY
from conftest import REPO
from test_workflow import snakemake

pytestmark = pytest.mark.slow

# config/shortcut.yaml's own cohort (36 patients) and training, unchanged; only what the test does not
# read is left out to save CI time: the motion measurement and the input-level attribution methods.
# (A 16-patient cohort, tried before, trains on 11 patients: its model classified 70-86 % of the test
# clips and explained 1-2 of 4-14 marker maps from the heart, so the >= 90 % below failed there
# depending on the machine's rounding; the shipped configuration gives 1.00 and 7/7.)
LEAN = """\
privacy: {key: cardiolens-synthetic-demo-key}
studies:
  takotsubo_stemi:
    motion: {enabled: false}
    attribute: {methods: [gradcam, gradcampp]}
"""


def test_a_marker_shortcut_is_flagged_outside_the_heart(tmp_path):
    (tmp_path / "lean.yaml").write_text(LEAN)
    snakemake(tmp_path, "--configfile", str(REPO / "config/shortcut.yaml"), "lean.yaml")
    out = tmp_path / "results/attribute/takotsubo_stemi"
    table = read_table(out / "attribution.parquet", ATTRIBUTION)
    summary = read_table(out / "summary.parquet", ATTRIBUTION_SUMMARY)
    assert table["marker"].notna().all() and table["marker"].any() and not table["marker"].all()
    # The ground truth puts the marker on every Takotsubo recording and on no STEMI one.
    assert (table["marker"] == (table["label"] == "takotsubo")).all()
    # The marker is the only signal; with GapCNN (29-px cells) the CAMs of the marker maps sit in
    # the corner: issue 7 asks for the flag on >= 90 % of them (7 maps in the shipped split), and the
    # summary's "marker" group says so.
    for method in ("gradcam", "gradcampp"):
        row = summary[(summary["method"] == method) & (summary["group"] == "all")].iloc[0]
        maps = table[table["method"] == method]
        assert row["n"] == len(maps) and row["outside_heart_rate"] == maps["outside_heart"].mean()
        assert row["outside_heart_rate"] >= 0.5, (method, row["outside_heart_rate"])
        marker = summary[(summary["method"] == method) & (summary["group"] == "marker")].iloc[0]
        assert marker["n"] == maps["marker"].sum() >= 5
        assert marker["outside_heart_rate"] >= 0.9, (method, marker["outside_heart_rate"])
    log = (tmp_path / "results/logs/attribute_merge/takotsubo_stemi.log").read_text()
    assert "group all" in log and "possible shortcut" in log
    assert (out / "figures/gallery_gradcam.png").stat().st_size > 0
