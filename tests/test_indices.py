"""Cardiac indices (cardiolens.measure.indices) on phantoms of known geometry, and on ACDC's expert masks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

from cardiolens import labels as L
from cardiolens.measure.acdc_criteria import CLASSES, acdc_criteria
from cardiolens.measure.indices import (
    INDEX_NAMES,
    PER_M2,
    bsa_mosteller,
    indexed,
    labelled_slices,
    stack_indices,
    thickness_spread,
)
from cardiolens.measure.indices_table import indices_table, patient_row
from cardiolens.measure.thickness import ray_thickness
from cardiolens.tables import TableError
from cardiolens.tables.registry import ALL, INDICES

SPACING = (1.25, 1.25, 10.0)
SLICES = 8
LV_CENTRE, RV_CENTRE = (90.0, 100.0), (160.0, 100.0)  # (x, y) mm; the septum faces +x
SHAPE = (160, 160)  # 200 x 200 mm at 1.25 mm
# Radii (mm) of ED and ES: LV cavity, LV epicardium, RV. Radii of 13+ pixels keep the pixelated
# discs within 1.2 % of pi r^2 (smaller discs miss it by up to 2.5 %).
ED_R, ES_R = (25.0, 35.0, 22.0), (18.0, 32.0, 16.0)


def phantom(r_cavity: float, r_epi: float, r_rv: float, spacing=SPACING, shape=SHAPE, septum_mm: float = 0.0,
            slices: int = SLICES) -> np.ndarray:
    """(S, H, W) stack: LV cavity disc, myocardial annulus, a separate RV disc; with ``septum_mm`` the
    myocardium facing the RV (+-30 degrees) reaches r_cavity + septum_mm, coded SEPTUM. Radii in mm."""
    dx, dy, _ = spacing
    y, x = np.mgrid[: shape[0], : shape[1]]
    x, y = x * dx, y * dy
    d = np.hypot(x - LV_CENTRE[0], y - LV_CENTRE[1])
    angle = np.degrees(np.abs(np.arctan2(y - LV_CENTRE[1], x - LV_CENTRE[0])))
    out = np.zeros(shape, np.uint8)
    out[d <= r_epi] = L.MYOCARDIUM
    if septum_mm:
        out[(d > r_epi) & (d <= r_cavity + septum_mm) & (angle <= 30)] = L.SEPTUM
    out[d <= r_cavity] = L.LV_CAVITY
    if r_rv > 0:
        out[np.hypot(x - RV_CENTRE[0], y - RV_CENTRE[1]) <= r_rv] = L.RV_CAVITY
    return np.repeat(out[None], slices, axis=0)


def cylinder_ml(r_mm: float, slices: int = SLICES, dz: float = SPACING[2]) -> float:
    return math.pi * r_mm**2 * slices * dz / 1000.0


@pytest.fixture(scope="module")
def healthy() -> dict[str, float]:
    return stack_indices(phantom(*ED_R), phantom(*ES_R), SPACING)


def test_volumes_ef_and_mass_match_the_cylinders(healthy) -> None:
    v = healthy
    assert list(v) == list(INDEX_NAMES)
    for key, expected in (("lv_edv_ml", cylinder_ml(25)), ("lv_esv_ml", cylinder_ml(18)), ("rv_edv_ml", cylinder_ml(22)),
                          ("rv_esv_ml", cylinder_ml(16)), ("lv_mass_g", 1.05 * (cylinder_ml(35) - cylinder_ml(25)))):
        assert v[key] == pytest.approx(expected, rel=0.02), key
    assert v["lv_ef_percent"] == pytest.approx(100 * (1 - (18 / 25) ** 2), abs=1.0)
    assert v["rv_ef_percent"] == pytest.approx(100 * (1 - (16 / 22) ** 2), abs=1.0)
    assert v["lv_sv_ml"] == pytest.approx(v["lv_edv_ml"] - v["lv_esv_ml"])
    assert v["rv_lv_edv_ratio"] == pytest.approx((22 / 25) ** 2, rel=0.03)
    assert v["lv_mass_edv_ratio"] == pytest.approx(v["lv_mass_g"] / v["lv_edv_ml"])


def test_uniform_wall_thickness_within_one_pixel(healthy) -> None:
    assert healthy["myo_thickness_max_mm"] == pytest.approx(10.0, abs=SPACING[0])
    assert healthy["myo_thickness_mean_mm"] == pytest.approx(10.0, abs=SPACING[0])
    assert healthy["myo_thickness_max_es_mm"] == pytest.approx(14.0, abs=SPACING[0])
    # A ring of one thickness has no spread but the pixel staircase's.
    assert healthy["myo_thickness_sd_mm"] < SPACING[0] / 2
    assert healthy["myo_thickness_sd_es_mm"] < SPACING[0] / 2


def test_thickness_spread_skips_slices_with_under_half_their_rays() -> None:
    # 45 rays of 4 mm and 45 of 8 mm: SD 2; a slice cut open (2 rays measured) does not count.
    full = np.r_[np.full(45, 4.0), np.full(45, 8.0)]
    assert thickness_spread([full, np.array([1.0, 9.0])], 90) == pytest.approx(2.0)
    assert thickness_spread([full, np.full(90, 6.0)], 90) == pytest.approx(1.0)
    assert math.isnan(thickness_spread([np.array([1.0, 9.0])], 90))


def test_thicker_septum_is_the_maximum_and_counts_as_myocardium() -> None:
    ed = phantom(*ED_R, septum_mm=18)
    assert (ed == L.SEPTUM).any()
    v = stack_indices(ed, phantom(*ES_R), SPACING)
    assert v["myo_thickness_max_mm"] == pytest.approx(18.0, abs=SPACING[0])
    assert 10.0 + SPACING[0] < v["myo_thickness_mean_mm"] < 18.0  # a sixth of the rays cross the thick septum
    # A sixth of the rays read 18 mm, the rest 10 mm: spread sqrt(1/6 * 5/6) * 8 = 2.98 mm (ES: uniform).
    assert v["myo_thickness_sd_mm"] == pytest.approx(math.sqrt(5 / 36) * 8, abs=0.35)
    assert v["myo_thickness_sd_es_mm"] < SPACING[0] / 2
    wedge = math.pi * ((25 + 18) ** 2 - 35**2) / 6 * SLICES * SPACING[2] / 1000
    assert v["lv_mass_g"] == pytest.approx(1.05 * (cylinder_ml(35) - cylinder_ml(25) + wedge), rel=0.02)


def test_in_plane_anisotropy_uses_dx_for_columns_and_dy_for_rows() -> None:
    spacing = (1.0, 1.6, 8.0)
    ed, es = phantom(*ED_R, spacing, shape=(125, 200)), phantom(*ES_R, spacing, shape=(125, 200))  # 200 x 200 mm
    v = stack_indices(ed, es, spacing)
    assert v["lv_edv_ml"] == pytest.approx(cylinder_ml(25, dz=8.0), rel=0.02)
    assert v["lv_mass_g"] == pytest.approx(1.05 * (cylinder_ml(35, dz=8.0) - cylinder_ml(25, dz=8.0)), rel=0.02)
    assert v["myo_thickness_max_mm"] == pytest.approx(10.0, abs=1.6)
    assert v["myo_thickness_mean_mm"] == pytest.approx(10.0, abs=1.0)


def test_ray_thickness_skips_rays_that_leave_the_cavity_elsewhere() -> None:
    s = phantom(*ED_R, slices=1)[0]
    cy, cx = int(LV_CENTRE[1] / 1.25), int(LV_CENTRE[0] / 1.25)
    s[cy - 2: cy + 3, cx:] = np.where(s[cy - 2: cy + 3, cx:] == L.MYOCARDIUM, L.BACKGROUND, s[cy - 2: cy + 3, cx:])
    rays = ray_thickness(s, (1.25, 1.25), n_rays=90)
    assert np.isnan(rays[0]) and np.isfinite(rays[45])  # +x ray crosses the gap; -x ray the wall
    assert np.all(np.isnan(ray_thickness(np.zeros((10, 10), np.uint8), (1.0, 1.0))))


def test_unlabelled_slices_are_left_out_of_both_frames() -> None:
    ed, es = phantom(*ED_R), phantom(*ES_R)
    es[0] = L.UNLABELLED
    assert labelled_slices(ed, es).tolist() == [False] + [True] * (SLICES - 1)
    v = stack_indices(ed, es, SPACING)
    assert v["lv_edv_ml"] == pytest.approx(cylinder_ml(25, SLICES - 1), rel=0.02)
    assert v["lv_ef_percent"] == pytest.approx(100 * (1 - (18 / 25) ** 2), abs=1.0)


@pytest.mark.parametrize("ed, es, spacing, match", [
    (np.zeros((2, 8, 8), np.uint8), np.zeros((3, 8, 8), np.uint8), SPACING, "one shape"),
    (np.full((2, 8, 8), 9, np.uint8), np.zeros((2, 8, 8), np.uint8), SPACING, r"codes \[9\]"),
    (np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8), np.uint8), (1.0, 0.0, 5.0), r"\(1\.0, 0\.0, 5\.0\)"),
    (np.full((2, 8, 8), L.UNLABELLED, np.uint8), np.zeros((2, 8, 8), np.uint8), SPACING, "no slice of the 2"),
    (np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8), np.uint8), SPACING, "no LV cavity"),
])
def test_bad_input_is_named(ed, es, spacing, match) -> None:
    with pytest.raises(ValueError, match=match):
        stack_indices(ed, es, spacing)


def test_missing_rv_gives_nan_rv_ef() -> None:
    ed, es = phantom(25, 35, 0.0), phantom(18, 32, 0.0)
    v = stack_indices(ed, es, SPACING)
    assert v["rv_edv_ml"] == 0 and math.isnan(v["rv_ef_percent"]) and math.isnan(v["rv_lv_edv_ratio"])


def test_bsa_mosteller_by_hand() -> None:
    assert bsa_mosteller(170, 70) == pytest.approx(1.8181, abs=1e-4)  # sqrt(170 * 70 / 3600)
    for bad in (0, -1.0, float("nan"), None):
        with pytest.raises(ValueError, match="height_cm"):
            bsa_mosteller(bad, 70)  # type: ignore[arg-type]


def test_indexed_adds_per_m2_or_none(healthy) -> None:
    out = indexed(healthy, 2.0)
    assert all(out[f"{k}_per_m2"] == pytest.approx(healthy[k] / 2.0) for k in PER_M2)
    assert all(indexed(healthy, None)[f"{k}_per_m2"] is None for k in PER_M2)


def _row(key: str, height: float | None) -> dict:
    return patient_row(patient_key=key, recording_id="R" + key, mask_source="expert", ed_frame=0, es_frame=9,
                       ed_mask=phantom(*ED_R), es_mask=phantom(*ES_R), spacing_mm=SPACING,
                       height_cm=height, weight_kg=70.0)


def test_table_follows_the_registered_schema() -> None:
    assert ALL["indices"] is INDICES and INDICES.key == ("patient_key",)
    assert set(INDEX_NAMES) | {f"{k}_per_m2" for k in PER_M2} <= set(INDICES.names)
    df = indices_table([_row("P1", 170.0), _row("P2", None)])
    assert list(df.columns) == INDICES.names and df["n_slices"].tolist() == [SLICES, SLICES]
    assert df.loc[0, "bsa_m2"] == pytest.approx(1.8181, abs=1e-4)
    assert df.loc[1, ["bsa_m2", "lv_edv_ml_per_m2", "lv_mass_g_per_m2"]].isna().all()
    INDICES.to_arrow(df)  # storable with the declared types
    with pytest.raises(TableError, match="'mask_source'"):
        INDICES.validate(df.assign(mask_source="guessed"))
    with pytest.raises(ValueError, match=r"missing \['weight_kg'\]"):
        indices_table([{k: v for k, v in _row("P3", 170.0).items() if k != "weight_kg"}])


def test_acdc_criteria_by_hand() -> None:
    rows = pd.DataFrame({
        "lv_ef_percent": [62.0, 30.0, 25.0, 70.0, 55.0, 60.0],
        "lv_edv_ml_per_m2": [70.0, 90.0, 140.0, 60.0, 80.0, 70.0],
        "lv_mass_g_per_m2": [60.0, 60.0, 80.0, 120.0, 50.0, 60.0],
        "myo_thickness_max_mm": [11.0, 10.0, 9.0, 12.0, 9.0, 16.0],
        "rv_edv_ml_per_m2": [80.0, 70.0, 80.0, 60.0, 130.0, 70.0],
        "rv_ef_percent": [55.0, 50.0, 45.0, 60.0, 50.0, math.nan],
    })
    got = acdc_criteria(rows)
    assert list(got.columns) == list(CLASSES)
    assert got.to_dict("list") == {
        "NOR": [True, False, False, False, False, False], "MINF": [False, True, True, False, False, False],
        "DCM": [False, False, True, False, False, False], "HCM": [False, False, False, True, False, True],
        "RV": [False, False, False, False, True, False],
    }


ACDC = SHARED_DATA / "acdc" / "training"


@pytest.mark.skipif(not ACDC.is_dir(), reason=f"ACDC training data {ACDC} is absent (../shared/data beside the repo)")
@pytest.mark.parametrize("patient", ["patient001", "patient021", "patient041", "patient061", "patient081"])  # one per group
def test_acdc_expert_masks_meet_their_class(patient: str) -> None:
    """Patients the benchmark (benchmarks/acdc_indices.py) found meeting their Info.cfg class."""
    from cardiolens.measure.acdc_expert import expert_row

    row, group = expert_row(ACDC / patient)
    df = indices_table([row])
    met = acdc_criteria(df).iloc[0]
    assert met[group], f"{patient} ({group}) does not meet its class definition: {row}"
    assert row["lv_edv_ml"] > row["lv_esv_ml"] > 0 and 0 < row["lv_ef_percent"] < 100
    assert 0 < row["myo_thickness_mean_mm"] < row["myo_thickness_max_mm"] < 40
