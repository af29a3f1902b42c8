"""Training one fold: runs, is deterministic on CPU, and resumes a killed run to the same result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiolens.config import validate_config
from cardiolens.prepare.run import study_slice
from cardiolens.prepare.samples import prepare_study
from cardiolens.split.stage import run_split
from cardiolens.train.run import train_fold

TRAIN = {"network": "densenet", "network_params": {"init_features": 8, "growth_rate": 8, "block_config": [2, 2]},
         "batch_size": 4, "lr": 1e-3, "optimizer": "adam", "monitor": "val/auroc", "epochs": 2,
         "augment": {"contrast": [0.5, 2.0]}, "variants": ["original"]}


@pytest.fixture(scope="module")
def fold_inputs(tiny_ingest, tmp_path_factory):
    _, res, _ = tiny_ingest
    cfg = validate_config({"studies": {"septal_flash": {"label": "septal_flash", "representation": "mmode",
                                                        "mmode": {"samples": [48, 48], "size": [16, 16], "augment_offsets": 1}}}})
    samples, _ = prepare_study(res.recordings, "septal_flash", study_slice(cfg, "septal_flash"), tmp_path_factory.mktemp("p"))
    split_cfg = {**cfg["studies"]["septal_flash"]["split"], "scheme": "kfold", "k": 2, "val_fraction": 0.0}
    splits, _, _, norm = run_split("septal_flash", samples, res.patients, res.recordings, split_cfg, 3)
    return samples, splits, norm


def test_a_fold_trains_and_predicts_held_out_patients(fold_inputs, tmp_path):
    samples, splits, norm = fold_inputs
    history, preds = train_fold(samples, splits, norm, 0, TRAIN, tmp_path, seed=1)
    assert set(history["epoch"]) == {0, 1} and {"loss", "auroc", "acc"} <= set(history["metric"])
    test_patients = set(splits[(splits["fold"] == 0) & (splits["role"] == "test")]["patient_key"])
    train_patients = set(splits[(splits["fold"] == 0) & (splits["role"] == "train")]["patient_key"])
    assert set(preds["patient_key"]) == test_patients and not test_patients & train_patients
    probs = preds[["p_flash", "p_none"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()


def test_same_seed_same_predictions(fold_inputs, tmp_path):
    samples, splits, norm = fold_inputs
    _, a = train_fold(samples, splits, norm, 0, TRAIN, tmp_path / "a", seed=5)
    _, b = train_fold(samples, splits, norm, 0, TRAIN, tmp_path / "b", seed=5)
    pd.testing.assert_frame_equal(a, b)


def test_a_killed_run_resumes_to_the_uninterrupted_result(fold_inputs, tmp_path):
    samples, splits, norm = fold_inputs
    _, whole = train_fold(samples, splits, norm, 0, TRAIN, tmp_path / "whole", seed=7)
    train_fold(samples, splits, norm, 0, {**TRAIN, "epochs": 1}, tmp_path / "killed", seed=7)  # stopped after epoch 1
    history, resumed = train_fold(samples, splits, norm, 0, TRAIN, tmp_path / "killed", seed=7)
    pd.testing.assert_frame_equal(whole, resumed)
    assert set(history["epoch"]) == {0, 1}


def test_epoch_sampler_orders_depend_on_seed_and_epoch_only():
    from cardiolens.train.data import EpochSampler

    class Dummy:
        epoch = 0

        def __len__(self):
            return 20

    ds = Dummy()
    s = EpochSampler(ds, seed=3)
    s.set_epoch(0)
    first = list(s)
    s.set_epoch(1)
    second = list(s)
    assert sorted(first) == list(range(20)) and first != second and ds.epoch == 1
    again = EpochSampler(Dummy(), seed=3)
    again.set_epoch(1)
    assert list(again) == second
