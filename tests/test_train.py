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


def test_a_fold_without_validation_patients_never_selects_on_its_test_patients(fold_inputs, tmp_path, caplog):
    """val_fraction 0: the checkpoint is chosen on the training patients, unaugmented, and the
    user is warned; the test patients' samples never reach the monitored loader."""
    import logging

    from cardiolens.train.data import SplitDataModule

    samples, splits, norm = fold_inputs
    assert not (splits["role"] == "val").any()
    dm = SplitDataModule(samples, splits, norm, 0, ["flash", "none"], 4, TRAIN["augment"], 1, ["original"])
    dm.setup()
    assert dm.monitor_role == "train" and dm.datasets["monitor"].transform is None
    monitored = set(dm.datasets["monitor"].rows["sample_id"])
    assert monitored == set(dm.roles["train"]["sample_id"]) and not monitored & set(dm.roles["test"]["sample_id"])
    assert len(dm.val_dataloader().dataset) == len(dm.roles["train"])
    caplog.set_level(logging.INFO)
    train_fold(samples, splits, norm, 0, {**TRAIN, "epochs": 1}, tmp_path, seed=1)
    assert any("fold 0 has no validation patients" in r.getMessage() for r in caplog.records)


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


def test_a_changed_configuration_never_resumes_another_runs_checkpoint(fold_inputs, tmp_path, caplog):
    """Rerunning a fold after a parameter change (Snakemake reruns the job when its train slice
    changes) trains from scratch: the result equals a fresh run with the new settings, not the old
    model continued. A checkpoint past the configured epochs is discarded, and so is one in the
    same folder under other inputs (resume_context)."""
    samples, splits, norm = fold_inputs
    changed = {**TRAIN, "lr": 3e-3}
    _, fresh = train_fold(samples, splits, norm, 0, changed, tmp_path / "fresh", seed=7)
    _, old = train_fold(samples, splits, norm, 0, TRAIN, tmp_path / "rerun", seed=7)
    with caplog.at_level("WARNING", logger="cardiolens.train.resume"):
        _, rerun = train_fold(samples, splits, norm, 0, changed, tmp_path / "rerun", seed=7)
    assert "another training configuration" in caplog.text
    pd.testing.assert_frame_equal(fresh, rerun)
    assert not np.allclose(old["p_flash"], rerun["p_flash"])  # the change mattered, so the check can fail
    # fewer epochs than the checkpoint has done: a fresh 1-epoch run, not the 2-epoch model
    _, one = train_fold(samples, splits, norm, 0, {**changed, "epochs": 1}, tmp_path / "one", seed=7)
    caplog.clear()
    with caplog.at_level("WARNING", logger="cardiolens.train.resume"):
        history, fewer = train_fold(samples, splits, norm, 0, {**changed, "epochs": 1}, tmp_path / "rerun", seed=7)
    assert "2 epochs done, more than the 1 configured" in caplog.text and set(history["epoch"]) == {0}
    pd.testing.assert_frame_equal(one, fewer)
    caplog.clear()
    with caplog.at_level("WARNING", logger="cardiolens.train.resume"):
        train_fold(samples, splits, norm, 0, {**changed, "epochs": 1}, tmp_path / "rerun", seed=7, resume_context={"inputs": ["other"]})
    assert "another training configuration, input or code" in caplog.text


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


def test_fold_tables_and_patient_level_merge(fold_inputs, tmp_path):
    from cardiolens.split.stage import write_normalisation
    from cardiolens.tables import read_provenance, write_table
    from cardiolens.tables.registry import HISTORY, SAMPLES, SPLITS, predictions_schema
    from cardiolens.train.stage import merge, run_fold

    samples, splits, norm = fold_inputs
    write_table(samples.reindex(columns=SAMPLES.names), tmp_path / "samples.parquet", SAMPLES, {})
    write_table(splits.assign(study="septal_flash").reindex(columns=SPLITS.names), tmp_path / "splits.parquet", SPLITS, {})
    write_normalisation(norm, tmp_path / "norm.npz")
    cslice = {"study": "septal_flash", "seed": 2, "train": {**TRAIN, "epochs": 1}}
    for fold in (0, 1):
        run_fold(str(tmp_path / "samples.parquet"), str(tmp_path / "splits.parquet"), str(tmp_path / "norm.npz"), cslice,
                 fold, str(tmp_path / f"fold{fold}"))
    merge([str(tmp_path / "fold0"), str(tmp_path / "fold1")], str(tmp_path / "merged"), cslice)
    from cardiolens.tables import read_table

    schema = predictions_schema(["flash", "none"])
    preds = read_table(tmp_path / "merged" / "predictions.parquet", schema)
    patients = read_table(tmp_path / "merged" / "patient_predictions.parquet", predictions_schema(["flash", "none"], "patient"))
    read_table(tmp_path / "merged" / "history.parquet", HISTORY)
    # every patient is predicted once as a test patient across the two folds
    test = patients[patients["role"] == "test"]
    assert test["patient_key"].is_unique and set(test["patient_key"]) == set(samples["patient_key"])
    one = test.iloc[0]
    mine = preds[(preds["patient_key"] == one["patient_key"]) & (preds["fold"] == one["fold"]) & (preds["role"] == "test")]
    assert one["p_flash"] == pytest.approx(mine["p_flash"].mean())
    assert len(preds["checkpoint_sha256"].iloc[0]) == 64
    assert read_provenance(tmp_path / "fold0" / "predictions.parquet")["rule"] == "train_fold"


