"""The segment stage: model grid, class mapping, held-out metrics, training, prediction and QC wiring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cardiolens import labels as L
from cardiolens.segment import evaluate as E
from cardiolens.segment import grid as G
from cardiolens.segment import labels as SL
from cardiolens.segment.frames import pick_frames


def test_placement_resamples_to_spacing_then_centre_crops():
    # 200 x 100 px at 1.0 x 2.0 mm -> 1.5 mm: 133 x 133 px; on a 128 grid: crop 2 rows/cols each side... (133-128)//2 = 2
    p = G.placement((200, 100), (1.0, 2.0), (128, 128), 1.5)
    assert p.scaled == (133, 133)
    assert p.src == (2, 130, 2, 130) and p.dst == (0, 128, 0, 128)
    # smaller than the grid: centred with zero padding
    q = G.placement((40, 60), (1.5, 1.5), (128, 128), 1.5)
    assert q.scaled == (40, 60) and q.src == (0, 40, 0, 60) and q.dst == (44, 84, 34, 94)
    # no spacing: the whole frame is resized
    assert G.placement((112, 112), None, (128, 128), 1.5).scaled == (128, 128)


def test_grid_round_trip_keeps_a_disc_where_it_was():
    yy, xx = np.mgrid[:90, :120]
    disc = ((yy - 40) ** 2 + (xx - 70) ** 2 <= 15 ** 2)
    p = G.placement(disc.shape, (1.2, 0.9), (96, 96), 1.5)
    on_grid = G.to_grid(disc[None].astype(np.uint8), p, (96, 96), label=True)[0]
    probs = torch.from_numpy(np.stack([1.0 - on_grid, on_grid]).astype(np.float32))[None]
    back = G.from_grid(probs, p)[0].argmax(0).numpy().astype(bool)
    inter = (back & disc).sum()
    assert 2 * inter / (back.sum() + disc.sum()) > 0.95
    assert abs(np.argwhere(back).mean(0) - np.array([40, 70])).max() < 1.0


def test_imaging_area_is_the_box_of_pixels_ever_non_zero():
    frames = np.zeros((3, 40, 60), np.uint8)
    frames[0, 10, 20] = 5          # one frame's pixel counts
    frames[2, 30:35, 12:50] = 200
    assert G.imaging_area(frames) == (10, 35, 12, 50)
    assert G.imaging_area(np.zeros((2, 8, 8))) is None


def test_a_sector_with_black_margins_fills_the_grid_and_comes_back_in_place():
    # An export whose sector occupies rows 20..99 and cols 40..199 of a 120 x 240 frame (black
    # margins): its imaging area, not the whole frame, is resized to the 64 x 64 grid.
    frames = np.zeros((1, 120, 240), np.float32)
    frames[0, 20:100, 40:200] = 1.0
    area = G.imaging_area(frames)
    assert area == (20, 100, 40, 200)
    p = G.placement(frames.shape[-2:], (0.5, 0.5), (64, 64), None, area)
    assert p.scaled == (64, 64) and p.area == (20, 100, 40, 200)
    assert (G.to_grid(frames, p, (64, 64)) == 1.0).all()   # the grid holds only the sector
    # a disc centred on pixel (60, 120): pixel centre 40.5 / 80.5 of the area's 80 / 160, so grid
    # row 40.5 * 64 / 80 - 0.5 = 31.9 and column 80.5 * 64 / 160 - 0.5 = 31.7; and back where it was
    yy, xx = np.mgrid[:120, :240]
    disc = (yy - 60) ** 2 + (xx - 120) ** 2 <= 20 ** 2
    on_grid = G.to_grid(disc[None].astype(np.uint8), p, (64, 64), label=True)[0]
    assert abs(np.argwhere(on_grid).mean(0) - np.array([31.9, 31.7])).max() < 0.6
    probs = torch.from_numpy(np.stack([1.0 - on_grid, on_grid]).astype(np.float32))[None]
    back = G.from_grid(probs, p)[0]
    assert back.shape == (2, 120, 240)
    assert (back[0, :20] == 1).all() and (back[0, :, 200:] == 1).all()   # outside the area: background
    pred = back.argmax(0).numpy().astype(bool)
    assert 2 * (pred & disc).sum() / (pred.sum() + disc.sum()) > 0.95
    # a frame resampled to a spacing keeps the whole frame
    assert G.placement((120, 240), (0.5, 0.5), (64, 64), 1.5, area).area is None


def test_source_weights_make_every_source_equally_likely():
    from cardiolens.segment.train import source_weights

    w = source_weights(np.array(["synthetic"] * 6 + ["camus"] * 2))
    assert np.allclose(w, [1 / 12] * 6 + [1 / 4] * 2)
    assert np.isclose(w[:6].sum(), 0.5) and np.isclose(w[6:].sum(), 0.5)


def test_a_model_overrides_augmentation_key_by_key():
    from cardiolens.segment.stage import model_config

    seg = {"train": {"epochs": 8, "augment": {"prob": 0.5, "zoom": 0.1}}, "keep_largest": True,
           "models": {"echo": {"modality": "US", "train": {"epochs": 3, "augment": {"zoom": 0.3}}}}}
    m = model_config(seg, "echo")
    assert m["train"]["epochs"] == 3 and m["train"]["augment"] == {"prob": 0.5, "zoom": 0.3}


def test_normalise_scales_each_frame_between_its_percentiles():
    frames = np.stack([np.linspace(0, 100, 10000).reshape(100, 100), np.full((100, 100), 7.0)])
    out = G.normalise(frames)
    assert out[0].min() == 0.0 and out[0].max() == 1.0
    assert abs(float(np.median(out[0])) - 0.5) < 0.01
    assert (out[1] == 0).all()  # a constant frame does not divide by zero


def test_classes_merge_septum_into_myocardium_and_drop_other_structures():
    codes = SL.class_codes(["lv_cavity", "myocardium", "left_atrium"])
    mask = np.array([[L.BACKGROUND, L.LV_CAVITY, L.MYOCARDIUM, L.SEPTUM, L.RV_CAVITY, L.LEFT_ATRIUM, L.RIGHT_ATRIUM]], np.uint8)
    ch = SL.to_channels(mask, codes)
    assert ch.tolist() == [[0, 1, 2, 2, 0, 3, 0]]
    assert SL.to_codes(ch, codes).tolist() == [[0, L.LV_CAVITY, L.MYOCARDIUM, L.MYOCARDIUM, 0, L.LEFT_ATRIUM, 0]]
    with pytest.raises(ValueError, match="septum"):
        SL.class_codes(["septum"])


def test_a_source_without_a_structure_is_named():
    codes = SL.class_codes(["rv_cavity", "myocardium", "lv_cavity"])
    sunnybrook_like = np.full((2, 1, 8, 8), L.UNLABELLED, np.uint8)
    sunnybrook_like[0, 0] = L.BACKGROUND
    sunnybrook_like[0, 0, 2:4, 2:4] = L.LV_CAVITY
    sunnybrook_like[0, 0, 1, 1:5] = L.MYOCARDIUM
    assert SL.has_every_class(sunnybrook_like, codes) == ["rv_cavity"]


def test_annotated_frames_and_their_choice():
    mask = np.zeros((5, 4, 4), np.uint8)
    mask[[1, 3]] = L.UNLABELLED
    assert SL.annotated_frames(mask).tolist() == [True, False, True, False, True]
    annotated = np.ones(20, bool)
    assert pick_frames(annotated, 4, (7, 13)) == [0, 7, 13, 19]
    assert pick_frames(np.array([False, True, False, True]), 4) == [1, 3]


def test_dice_and_hd95_by_hand():
    ref = np.zeros((20, 20), np.uint8)
    ref[5:15, 5:15] = L.LV_CAVITY                  # 100 px
    pred = np.zeros_like(ref)
    pred[5:15, 7:17] = L.LV_CAVITY                 # shifted 2 columns: overlap 80 px
    rows = {r["structure"]: r for r in E.frame_metrics(pred, ref, [L.LV_CAVITY, L.MYOCARDIUM], (1.0, 0.5))}
    assert rows["lv_cavity"]["dice"] == pytest.approx(2 * 80 / 200)
    # every border point moves at most 2 columns = 1.0 mm at 0.5 mm per column
    assert rows["lv_cavity"]["hd95_mm"] == pytest.approx(1.0)
    assert np.isnan(rows["myocardium"]["dice"])    # in neither mask: no Dice


def test_summary_averages_frames_within_a_patient_first():
    m = pd.DataFrame({"model": "m", "phase": "ED", "structure": "lv_cavity", "patient_key": ["a", "a", "a", "b"],
                      "recording_id": ["r", "r", "r", "s"], "frame": [0, 1, 2, 0], "dice": [0.9, 0.9, 0.9, 0.5],
                      "hd95_mm": [1.0, 1.0, 1.0, 3.0], "ref_pixels": 100, "pred_pixels": 100})
    s = E.summarise(m).iloc[0]
    assert s["patients"] == 2 and s["frames"] == 4
    assert s["dice_mean"] == pytest.approx(0.7)    # (0.9 + 0.5) / 2, not the frame mean 0.8
    assert s["hd95_mean_mm"] == pytest.approx(2.0)


def test_largest_component_keeps_the_biggest_blob_of_each_class():
    from cardiolens.segment.infer import largest_components

    frame = np.zeros((1, 10, 10), np.uint8)
    frame[0, 1:4, 1:4] = 1   # 9 px
    frame[0, 7:9, 7:9] = 1   # 4 px: dropped
    frame[0, 6, 1] = 2       # a single class-2 pixel is its own largest component
    out = largest_components(frame, 2)
    assert (out[0, 7:9, 7:9] == 0).all() and (out[0, 1:4, 1:4] == 1).all() and out[0, 6, 1] == 2


def test_unet_is_seeded_the_same_on_every_build():
    from cardiolens.segment.module import make_unet

    torch.manual_seed(3)
    a = make_unet(3, [8, 16, 32], 1)
    torch.manual_seed(3)
    b = make_unet(3, [8, 16, 32], 1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert a(torch.zeros(2, 1, 32, 32)).shape == (2, 4, 32, 32)


@pytest.mark.parametrize("accelerator", [
    "cpu",
    pytest.param("gpu", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none)")),
])
def test_training_learns_discs_and_the_prediction_returns_to_the_source_grid(tmp_path, accelerator):
    """A tiny U-Net learns dark discs (LV) in bright rings (myocardium) on noise; predicted on a frame
    of another size and spacing, the disc comes back where it is (Dice > 0.8). On a GPU too (the
    training loss once gathered a CPU tensor with the GPU loss there)."""
    from cardiolens.segment.infer import segment_volume
    from cardiolens.segment.train import train_model

    rng = np.random.default_rng(0)

    def phantom(n, shape, centre, r, wall=4):
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        d = np.hypot(yy - centre[0], xx - centre[1])
        lab = np.where(d <= r, 1, np.where(d <= r + wall, 2, 0)).astype(np.uint8)
        img = np.where(lab == 1, 0.2, np.where(lab == 2, 0.9, 0.4)) + rng.normal(0, 0.08, (n, *shape))
        return img.astype(np.float32), np.broadcast_to(lab, (n, *shape)).copy()

    imgs, labs = [], []
    for k in range(24):
        i, lab = phantom(1, (32, 32), (10 + k % 12, 10 + (k * 5) % 12), 5 + k % 4)
        imgs.append(G.normalise(i)[0])
        labs.append(lab[0])
    images, labels = np.stack(imgs), np.stack(labs)
    roles = np.array(["train"] * 20 + ["val"] * 4)
    cfg = {"epochs": 25, "batch_size": 8, "lr": 0.01, "weight_decay": 0.0, "channels": [8, 16, 32], "num_res_units": 1,
           "augment": {"prob": 0.0, "rotation_deg": 0.0, "zoom": 0.0, "shift_px": 0.0, "noise": 0.0},
           "accelerator": accelerator}
    net, history = train_model(images, labels, roles, 2, cfg, 0, tmp_path)
    assert set(history["metric"]) >= {"loss", "dice"}
    # the same anatomy at twice the resolution, on a larger frame: 80 x 64 px at 0.75 mm -> 40 x 32 on
    # the 1.5 mm grid, centre-cropped to 32 x 32; predictions go back to 80 x 64
    image, lab = phantom(2, (80, 64), (38, 34), 14, 8)
    masks, _ = segment_volume([net], image[:, None], (0.75, 0.75), SL.class_codes(["lv_cavity", "myocardium"]),
                              (32, 32), 1.5)
    assert masks.shape == (2, 1, 80, 64)
    lv_pred, lv_ref = masks[0, 0] == L.LV_CAVITY, lab[0] == 1
    assert 2 * (lv_pred & lv_ref).sum() / (lv_pred.sum() + lv_ref.sum()) > 0.8


def test_augmenting_workers_draw_their_own_augmentations_reproducibly():
    """segment.train.num_workers 2: two workers, each with its own random state (a plain torch
    loader would copy one state into both and repeat every augmentation), and the same seed and
    worker count give the same batches again."""
    from cardiolens.segment.train import _Frames, _train_loader, _transforms

    images = np.broadcast_to(np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32), (8, 32, 32)).copy()
    labels = np.zeros((8, 32, 32), np.uint8)
    augment = {"prob": 1.0, "rotation_deg": 0.0, "zoom": 0.0, "shift_px": 0.0, "noise": 0.1}

    def batches(seed):
        loader = _train_loader(_Frames(images, labels, _transforms(augment, seed)), 1, seed, 2)
        return [x[0, 0].numpy() for x, _ in loader]   # batch i comes from worker i % 2

    first = batches(3)
    noise = [b - images[0] for b in first]   # every frame is the same ramp: what differs is the noise drawn
    assert not np.allclose(noise[0], noise[1])  # workers 0 and 1, first batch of each
    assert all(np.array_equal(a, b) for a, b in zip(first, batches(3)))
    assert not np.array_equal(first[0], batches(4)[0])


@pytest.mark.parametrize("workers", [0, 2])
def test_balanced_loader_draws_every_source_equally_often(workers):
    """6 frames of one source and 2 of another (each frame's value its index): with source weights
    each epoch draws 8 frames with replacement, half of them from the small source on average
    (binomial, 400 draws: sd 10), reproducibly for a seed."""
    from cardiolens.segment.train import _Frames, _train_loader, source_weights

    images = np.stack([np.full((8, 8), i, np.float32) for i in range(8)])
    weights = source_weights(np.array(["synthetic"] * 6 + ["camus"] * 2))

    def drawn(seed):
        loader = _train_loader(_Frames(images, np.zeros((8, 8, 8), np.uint8)), 4, seed, workers, weights)
        return np.concatenate([x[:, 0, 0, 0].numpy() for _ in range(50) for x, _ in loader]).astype(int)

    first = drawn(5)
    assert len(first) == 400 and 170 <= (first >= 6).sum() <= 230   # unweighted: 100 expected
    assert np.array_equal(first, drawn(5))


def test_predicted_masks_need_kfold():
    from cardiolens.config_check import segment_problems

    assert segment_problems({"segment": {"masks": "predicted", "split": {"scheme": "holdout"}}})
    assert not segment_problems({"segment": {"masks": "predicted", "split": {"scheme": "kfold"}}})
    assert not segment_problems({"segment": {"masks": "expert", "split": {"scheme": "holdout"}}})


def test_volume_dice_pools_the_slices_of_a_stack():
    # slice 0: ref 100 px, pred 100 px, Dice 0.8 (overlap 80); slice 1: ref 10, pred 0 (Dice 0)
    m = pd.DataFrame({"model": "m", "patient_key": "a", "recording_id": "r", "frame": 0, "phase": "ED",
                      "structure": "lv_cavity", "slice": [0, 1], "dice": [0.8, 0.0], "hd95_mm": [1.0, np.nan],
                      "ref_pixels": [100, 10], "pred_pixels": [100, 0]})
    v = E.volume_dice(m)
    assert len(v) == 1 and v["dice_volume"].iloc[0] == pytest.approx(2 * 80 / 210)
    assert E.summarise(m)["dice_volume_mean"].iloc[0] == pytest.approx(2 * 80 / 210)   # per-slice mean is 0.4


def test_poly_learning_rate_follows_nnunet_schedule_and_constant_stays():
    # lr (1 - e / E)^0.9 with lr 0.002, E 4: 0.002, 0.002 * 0.75^0.9 = 0.0015438, 0.002 * 0.5^0.9 = 0.0010718, 0.002 * 0.25^0.9 = 0.00057435
    from cardiolens.segment.module import SegSystem, make_unet

    net = make_unet(2, [4, 8], 0)
    poly = SegSystem(net, 3, lr=0.002, lr_schedule="poly", epochs=4).configure_optimizers()
    opt, sched = poly["optimizer"], poly["lr_scheduler"]["scheduler"]
    assert poly["lr_scheduler"]["interval"] == "epoch"
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.002, 0.0015438, 0.0010718, 0.00057435], rel=1e-4)
    assert isinstance(SegSystem(net, 3, lr=0.002).configure_optimizers(), torch.optim.Adam)
    with pytest.raises(ValueError, match="lr_schedule"):
        SegSystem(net, 3, lr_schedule="cosine").configure_optimizers()


def test_model_train_overrides_are_checked_against_segment_train():
    from cardiolens.config import config_problems

    def problems(train):
        cfg = {"segment": {"models": {"cmr_sax": {"modality": "MR", "views": ["SAX"], "classes": ["lv_cavity"],
                                                  "train": train}}}}
        return config_problems(cfg)[1]

    assert problems({"epochs": 50, "augment": {"zoom": 0.2}}) == []
    # a misspelt key was merged into the model's settings and never read
    assert problems({"epoch": 50}) == ["config key 'segment.models.cmr_sax.train.epoch': unknown key (did you mean "
                                       "'epochs'?); allowed keys: " + str(sorted(
                                           config_problems({})[0]["segment"]["train"]))]
    [line] = problems({"augment": {"zooom": 0.2}})
    assert line.startswith("config key 'segment.models.cmr_sax.train.augment.zooom': unknown key (did you mean 'zoom'?)")
    [line] = problems({"epochs": "5"})
    assert line.startswith("config key 'segment.models.cmr_sax.train.epochs': '5' is not of type 'integer'")
    [line] = problems({"epochs": 0})
    assert "segment.models.cmr_sax.train.epochs" in line and "minimum" in line
    # no default is filled into the override: an absent key keeps segment.train's value
    filled, _ = config_problems({"segment": {"train": {"epochs": 40}, "models": {
        "cmr_sax": {"modality": "MR", "views": ["SAX"], "classes": ["lv_cavity"], "train": {"batch_size": 4}}}}})
    assert filled["segment"]["models"]["cmr_sax"]["train"] == {"batch_size": 4}


def test_recordings_that_need_masks_with_no_model_to_make_them_are_a_warning(tiny_ingest, tmp_path, caplog):
    """An export without any annotated recording of a kind (cohort.source: inputs, DICOM only):
    nothing trains the model, so its recordings stay without masks, and every study that needs
    anatomy will find none; the user must act, so it is a warning that says how."""
    import logging

    from cardiolens.config import validate_config
    from cardiolens.segment.stage import run_apply, segment_slice
    from cardiolens.tables import write_table
    from cardiolens.tables.registry import RECORDINGS

    _, res, _ = tiny_ingest
    recordings = res.recordings.copy()
    us = recordings["modality"] == "US"
    recordings.loc[us, "mask_path"] = None
    recordings.loc[us, "mask_source"] = None
    path = tmp_path / "recordings.parquet"
    write_table(recordings.reindex(columns=RECORDINGS.names), path, RECORDINGS, {})
    cslice = segment_slice(validate_config({}))
    dirs = {name: str(tmp_path / "models" / name) for name in cslice["models"]}   # none trained
    with caplog.at_level(logging.WARNING, logger="cardiolens"):
        run_apply(str(path), cslice, dirs, str(tmp_path / "out"))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(line.startswith(f"segment echo_apical: {int(us.sum())} recordings need masks but no model was trained")
               and "cohort.source: synthetic" in line for line in lines), lines
