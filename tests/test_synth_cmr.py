"""Synthetic cine-MR: class criteria hold in the written masks at the written pixel spacing."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pydicom
import pytest

from cardiolens import labels as L
from cardiolens.config import validate_config
from cardiolens.synth.cmr_case import build_cmr_case

CMR = validate_config({})["cohort"]["synthetic"]["cmr"]


def max_wall_thickness_mm(mask: np.ndarray, spacing: float, n_rays: int = 180) -> float:
    """Largest myocardial thickness along rays from the LV cavity centroid (mm)."""
    cy, cx = np.argwhere(mask == L.LV_CAVITY).mean(axis=0)
    myo = np.isin(mask, (L.MYOCARDIUM, L.SEPTUM))
    step = 0.1
    r = np.arange(0, mask.shape[0], step)
    best = 0.0
    for th in np.linspace(0, 2 * np.pi, n_rays, endpoint=False):
        rows = np.round(cy + r * np.sin(th)).astype(int)
        cols = np.round(cx + r * np.cos(th)).astype(int)
        ok = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
        best = max(best, myo[rows[ok], cols[ok]].sum() * step * spacing)
    return best


def _ef(masks: np.ndarray, es: int) -> float:
    ed_v = (masks[0] == L.LV_CAVITY).sum()
    return (ed_v - (masks[es] == L.LV_CAVITY).sum()) / ed_v


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_criteria_in_the_masks(seed):
    cases = {cls: build_cmr_case(np.random.default_rng([seed, k]), cls, CMR) for k, cls in enumerate(("NOR", "HCM", "DCM"))}
    mid = CMR["slices"] // 3
    sp = CMR["spacing_mm"]
    hcm = cases["HCM"]
    assert max_wall_thickness_mm(hcm.masks[0, mid], sp) >= 15.0  # HCM: ED wall >= 15 mm
    assert max_wall_thickness_mm(cases["NOR"].masks[0, mid], sp) < 13.0
    assert _ef(hcm.masks, hcm.truth["es_frame"]) >= 0.5  # preserved EF
    dcm = cases["DCM"]
    assert _ef(dcm.masks, dcm.truth["es_frame"]) < 0.40  # DCM: EF < 40 %
    ed_diam = 2 * np.sqrt((dcm.masks[0, 0] == L.LV_CAVITY).sum() / np.pi) * sp
    assert ed_diam > 58.0  # dilated (normal LV end-diastolic diameter < 58 mm)
    nor = cases["NOR"]
    assert 0.5 <= _ef(nor.masks, nor.truth["es_frame"]) <= 0.78
    for case in cases.values():
        assert case.truth["ef_from_masks"] == pytest.approx(_ef(case.masks, case.truth["es_frame"]))


def test_mr_dicom_geometry(tiny_cohort):
    config, outdir = tiny_cohort
    cmr = config["cohort"]["synthetic"]["cmr"]
    by_series = defaultdict(list)
    for p in (outdir / "dicom").rglob("IM*"):
        if "SE5" in p.parts:
            by_series[pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID].append(p)
    assert len(by_series) == cmr["patients"]
    for files in by_series.values():
        assert len(files) == cmr["slices"] * cmr["phases"]
        ds = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
        iop = np.array(ds[0].ImageOrientationPatient, float)
        normal = np.cross(iop[:3], iop[3:])
        assert np.linalg.norm(normal) == pytest.approx(1.0)
        pos = sorted({round(float(np.dot(np.array(d.ImagePositionPatient, float), normal)), 3) for d in ds})
        assert np.diff(pos) == pytest.approx(cmr["slice_spacing_mm"], abs=1e-3)
        assert [float(v) for v in ds[0].PixelSpacing] == pytest.approx([cmr["spacing_mm"]] * 2)
        assert len({float(d.TriggerTime) for d in ds}) == cmr["phases"]