def test_configured_pretrained_weights_are_loaded(tmp_path):
    import torch

    from cardiolens.train.run import make_network

    cfg = {**TRAIN}
    src = make_network(cfg, (1, 16, 16), 2, "mmode")
    torch.save(src.state_dict(), tmp_path / "w.pt")
    net = make_network({**cfg, "pretrained": str(tmp_path / "w.pt")}, (1, 16, 16), 2, "mmode")
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), net.state_dict().values()))
    with pytest.raises(FileNotFoundError, match="not found"):
        make_network({**cfg, "pretrained": str(tmp_path / "nope.pt")}, (1, 16, 16), 2, "mmode")


def test_early_stopping_ends_training_before_max_epochs(fold_inputs, tmp_path):
    samples, splits, norm = fold_inputs
    # lr 0: the monitored metric cannot improve, so patience 1 stops after the second epoch.
    history, _ = train_fold(samples, splits, norm, 0, {**TRAIN, "epochs": 6, "lr": 1e-12, "patience": 1}, tmp_path, seed=1)
    assert history["epoch"].max() < 5


def test_history_holds_train_and_validation_metrics_of_the_same_epoch(fold_inputs, tmp_path):
    samples, splits, norm = fold_inputs
    history, _ = train_fold(samples, splits, norm, 0, TRAIN, tmp_path, seed=1)
    got = set(map(tuple, history[["epoch", "stage", "metric"]].to_numpy().tolist()))
    assert got == {(e, s, m) for e in (0, 1) for s in ("train", "val") for m in ("loss", "acc", "auroc")}
    assert history.groupby(["epoch", "stage", "metric"]).size().max() == 1
    assert history[(history["stage"] == "val") & (history["metric"] == "auroc")]["value"].between(0, 1).all()


def test_hardware_arguments_follow_the_configuration():
    import torch

    from cardiolens.train.run import trainer_kwargs
    from cardiolens.train.stage import gpus_requested

    auto = trainer_kwargs({"accelerator": "auto"})
    assert auto["accelerator"] == ("gpu" if torch.cuda.is_available() else "cpu")
    gpu = trainer_kwargs({"accelerator": "gpu", "devices": 2, "precision": "16-mixed", "strategy": "ddp"})
    assert gpu == {"accelerator": "gpu", "devices": 2, "precision": "16-mixed", "strategy": "ddp", "deterministic": "warn"}
    assert trainer_kwargs({"accelerator": "cpu"})["deterministic"] is True
    assert gpus_requested({"accelerator": "gpu", "devices": 2}) == 2
    assert gpus_requested({"accelerator": "auto", "devices": 2}) == 0 and gpus_requested({"accelerator": "cpu"}) == 0


