"""Patient-level splits: properties on random cohorts, the leakage audit, the balance report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardiolens.split.audit import LeakageError, leakage_table, normalisation_check, raise_on_leakage
from cardiolens.split.balance import balance_table
from cardiolens.split.stage import normalisation, split_patients, write_normalisation


@st.composite
def cohorts(draw, min_size=4, max_size=80):
    n = draw(st.integers(min_size, max_size))
    labels = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    sexes = draw(st.lists(st.sampled_from(["F", "M"]), min_size=n, max_size=n))
    return pd.DataFrame({"patient_key": [f"P{i:04d}" for i in range(n)], "label": labels, "sex": sexes,
                         "age": [40.0 + i % 40 for i in range(n)], "source": "s", "predefined": None})


CFG = {"stratify_by": [], "age_bins": [50, 65], "val_fraction": 0.2}


def _within_one(counts: dict, shares: dict, n: int) -> bool:
    return all(abs(counts.get(b, 0) - shares[b] * n) < 1 + 1e-9 for b in shares)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohorts(), st.integers(2, 6), st.integers(0, 10**6))
def test_kfold_properties(patients, k, seed):
    cfg = {**CFG, "scheme": "kfold", "k": k}
    if k > len(patients):
        with pytest.raises(ValueError, match=f"needs at least {k} patients"):
            split_patients(patients, cfg, seed)
        return
    splits = split_patients(patients, cfg, seed)
    # one role per patient and fold; every patient tested exactly once
    assert not splits.duplicated(["patient_key", "fold"]).any()
    assert (splits.groupby("patient_key")["fold"].nunique() == k).all()
    assert (splits[splits["role"] == "test"].groupby("patient_key").size() == 1).all()
    # per stratum, each fold's test count within one patient of n_stratum / k
    test = splits[splits["role"] == "test"].merge(patients, on="patient_key")
    for label, group in patients.groupby("label"):
        counts = test[test["label"] == label].groupby("fold").size().to_dict()
        assert _within_one(counts, {f: 1 / k for f in range(k)}, len(group))
    # same seed, same split
    assert split_patients(patients, cfg, seed).equals(splits)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohorts(), st.integers(0, 10**6))
def test_holdout_properties(patients, seed):
    cfg = {**CFG, "scheme": "holdout", "test_fraction": 0.2}
    splits = split_patients(patients, cfg, seed)
    assert splits["patient_key"].is_unique and set(splits["fold"]) == {0}
    merged = splits.merge(patients, on="patient_key")
    shares = {"train": 0.8 * 0.8, "val": 0.8 * 0.2, "test": 0.2}
    for label, group in merged.groupby("label"):
        assert _within_one(group["role"].value_counts().to_dict(), shares, len(group))
    assert split_patients(patients, cfg, seed).equals(splits)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohorts(max_size=60), cohorts(min_size=1, max_size=30), st.sampled_from(["kfold", "holdout"]), st.integers(0, 10**6))
def test_growth_keeps_existing_assignments(first, extra, scheme, seed):
    extra = extra.assign(patient_key=[f"N{i:04d}" for i in range(len(extra))])
    cfg = {**CFG, "scheme": scheme, "k": 4, "test_fraction": 0.2}
    before = split_patients(first, cfg, seed)
    after = split_patients(pd.concat([first, extra], ignore_index=True), cfg, seed, anchor=before)
    kept = before.merge(after, on=["patient_key", "fold"], suffixes=("_before", "_after"))
    assert len(kept) == len(before) and (kept["role_before"] == kept["role_after"]).all()
    assert set(after["patient_key"]) == set(first["patient_key"]) | set(extra["patient_key"])


@pytest.mark.parametrize(("made_with", "used_with", "says"), [
    ({"scheme": "kfold", "k": 5}, {"scheme": "kfold", "k": 10}, "the anchor holds 5 fold(s), not the 10 folds"),
    ({"scheme": "kfold", "k": 5}, {"scheme": "kfold", "k": 3}, "the anchor holds 5 fold(s), not the 3 folds"),
    ({"scheme": "holdout", "test_fraction": 0.2}, {"scheme": "kfold", "k": 4}, "the anchor holds 1 fold(s), not the 4 folds"),
    ({"scheme": "kfold", "k": 4}, {"scheme": "holdout", "test_fraction": 0.2}, "the anchor holds 4 folds: a holdout split has one"),
    ({"scheme": "holdout", "test_fraction": 0.2}, {"scheme": "predefined"}, "a predefined split takes every role from its column; an anchor would change nothing"),
])
def test_an_anchor_of_other_folds_stops_the_split_instead_of_moving_patients(made_with, used_with, says):
    """An anchor keeps patients in their folds only under the scheme and k it was made with: a
    5-fold anchor under k=10 would leave folds 5-9 to new patients only, under k=3 would move
    every patient of folds 3 and 4; both stop the split with what to do."""
    from cardiolens.split.assign import SplitError

    patients = pd.DataFrame({"patient_key": [f"P{i:03d}" for i in range(30)], "label": ["a", "b", "c"] * 10, "sex": "F",
                             "age": 50.0, "source": "s", "predefined": "train"})
    anchor = split_patients(patients, {**CFG, **made_with}, 1)
    with pytest.raises(SplitError, match=rf"anchor 'old\.parquet': {says.replace('(', '[(]').replace(')', '[)]')}"):
        split_patients(patients, {**CFG, **used_with, "anchor": "old.parquet"}, 1, anchor=anchor)
    assert split_patients(patients, {**CFG, **made_with}, 1, anchor=anchor).equals(anchor)   # its own scheme: nothing moves


def test_covariates_make_joint_strata():
    patients = pd.DataFrame({"patient_key": [f"P{i}" for i in range(40)], "label": ["a", "b"] * 20,
                             "sex": ["F"] * 20 + ["M"] * 20, "age": 50.0, "source": "s", "predefined": None})
    splits = split_patients(patients, {**CFG, "scheme": "kfold", "k": 5, "stratify_by": ["sex"]}, 1)
    test = splits[splits["role"] == "test"].merge(patients, on="patient_key")
    assert (test.groupby(["fold", "label", "sex"]).size() == 2).all()   # 10 per (label, sex) stratum / 5 folds


def test_leakage_audit_names_the_patient_and_roles():
    assigned = pd.DataFrame({
        "patient_key": ["P1", "P1", "P2", "P3"], "fold": [0, 0, 0, 0], "role": ["train", "test", "train", "val"],
        "study_key": ["S1", "S1", "S2", "S3"], "pixel_sha256": ["x1", "x2", "x3", "x3"],
    })
    table = leakage_table("demo", assigned)
    status = dict(zip(table["check"], table["status"]))
    assert status == {"patient_key": "fail", "study_key": "fail", "pixel_content": "fail"}
    with pytest.raises(LeakageError) as err:
        raise_on_leakage(table)
    assert "P1 in test+train" in str(err.value) and "x3 in train+val" in str(err.value)
    clean = leakage_table("demo", assigned.iloc[2:3])
    raise_on_leakage(clean)  # no error


def _sharded_samples(tmp_path):
    """Six 1x2x2 samples of five patients in two shards, and two folds of roles."""
    x = np.arange(24, dtype=np.float32).reshape(6, 1, 2, 2) ** 1.5
    np.save(tmp_path / "a.npy", x[:4])
    np.save(tmp_path / "b.npy", x[4:])
    samples = pd.DataFrame({"sample_id": [f"S{i}" for i in range(6)], "patient_key": ["P0", "P0", "P1", "P2", "P3", "P4"],
                            "array_path": [str(tmp_path / "a.npy")] * 4 + [str(tmp_path / "b.npy")] * 2,
                            "array_index": [0, 1, 2, 3, 0, 1]})
    splits = pd.DataFrame({"patient_key": ["P0", "P1", "P2", "P3", "P4"] * 2, "fold": [0] * 5 + [1] * 5,
                           "role": ["train", "train", "train", "val", "test", "val", "train", "test", "train", "train"]})
    return x, samples, splits


def test_normalisation_audit_recomputes_from_training_samples_and_fails_when_tampered(tmp_path):
    x, samples, splits = _sharded_samples(tmp_path)
    real = normalisation(samples, splits)
    # Fold 0 trains on S0-S3 (P0 twice, P1, P2): mean image and sqrt(mean per-pixel variance) by hand.
    assert real["fold0_mean"] == pytest.approx(x[:4].mean(axis=0), rel=1e-6)
    assert float(real["fold0_sd"]) == pytest.approx(np.sqrt(x[:4].astype(np.float64).var(axis=0).mean()), rel=1e-6)
    write_normalisation(real, tmp_path / "norm.npz")
    with np.load(tmp_path / "norm.npz") as z:
        stored = {k: z[k] for k in z.files}
    ok = normalisation_check(samples, splits, stored)
    assert ok["status"].tolist() == ["pass", "pass"] and ok["n_checked"].tolist() == [4, 3]
    # Statistics over all samples (validation and test included): both arrays of both folds differ.
    tampered = normalisation(samples, splits.assign(role="train"))
    bad = normalisation_check(samples, splits, tampered)
    assert bad["status"].tolist() == ["fail", "fail"] and bad["n_violations"].tolist() == [2, 2]
    assert "fold0_mean differs" in bad["detail"].iloc[0] and "fold0_sd differs" in bad["detail"].iloc[0]
    with pytest.raises(LeakageError, match="normalisation_from_train_only"):
        raise_on_leakage(bad.assign(study="demo"))
    # Another fold's statistics, or a missing array, fail too.
    swapped = {**real, "fold1_mean": real["fold0_mean"]}
    assert normalisation_check(samples, splits, swapped)["status"].tolist() == ["pass", "fail"]
    missing = {k: v for k, v in real.items() if k != "fold1_sd"}
    assert "fold1_sd missing" in normalisation_check(samples, splits, missing)["detail"].iloc[1]


def test_balance_smd_by_hand():
    patients = pd.DataFrame({"patient_key": ["A", "B", "C", "D"], "label": ["x", "x", "y", "y"], "sex": ["F", "M", "F", "F"],
                             "age": [50.0, 60.0, 70.0, 80.0]})
    splits = pd.DataFrame({"patient_key": ["A", "B", "C", "D"], "fold": 0, "role": ["train", "train", "test", "test"]})
    table = balance_table("demo", patients, splits).set_index(["role", "variable", "level"])
    # age: (75 - 55) / sqrt((50 + 50) / 2) = 2.828...
    assert table.loc[("test", "age", "mean"), "smd_vs_train"] == pytest.approx(20 / math.sqrt(50))
    assert table.loc[("train", "age", "mean"), "sd"] == pytest.approx(math.sqrt(50))
    # sex F: test 1.0 vs train 0.5 -> (1 - 0.5) / sqrt((0 + 0.25) / 2)
    assert table.loc[("test", "sex", "F"), "smd_vs_train"] == pytest.approx(0.5 / math.sqrt(0.125))


def test_tiny_cohort_split_is_clean_and_normalises_from_training(tiny_ingest, tmp_path):
    from cardiolens.config import validate_config
    from cardiolens.prepare.run import study_slice
    from cardiolens.prepare.samples import prepare_study
    from cardiolens.split.stage import run_split

    _, res, _ = tiny_ingest
    cfg = validate_config({"studies": {"septal_flash": {"label": "septal_flash", "representation": "mmode",
                                                        "mmode": {"samples": [64, 64], "size": [16, 16], "augment_offsets": 1}}}})
    samples, _ = prepare_study(res.recordings, "septal_flash", study_slice(cfg, "septal_flash"), tmp_path)
    split_cfg = {**cfg["studies"]["septal_flash"]["split"], "scheme": "kfold", "k": 2, "val_fraction": 0.0}
    splits, leakage, balance, arrays = run_split("septal_flash", samples, res.patients, res.recordings, split_cfg, 3)
    assert set(leakage["status"]) == {"pass"} and len(leakage) == 2 * 3  # identifiers; the normalisation is audited as stored
    assert set(normalisation_check(samples, splits, arrays)["status"]) == {"pass"}
    assert arrays["fold0_mean"].shape == (1, 16, 16)
    train = samples.merge(splits[(splits["fold"] == 0) & (splits["role"] == "train")], on="patient_key")
    expected = np.mean([np.load(r.array_path)[r.array_index].astype(np.float64) for r in train.itertuples()], axis=0)
    assert arrays["fold0_mean"] == pytest.approx(expected.astype(np.float32), abs=1e-3)
    assert set(balance["role"]) == {"train", "test"}


def test_a_split_the_study_cannot_give_is_one_message_naming_the_key(tiny_ingest, tmp_path):
    """k larger than the study's patients, or an anchor file that does not exist: an InputError
    naming studies.<study>.split (one line on the terminal), not a traceback."""
    from cardiolens.config import validate_config
    from cardiolens.errors import InputError
    from cardiolens.prepare.run import study_slice
    from cardiolens.prepare.samples import prepare_study
    from cardiolens.split.run import run_study_split
    from cardiolens.tables import write_table
    from cardiolens.tables.registry import PATIENTS, RECORDINGS, SAMPLES

    _, res, _ = tiny_ingest
    cfg = validate_config({"studies": {"septal_flash": {"label": "septal_flash", "representation": "mmode",
                                                        "mmode": {"samples": [64, 64], "size": [16, 16], "augment_offsets": 1}}}})
    samples, _ = prepare_study(res.recordings, "septal_flash", study_slice(cfg, "septal_flash"), tmp_path / "p")
    paths = []
    for name, df, schema in (("samples", samples, SAMPLES), ("patients", res.patients, PATIENTS), ("recordings", res.recordings, RECORDINGS)):
        paths.append(str(tmp_path / f"{name}.parquet"))
        write_table(df.reindex(columns=schema.names), paths[-1], schema, {})
    n = samples["patient_key"].nunique()
    cslice = {"study": "septal_flash", "seed": 3, "split": {**cfg["studies"]["septal_flash"]["split"], "scheme": "kfold", "k": n + 1}}
    with pytest.raises(InputError, match=rf"^config key 'studies\.septal_flash\.split' \(kfold\): k-fold with k={n + 1} "
                                         rf"needs at least {n + 1} patients; the study has {n}$"):
        run_study_split(*paths, cslice, str(tmp_path / "out"))
    cslice["split"] = {**cslice["split"], "k": 2, "anchor": str(tmp_path / "gone.parquet")}
    with pytest.raises(InputError, match=r"^config key 'studies\.septal_flash\.split\.anchor' \(kfold\): file .*gone\.parquet' does not exist"):
        run_study_split(*paths, cslice, str(tmp_path / "out"))
    # a hold-out anchor under an external split: both hold one fold, the anchor's provenance tells them apart
    run_study_split(*paths, {**cslice, "split": {**cslice["split"], "scheme": "holdout", "anchor": None}}, str(tmp_path / "old"))
    cslice["split"] = {**cslice["split"], "scheme": "external", "test_sources": ["synthetic"],
                       "anchor": str(tmp_path / "old" / "splits.parquet")}
    with pytest.raises(InputError, match=r"^config key 'studies\.septal_flash\.split\.anchor' \(external\): it was made with "
                                         r"scheme 'holdout', this split is 'external'; an anchor keeps patients"):
        run_study_split(*paths, cslice, str(tmp_path / "out"))


def test_classes_missing_from_a_training_or_test_role_are_found():
    from cardiolens.split.run import classes_missing_from_roles

    samples = pd.DataFrame({"patient_key": ["a", "a", "b", "c", "d"], "label": ["NOR", "NOR", "DCM", "MINF", "NOR"]})
    splits = pd.DataFrame({"patient_key": ["a", "b", "c", "d", "a", "b", "c", "d"], "fold": [0] * 4 + [1] * 4,
                           "role": ["train", "train", "test", "test", "test", "train", "train", "val"]})
    # fold 0: MINF only in test; DCM only in train. fold 1: NOR only in test (d is val), DCM and MINF only in train.
    assert classes_missing_from_roles(samples, splits) == [
        (0, "test", "DCM"), (0, "train", "MINF"), (1, "test", "DCM"), (1, "test", "MINF"), (1, "train", "NOR")]
    # said: fold 0 and 1 training roles; not said: DCM and MINF absent from some folds' test roles only
    from cardiolens.split.run import missing_class_warnings

    assert missing_class_warnings(classes_missing_from_roles(samples, splits), 2) == [
        ": the training role lacks a class in 2 of 2 folds, which never learn it (fold 0: MINF; fold 1: NOR); more "
        "patients of that class, or fewer folds, would give it one",
        ": no test patient has class DCM in any fold (its held-out metrics leave it out)"]
    # a regression study's label (quality grades) only stratifies its split: nothing is missing
    regression = samples.assign(targets=[[1.0]] * len(samples))
    assert classes_missing_from_roles(regression, splits) == []


def test_predefined_split_maps_dataset_values():
    patients = pd.DataFrame({"patient_key": ["A", "B", "C", "D"], "label": ["x", "y", "x", "y"], "sex": "F", "age": 50.0,
                             "source": "s", "predefined": ["TRAIN", "VAL", "TEST", "training"]})
    splits = split_patients(patients, {**CFG, "scheme": "predefined"}, 0)
    assert dict(zip(splits["patient_key"], splits["role"])) == {"A": "train", "B": "val", "C": "test", "D": "train"}
    with pytest.raises(ValueError, match="no split value"):
        split_patients(patients.assign(predefined=[None, "VAL", "TEST", "TRAIN"]), {**CFG, "scheme": "predefined"}, 0)
    with pytest.raises(ValueError, match="not one of"):
        split_patients(patients.assign(predefined=["TRAIN", "VAL", "HOLDOUT", "TRAIN"]), {**CFG, "scheme": "predefined"}, 0)


def test_single_patient_strata_spread_over_folds():
    patients = pd.DataFrame({"patient_key": ["A", "B", "C"], "label": ["x", "y", "z"], "sex": "F", "age": 50.0,
                             "source": "s", "predefined": None})
    splits = split_patients(patients, {**CFG, "scheme": "kfold", "k": 3}, 0)
    assert sorted(splits[splits["role"] == "test"]["fold"]) == [0, 1, 2]


def test_patient_label_of_a_regression_study_is_the_most_frequent_one():
    from cardiolens.split.stage import patient_table

    samples = pd.DataFrame({
        "patient_key": ["A", "A", "A", "B", "B"], "recording_id": ["r1", "r2", "r3", "r4", "r5"],
        "label": ["Poor", "Good", "Good", "Medium", "Good"], "targets": [[1.0], [3.0], [3.0], [2.0], [3.0]],
    })
    patients = pd.DataFrame({"patient_key": ["A", "B"], "sex": ["F", "M"], "age": [50, 60], "source": ["s", "s"]})
    recordings = pd.DataFrame({"recording_id": [f"r{i}" for i in range(1, 6)], "split": [None] * 5})
    table = patient_table(samples, patients, recordings)
    assert table["label"].tolist() == ["Good", "Good"]  # A: 2 x Good; B: a tie, first in sorted order
    with pytest.raises(ValueError, match="several values of the label"):
        patient_table(samples.assign(targets=None), patients, recordings)  # classification: refused
