"""The prepare stage: M-mode, frame and clip samples of the tiny synthetic cohort, and their ROIs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from cardiolens import labels as L
from cardiolens.config import validate_config
from cardiolens.prepare.frames import crop, ed_es_pair, heart_extent_mm, select_ed_es, window
from cardiolens.prepare.landmarks import septal_contour_from_mask
from cardiolens.prepare.run import study_slice
from cardiolens.prepare.shapes import input_shape
from cardiolens.prepare.samples import ROI_BITS, prepare_study, recording_scale
from cardiolens.synth.echo_case import build_echo_case, sample_anatomy
from cardiolens.synth.echo_render import Scanner

CONFIG = validate_config({"studies": {
    "septal_flash": {"label": "septal_flash", "representation": "mmode", "modality": "US",
                     "mmode": {"samples": [96, 96], "size": [32, 32], "augment_offsets": 2}},
    "cardiomyopathy": {"label": "cardiomyopathy", "representation": "frames", "modality": "MR", "frames": {"pixel_mm": 1.5, "crop_px": 96}},
    "takotsubo_stemi": {"label": "takotsubo_stemi", "representation": "clip", "modality": "US", "clip": {"frames": 8, "size": [32, 32]}},
}})


def bit(roi: np.ndarray, name: str) -> np.ndarray:
    return (roi >> ROI_BITS[name]) & 1 == 1


@pytest.fixture(scope="module")
def prepared(tiny_ingest, tmp_path_factory):
    _, res, _ = tiny_ingest
    out = {}
    for study in ("septal_flash", "cardiomyopathy", "takotsubo_stemi"):
        d = tmp_path_factory.mktemp(study)
        samples, skipped = prepare_study(res.recordings, study, study_slice(CONFIG, study), d, shard_size=16, workers=2)
        out[study] = (samples, skipped)
    return res.recordings, out


def _load(row) -> tuple[np.ndarray, np.ndarray]:
    arr = np.load(row["array_path"], mmap_mode="r")[row["array_index"]]
    roi = np.load(row["roi_path"], mmap_mode="r")[row["array_index"]]
    return np.asarray(arr, np.float32), np.asarray(roi)


def test_mmode_samples_count_labels_and_rois(prepared):
    recordings, out = prepared
    samples, skipped = out["septal_flash"]
    eligible = recordings[recordings["septal_flash"].notna()]
    assert len(skipped) == 0
    assert len(samples) == len(eligible) * 5 * 2          # 2k+1 = 5 lines x {original, cropped}
    assert set(samples["label"]) == {"flash", "none"} and set(samples["offset"]) == {-2, -1, 0, 1, 2}
    assert samples["sample_id"].is_unique
    assert (samples.groupby("recording_id")["patient_key"].nunique() == 1).all()
    for _, row in samples[samples["variant"] == "original"].iterrows():
        arr, roi = _load(row)
        assert arr.shape == (1, 32, 32) and 0 <= arr.min() and arr.max() <= 1
        septum, window_ = bit(roi, "septum"), bit(roi, "event_window")
        assert septum.any() and window_.any() and (septum & window_).any()
        # The line runs RV -> LV: septum rows come before LV rows.
        lv_rows = np.nonzero(bit(roi, "lv")[0].any(axis=1))[0]
        sep_rows = np.nonzero(septum[0].any(axis=1))[0]
        assert sep_rows.mean() < lv_rows.mean()
        params = json.loads(row["params"])
        assert params["contour_source"] == "annotation" and params["cycle"] == "r_peak_to_r_peak"
    shards = sorted(set(samples["array_path"]))
    assert len(shards) == int(np.ceil(len(samples) / 16))


def test_frame_samples_crop_around_the_lv(prepared):
    recordings, out = prepared
    samples, skipped = out["cardiomyopathy"]
    assert len(skipped) == 0 and set(samples["label"]) == {"NOR", "HCM", "DCM"}
    assert set(samples["recording_id"]) == set(recordings.loc[recordings["cardiomyopathy"].notna(), "recording_id"])
    for _, row in samples.iterrows():
        arr, roi = _load(row)
        params = json.loads(row["params"])
        assert arr.shape == (2, 96, 96) and params["lv_inside_crop"] is True and params["ed_es_method"] == "metadata"
        lv = bit(roi, "lv")
        assert lv[0].sum() > lv[1].sum() > 0                  # ED cavity larger than ES
        cy, cx = np.argwhere(lv[0]).mean(axis=0)
        assert abs(cy - 47.5) < 2 and abs(cx - 47.5) < 2       # centred on the LV
        assert list(row["spacing"]) == [1.0, 1.5, 1.5]


def test_heart_crops_scale_every_recording_to_heart_fill(tiny_ingest, tmp_path):
    """crop: heart - one scale per recording; its largest heart extent spans heart_fill of the crop."""
    _, res, _ = tiny_ingest
    cfg = validate_config({"studies": {"cardiomyopathy": {
        "label": "cardiomyopathy", "representation": "frames", "modality": "MR",
        "frames": {"pixel_mm": 1.5, "crop_px": 64, "crop": "heart", "heart_fill": 0.75}}}})
    samples, skipped = prepare_study(res.recordings, "cardiomyopathy", study_slice(cfg, "cardiomyopathy"), tmp_path,
                                     shard_size=16, workers=1)
    assert len(skipped) == 0
    for _, group in samples.groupby("recording_id"):
        sides, scales = [], set()
        for _, row in group.iterrows():
            arr, roi = _load(row)
            params = json.loads(row["params"])
            scales.add(params["pixel_mm"])
            assert list(row["spacing"]) == [1.0, params["pixel_mm"], params["pixel_mm"]]
            assert params["scale_clamped"] is False
            _, r, c = np.nonzero(bit(roi, "heart"))              # one box for both phases, centred
            sides.append(max(np.ptp(r), np.ptp(c)) + 1)
            assert abs((r.min() + r.max()) / 2 - 31.5) <= 1.5 and abs((c.min() + c.max()) / 2 - 31.5) <= 1.5
        assert len(scales) == 1                                  # one scale for all slices of the recording
        assert max(sides) == pytest.approx(0.75 * 64, abs=2)     # resampling moves a border by a pixel at most


def test_heart_extent_centre_and_background_by_hand():
    """A 1 mm phantom: LV disc r 10 at (50, 40), myocardium to r 16, RV box right of it, rows 40-69, cols 57-79."""
    yy, xx = np.mgrid[:100, :100]
    d = np.hypot(yy - 50, xx - 40)
    mask = np.zeros((100, 100), np.uint8)
    mask[d <= 16] = L.MYOCARDIUM
    mask[d <= 10] = L.LV_CAVITY
    mask[40:70, 57:80] = np.where(mask[40:70, 57:80] == 0, L.RV_CAVITY, mask[40:70, 57:80])
    # Heart rows 34..69 (36 mm) and cols 24..79 (56 mm): the extent is 56 mm in x.
    assert heart_extent_mm([mask], (1.0, 1.0)) == 56.0
    assert heart_extent_mm([mask], (2.0, 1.0)) == 72.0         # 36 rows of 2 mm
    assert heart_extent_mm([np.zeros_like(mask)], (1.0, 1.0)) is None
    shifted = np.roll(mask, 10, axis=1)                          # ES heart 10 mm right: one box, cols 24..89
    assert heart_extent_mm([np.stack([mask, shifted])], (1.0, 1.0)) == 66.0
    img = np.full((100, 100), 50.0)
    img[mask > 0] = 100.0
    img[50, 40] = 0.0                            # the window (0th-100th percentile near the heart): 0 -> 0, 50 -> 0.5, 100 -> 1
    pair, masks, _ = ed_es_pair(img, img, mask, mask, (1.0, 1.0), 1.0, 64, (0, 100), centre_on="heart", background_mm=5.0)
    r, c = np.nonzero(np.isin(masks[0], (L.LV_CAVITY, L.MYOCARDIUM, L.RV_CAVITY)))
    # Heart centre (51.5, 51.5), rounded to (52, 52), is the crop's pixel 32: rows 34..69 -> 14..49, cols 24..79 -> 4..59.
    assert (r.min(), r.max(), c.min(), c.max()) == (14, 49, 4, 59)
    heart = masks[0] > 0
    far = ndimage.distance_transform_edt(~heart) > 5.0
    near_bg = ~heart & ~far
    assert (pair[:, far] == 0).all() and np.allclose(pair[:, near_bg], 0.5) and np.median(pair[:, heart]) == 1.0


def test_recording_scale_clamps_implausible_hearts_and_reads_anisotropic_spacing():
    """(T 2, S 2, H, W) masks: a 40 x 20 px heart box at (0.5 mm rows, 2 mm cols) is 20 x 40 mm."""
    cfg = {"crop": "heart", "heart_fill": 0.5, "crop_px": 40, "pixel_mm": 1.0}
    masks = np.zeros((2, 2, 100, 100), np.uint8)
    masks[0, 1, 30:70, 40:60] = L.LV_CAVITY
    assert recording_scale(masks, 0, 1, (0.5, 2.0), cfg) == (2.0, 40.0, False)      # 40 mm over 0.5 x 40 px
    speck = np.zeros_like(masks)
    speck[1, 0, 50, 50] = L.RV_CAVITY                                                  # 0.5 mm: 0.025 mm pixels
    assert recording_scale(speck, 0, 1, (0.5, 0.5), cfg) == (0.25, 0.5, True)        # clamped to pixel_mm / 4
    assert recording_scale(np.zeros_like(masks), 0, 1, (1.0, 1.0), cfg) == (1.0, None, False)
    assert recording_scale(masks, 0, 1, (0.5, 2.0), {**cfg, "crop": "lv"}) == (1.0, None, False)


def test_heart_crop_with_one_phase_masked_uses_that_phase():
    """An ES slice without labels: the ED heart still places the crop and the zeroed background."""
    yy, xx = np.mgrid[:80, :80]
    mask = np.where(np.hypot(yy - 20, xx - 30) <= 8, L.LV_CAVITY, 0).astype(np.uint8)
    img = np.where(mask > 0, 100.0, 50.0)
    img[20, 44] = 0.0                                    # inside the window's region: 0 -> 0, 50 -> 0.5, 100 -> 1
    pair, masks, _ = ed_es_pair(img, img, mask, None, (1.0, 1.0), 1.0, 32, (0, 100), centre_on="heart", background_mm=2.0)
    assert masks is None
    # Heart box rows 12..28, cols 22..38: centre (20, 30) is crop pixel (16, 16); its row 16 holds image
    # cols 14..45: heart at crop cols 8..24, within 2 mm at 6..26, zero beyond; the crop's row 0 is image row 4.
    for phase in (0, 1):
        assert [float(v) for v in pair[phase, 16, 5:28]] == [0.0] + [0.5] * 2 + [1.0] * 17 + [0.5] * 2 + [0.0]
        assert (pair[phase, 0] == 0).all()


def test_clip_samples_with_base_and_apex(prepared):
    _, out = prepared
    samples, skipped = out["takotsubo_stemi"]
    assert len(skipped) == 0 and set(samples["label"]) == {"takotsubo", "stemi"}
    for _, row in samples.iterrows():
        arr, roi = _load(row)
        assert arr.shape == (8, 32, 32)
        base, apex = bit(roi, "base"), bit(roi, "apex")
        assert base.any() and apex.any() and not (base & apex).any()
        # Apex near the transducer (top rows), base near the AV plane (lower rows).
        assert np.argwhere(apex[0])[:, 0].mean() < np.argwhere(base[0])[:, 0].mean()


def test_ed_es_selection_fallbacks():
    masks = np.zeros((6, 20, 20), np.uint8)
    for t, r in enumerate([8, 7, 5, 3, 4, 6]):
        masks[t, 10 - r:10 + r, 10 - r:10 + r] = L.LV_CAVITY
    assert select_ed_es(2, 4, masks, masks) == (2, 4, "metadata")
    assert select_ed_es(None, None, masks, masks) == (0, 3, "lv_area")
    frames = masks.astype(np.float32) * 100
    ed, es, method = select_ed_es(None, None, None, frames)
    assert method == "image_pca" and {ed, es} == {0, 3}


def test_window_and_crop_by_hand():
    img = np.arange(100, dtype=np.float64).reshape(10, 10)
    region = np.zeros((10, 10), bool)
    region[2:8, 2:8] = True
    w = window(img, region, (0, 100))
    assert w[2, 2] == 0.0 and w[7, 7] == 1.0 and w[0, 0] == 0.0 and w[9, 9] == 1.0
    c = crop(img, (0.0, 0.0), 4)
    assert c.shape == (4, 4) and (c[:2] == 0).all() and (c[:, :2] == 0).all() and c[2, 2] == img[0, 0]


def test_mask_heuristic_finds_the_septal_contour():
    echo = validate_config({})["cohort"]["synthetic"]["echo"]
    sc = Scanner(echo["rows"], echo["cols"], echo["spacing_mm"], 75, 20)
    for seed in range(3):
        case = build_echo_case(np.random.default_rng(seed), sample_anatomy(np.random.default_rng(seed + 10), sc), "none",
                               "septal_flash", {**echo, "cycles": [1, 1]}, marker=False)
        t = case.truth
        est = septal_contour_from_mask(case.masks[t["r_peak_frames"][0]], (sc.spacing_mm, sc.spacing_mm))
        truth = np.column_stack([t["septal_contour_ed"]["x_mm"], t["septal_contour_ed"]["y_mm"]])
        nearest = np.min(np.linalg.norm(est[5:26, None] - truth[None], axis=2), axis=1)
        assert nearest.mean() < 1.5  # mm, mid-basal septum (points 5-25)


def test_samples_table_schema_round_trip(prepared, tmp_path):
    from cardiolens.tables import read_table, write_table
    from cardiolens.tables.registry import SAMPLES

    _, out = prepared
    samples = pd.concat([out[s][0] for s in out], ignore_index=True)
    path = write_table(samples.reindex(columns=SAMPLES.names), tmp_path / "s.parquet", SAMPLES, {"rule": "test"})
    back = read_table(path, SAMPLES)
    assert len(back) == len(samples)


def test_input_shape_is_the_prepared_sample_shape(prepared):
    """What check-config builds each network for is what prepare writes (every variant)."""
    _, out = prepared
    for study, (samples, _) in out.items():
        assert {tuple(s) for s in samples["shape"]} == {input_shape(CONFIG["studies"][study])}


def test_label_values_written_two_ways_are_found():
    """'Yes' beside classes [yes, no], and 'NO ' beside 'no' without classes: one value spelt
    two ways, which the study would otherwise drop or count as two classes."""
    from cardiolens.prepare.samples import case_variants

    values = pd.Series(["yes", "Yes", "no", "maybe"])
    assert case_variants(values, ["yes", "no"]) == [["Yes", "yes"]]
    assert case_variants(pd.Series(["no", "NO ", "yes"]), None) == [["NO ", "no"]]
    assert case_variants(pd.Series(["flash", "none"]), ["flash", "none"]) == []
    assert case_variants(pd.Series(["yes"]), ["yes", "YES"]) == [["YES", "yes"]]  # a class list that spells it twice