def test_regression_of_regional_quality_grades(tiny_ingest, tmp_path):
    """Study 4: one output per myocardial region, targets read from the ground truth in the study's order."""
    import json

    from cardiolens.tables import read_table, write_table
    from cardiolens.tables.registry import HISTORY, SAMPLES, SPLITS, regression_predictions_schema
    from cardiolens.split.stage import write_normalisation
    from cardiolens.train.stage import merge, run_fold

    _, res, _ = tiny_ingest
    regions = ["basal_inferoseptal", "apical_lateral", "mid_anterolateral"]
    cfg = validate_config({"studies": {"regional_quality": {"frames": {"pixel_mm": 4.0, "crop_px": 24}, "targets": regions}}})
    samples, skipped = prepare_study(res.recordings, "regional_quality", study_slice(cfg, "regional_quality"), tmp_path / "p")
    echo = res.recordings[res.recordings["modality"] == "US"]
    assert len(samples) == len(echo) and skipped.empty
    one = samples.iloc[0]
    truth = json.loads(open(echo.set_index("recording_id").loc[one["recording_id"], "truth_path"]).read())
    assert list(one["targets"]) == [float(truth["quality"][r]) for r in regions]
    split_cfg = {**cfg["studies"]["regional_quality"]["split"], "scheme": "kfold", "k": 2, "val_fraction": 0.4}
    splits, _, _, norm = run_split("regional_quality", samples, res.patients, res.recordings, split_cfg, 3)
    assert {0, 1} == set(splits.loc[splits["role"] == "val", "fold"])  # each fold monitors validation patients
    write_table(samples.reindex(columns=SAMPLES.names), tmp_path / "samples.parquet", SAMPLES, {})
    write_table(splits.assign(study="regional_quality").reindex(columns=SPLITS.names), tmp_path / "splits.parquet", SPLITS, {})
    write_normalisation(norm, tmp_path / "norm.npz")
    train = {**cfg["studies"]["regional_quality"]["train"], "epochs": 2,
             "network_params": {"init_features": 8, "growth_rate": 8, "block_config": [2, 2]}}
    cslice = {"study": "regional_quality", "seed": 2, "train": train, "targets": regions}
    for fold in (0, 1):
        run_fold(str(tmp_path / "samples.parquet"), str(tmp_path / "splits.parquet"), str(tmp_path / "norm.npz"), cslice,
                 fold, str(tmp_path / f"fold{fold}"))
    merge([str(tmp_path / "fold0"), str(tmp_path / "fold1")], str(tmp_path / "merged"), cslice)
    preds = read_table(tmp_path / "merged" / "predictions.parquet", regression_predictions_schema(regions))
    history = read_table(tmp_path / "merged" / "history.parquet", HISTORY)
    assert set(history["metric"]) == {"loss", "mse", "mae"}
    assert set(preds.loc[preds["role"] == "test", "patient_key"]) == set(samples["patient_key"])
    by_id = samples.set_index("sample_id")["targets"]
    for _, row in preds.iterrows():
        assert [row[f"true_{r}"] for r in regions] == list(by_id[row["sample_id"]])
    # the logged validation MSE of the best epoch is the MSE of its written validation predictions
    fold0 = preds[(preds["fold"] == 0) & (preds["role"] == "val")]
    mse = np.mean((fold0[[f"pred_{r}" for r in regions]].to_numpy() - fold0[[f"true_{r}" for r in regions]].to_numpy()) ** 2)
    val = history[(history["fold"] == 0) & (history["stage"] == "val") & (history["metric"] == "mse")]["value"]
    assert mse == pytest.approx(val.min(), rel=1e-4)
    patients = read_table(tmp_path / "merged" / "patient_predictions.parquet", regression_predictions_schema(regions, "patient"))
    assert (patients["role"] == "test").sum() == samples["patient_key"].nunique()


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA GPU on this machine (CI has none)")
def test_a_fold_trains_on_the_gpu_with_mixed_precision(fold_inputs, tmp_path):
    samples, splits, norm = fold_inputs
    cfg = {**TRAIN, "accelerator": "gpu", "devices": 1, "precision": "16-mixed"}
    history, preds = train_fold(samples, splits, norm, 0, cfg, tmp_path, seed=1)
    assert set(history["epoch"]) == {0, 1}
    probs = preds[["p_flash", "p_none"]].to_numpy()
    assert np.isfinite(probs).all() and np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)


def test_augmented_items_depend_on_seed_epoch_and_index_only(fold_inputs):
    """The draws of every transform (contrast and the affine grid) follow (seed, epoch, item), not
    the order items were read in: what makes a resumed run equal an uninterrupted one."""
    import torch

    from cardiolens.train.data import SampleDataset, build_augment

    samples, _, _ = fold_inputs
    rows = samples[samples["variant"] == "original"].head(6)
    cfg = {"contrast": [0.5, 2.0], "rotation_deg": 20.0, "zoom": 0.15, "shift": 0.15}

    def items(order, epoch):
        ds = SampleDataset(rows, ["flash", "none"], transform=build_augment(cfg, (16, 16), 0), seed=3)
        ds.epoch = epoch
        return {i: ds[i][0] for i in order}

    forward, backward = items(range(6), 1), items(reversed(range(6)), 1)
    assert all(torch.equal(forward[i], backward[i]) for i in range(6))
    other_epoch = items(range(6), 2)
    assert not any(torch.equal(forward[i], other_epoch[i]) for i in range(6))
    plain = SampleDataset(rows, ["flash", "none"])
    assert not torch.equal(forward[0], plain[0][0])  # the transforms did change the sample


def test_last_checkpoint_is_the_last_epoch_even_when_the_best_is_earlier(fold_inputs, tmp_path):
    import torch

    samples, splits, norm = fold_inputs
    # lr ~0: the monitored metric never improves after epoch 0, so best.ckpt stays at epoch 0
    train_fold(samples, splits, norm, 0, {**TRAIN, "epochs": 3, "lr": 1e-12}, tmp_path, seed=1)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    best = torch.load(tmp_path / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 2 and best["epoch"] == 0
    assert sorted({r["epoch"] for r in last["cardiolens_history"]}) == [0, 1, 2]
