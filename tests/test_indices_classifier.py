"""The indices stage (one row per patient from the recordings) and the classifier on the indices
with its per-patient explanations: hand-made tables with an obvious rule, hand-computed ablations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiolens.attribute.feature_ablation import ablation, explanation_line, format_value
from cardiolens.tables.registry import INDICES, INDICES_DIAGNOSES, INDICES_EXPLANATIONS, predictions_schema
from cardiolens.train.indices_model import DEFAULT_FEATURES, fit, predict_proba
from cardiolens.train.indices_stage import fold_results, patient_labels

CFG = {"classifier": "random_forest", "n_estimators": 50, "features": list(DEFAULT_FEATURES), "fit_roles": ["train"],
       "explain_top": 3}


def cohort(n_per_class: int = 12, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """(indices, labels, 3-fold splits): DCM has LV EF 12-35 % (else 55-70 %), HCM a max wall
    thickness of 17-25 mm (else 9-13 mm); every other index is noise shared by the classes."""
    rng = np.random.default_rng(seed)
    rows, labels = [], {}
    for cls in ("NOR", "DCM", "HCM"):
        for i in range(n_per_class):
            key = f"P{cls}{i:02d}"
            row = {f: float(rng.uniform(40, 120)) for f in INDICES.names if f in DEFAULT_FEATURES}
            row["lv_ef_percent"] = float(rng.uniform(12, 35) if cls == "DCM" else rng.uniform(55, 70))
            row["myo_thickness_max_mm"] = float(rng.uniform(17, 25) if cls == "HCM" else rng.uniform(9, 13))
            rows.append({"patient_key": key, **row})
            labels[key] = cls
    indices = pd.DataFrame(rows)
    keys = sorted(labels)
    splits = []
    for fold in range(3):
        for j, k in enumerate(keys):
            role = "test" if j % 3 == fold else "val" if j % 3 == (fold + 1) % 3 and j % 2 else "train"
            splits.append({"study": "s", "patient_key": k, "fold": fold, "role": role})
    return indices, pd.Series(labels).sort_index(), pd.DataFrame(splits)


def test_the_classifier_learns_the_rule_and_names_the_index_behind_each_diagnosis():
    indices, labels, splits = cohort()
    preds, expl, diag, notes = fold_results(indices, splits, labels, "s", CFG, seed=3)
    predictions_schema(["DCM", "HCM", "NOR"], "patient").validate(preds)
    INDICES_EXPLANATIONS.validate(expl)
    INDICES_DIAGNOSES.validate(diag)
    test = preds[preds["role"] == "test"]
    assert len(test) == len(labels) and test["patient_key"].is_unique  # every patient tested once over the 3 folds
    assert (test["y_true"] == test["y_pred"]).mean() >= 0.95
    assert np.allclose(preds[["p_DCM", "p_HCM", "p_NOR"]].sum(axis=1), 1.0)
    top = expl[(expl["target_kind"] == "predicted") & (expl["rank"] == 1)]
    dcm = top[(top["y_pred"] == "DCM") & (top["y_true"] == "DCM")]
    hcm = top[(top["y_pred"] == "HCM") & (top["y_true"] == "HCM")]
    assert len(dcm) >= 10 and (dcm["feature"] == "lv_ef_percent").all()
    assert len(hcm) >= 10 and (hcm["feature"] == "myo_thickness_max_mm").all()
    assert (dcm["value"] < 40).all() and (dcm["contribution"] > 0.1).all() and (dcm["unit"] == "%").all()
    lines = diag[(diag["y_pred"] == "DCM") & diag["correct"]]["explanation"]
    assert lines.str.match(r"^DCM \(p \d\.\d\d\): LV EF \d+\.\d %").all(), lines.tolist()
    assert not notes["patients_without_indices"] and not notes["degenerate_folds"]
    # one explained row per feature, per predicted class; the true class too where it was missed
    wrong = diag[~diag["correct"]]
    assert len(expl) == (len(diag) + len(wrong)) * len(DEFAULT_FEATURES)


def test_same_data_and_seed_give_the_same_tables_and_the_seed_matters():
    indices, labels, splits = cohort()
    a = fold_results(indices, splits, labels, "s", CFG, seed=3)
    b = fold_results(indices, splits, labels, "s", CFG, seed=3)
    c = fold_results(indices, splits, labels, "s", CFG, seed=4)
    for x, y in zip(a[:3], b[:3]):
        pd.testing.assert_frame_equal(x, y)
    assert not a[0]["p_DCM"].equals(c[0]["p_DCM"])


def test_gradient_boosting_and_fitting_on_train_and_val():
    indices, labels, splits = cohort()
    cfg = {**CFG, "classifier": "gradient_boosting", "fit_roles": ["train", "val"]}
    preds, _, _, _ = fold_results(indices, splits, labels, "s", cfg, seed=3)
    test = preds[preds["role"] == "test"]
    assert (test["y_true"] == test["y_pred"]).mean() >= 0.9


def test_patients_without_indices_are_listed_and_a_one_class_fold_predicts_the_prior():
    indices, labels, splits = cohort(n_per_class=2)
    dropped = indices["patient_key"].iloc[0]
    # fold 0: every training patient is NOR
    splits.loc[(splits["fold"] == 0) & (splits["role"] == "train") & ~splits["patient_key"].str.startswith("PNOR"), "role"] = "val"
    preds, expl, _, notes = fold_results(indices[indices["patient_key"] != dropped], splits, labels, "s", CFG, seed=0)
    assert notes["patients_without_indices"] == [dropped] and dropped not in set(preds["patient_key"])
    assert 0 in notes["degenerate_folds"]
    f0 = preds[preds["fold"] == 0]
    assert (f0["p_NOR"] == 1.0).all() and (f0["p_DCM"] == 0.0).all()
    assert (expl.loc[expl["fold"] == 0, "contribution"] == 0).all()  # a constant model: no index moves it


def test_unknown_feature_and_several_labels_per_patient_are_refused():
    indices, labels, splits = cohort(n_per_class=2)
    with pytest.raises(ValueError, match="not indices"):
        fold_results(indices, splits, labels, "s", {**CFG, "features": ["lv_ef"]}, seed=0)
    samples = pd.DataFrame({"patient_key": ["P1", "P1", "P2"], "label": ["NOR", "DCM", "NOR"]})
    with pytest.raises(ValueError, match="several labels"):
        patient_labels(samples)


def test_ablation_matches_a_hand_computed_model():
    # p(class 1) = x0 / 100, independent of x1
    def proba(x):
        p1 = np.clip(x[:, 0] / 100.0, 0, 1)
        return np.stack([1 - p1, p1], axis=1)

    x = np.array([[80.0, 5.0], [20.0, 7.0]])
    out = ablation(proba, x, np.array([50.0, 0.0]), np.array([1, 0]))
    np.testing.assert_allclose(out, [[0.3, 0.0], [0.3, 0.0]])  # class 1: 0.8 - 0.5; class 0: 0.8 - 0.5


def test_predict_proba_keeps_the_study_class_order_and_zero_for_unseen_classes():
    x = np.array([[1.0], [2.0], [10.0], [11.0]])
    model, degenerate = fit(x, ["b", "b", "c", "c"], "random_forest", 10, 0)
    p = predict_proba(model, x, ["a", "b", "c"])
    assert not degenerate and p.shape == (4, 3) and (p[:, 0] == 0).all() and np.allclose(p.sum(1), 1)


def test_explanation_line_names_the_top_positive_indices_with_units():
    line = explanation_line("DCM", 0.914, ["LV EF", "LV EDV", "RV EF"], [16.04, 152.7, 40.0], ["%", "ml/m²", "%"],
                            [55.2, 78.4, 50.0], [0.31, 0.12, -0.05], top=3)
    assert line == "DCM (p 0.91): LV EF 16.0 % (median 55.2, +0.31), LV EDV 153 ml/m² (median 78.4, +0.12)"
    assert explanation_line("NOR", 0.5, ["a"], [1.0], [""], [1.0], [0.0]).endswith("no single index moves the prediction towards it")
    assert format_value(float("nan"), "%") == "n/a" and format_value(1.234, "") == "1.23"


def test_measure_stage_one_row_per_patient_and_every_stack_left_out_has_a_reason(tiny_ingest):
    from cardiolens.measure.indices_stage import one_per_patient, study_indices

    config, res, _ = tiny_ingest
    rec, patients = res.recordings, res.patients
    cslice = {"study": "cardiomyopathy", "label": "cardiomyopathy", "modality": "MR"}
    table, left_out = study_indices(rec, patients, cslice)
    INDICES.validate(table)
    mr = rec[(rec["modality"] == "MR") & rec["cardiomyopathy"].notna()]
    assert set(table["patient_key"]) | {r["patient_key"] for r in left_out["patients_without_row"]} == set(mr["patient_key"])
    assert len(table) == 3 and (table["mask_source"] == "expert").all() and (table["lv_ef_percent"] > 0).all()
    # a stack without a mask is not measured, with its reason, and its patient is listed
    first = table["recording_id"].iloc[0]
    rec2 = rec.copy()
    rec2.loc[rec2["recording_id"] == first, "mask_path"] = None
    table2, left2 = study_indices(rec2, patients, cslice)
    assert len(table2) == 2
    assert [r["recording_id"] for r in left2["skipped"]] == [first] and "no label map" in left2["skipped"][0]["reason"]
    assert [r["patient_key"] for r in left2["patients_without_row"]] == [table["patient_key"].iloc[0]]
    # predicted masks that failed QC are left out (qc_pass is a nullable boolean: null for expert masks)
    rec3 = rec.copy()
    rec3["qc_pass"] = pd.array([None] * len(rec3), dtype="boolean")
    rec3.loc[rec3["recording_id"] == first, ["mask_source", "qc_pass"]] = ["predicted", False]
    table3, left3 = study_indices(rec3, patients, cslice)
    assert len(table3) == 2 and "failed the segment stage's QC" in left3["skipped"][0]["reason"]
    table4, _ = study_indices(rec3, patients, {**cslice, "keep_failed_qc": True})
    assert len(table4) == 3 and (table4["mask_source"] == "predicted").sum() == 1
    # several stacks of one patient: expert first, then the most slices, then the smallest id
    rows = [{"patient_key": "P", "recording_id": "R2", "mask_source": "expert", "n_slices": 8},
            {"patient_key": "P", "recording_id": "R1", "mask_source": "predicted", "n_slices": 9},
            {"patient_key": "P", "recording_id": "R3", "mask_source": "expert", "n_slices": 8}]
    kept, not_used = one_per_patient(rows)
    assert [r["recording_id"] for r in kept] == ["R2"] and [r["recording_id"] for r in not_used] == ["R3", "R1"]


def test_report_page_gives_pooled_accuracy_with_its_wilson_interval_counts_and_each_reason(tmp_path):
    """Four test patients over two folds, three right: pooled accuracy 3/4 with the Wilson interval
    [0.301, 0.954] (p 0.75, n 4, z 1.96, by hand); the confusion counts each patient once, not once
    per fold plus once pooled; every patient's explanation line is on the page."""
    import re

    from cardiolens.stats.pages import indices_page
    from cardiolens.stats.performance import confusion_table, performance
    from cardiolens.tables.registry import COMPARISONS

    truth_pred = [("P1", 0, "DCM", "DCM"), ("P2", 0, "NOR", "NOR"), ("P3", 1, "HCM", "NOR"), ("P4", 1, "NOR", "NOR")]
    preds = pd.DataFrame([{"study": "s", "patient_key": k, "fold": f, "role": "test", "y_true": t, "y_pred": p,
                           **{f"p_{c}": 0.8 if c == p else 0.1 for c in ("DCM", "HCM", "NOR")}, "checkpoint_sha256": "x"}
                          for k, f, t, p in truth_pred])
    performance({"patient": preds}, "s", ["test"], 200, 0.95, 0).to_parquet(tmp_path / "performance.parquet")
    confusion_table({"patient": preds}, "s", ["test"]).to_parquet(tmp_path / "confusion.parquet")
    pd.DataFrame(columns=COMPARISONS.names).to_parquet(tmp_path / "comparison.parquet")
    diagnoses = pd.DataFrame([{"study": "s", "patient_key": k, "fold": f, "role": "test", "y_true": t, "y_pred": p,
                               "probability": 0.8, "correct": t == p, "explanation": f"{p} (p 0.80): LV EF {20 + i} %",
                               "model_sha256": "m"} for i, (k, f, t, p) in enumerate(truth_pred)])
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", indices_page(tmp_path, "s", diagnoses).read_text(encoding="utf-8")))
    assert re.search(r"patient test accuracy 0\.750 \[0\.301, 0\.954\] Wilson score interval .* 4 ", text), text[:1500]
    assert "true \\ predicted DCM HCM NOR DCM 1 0 0 HCM 0 0 1 NOR 0 0 2 " in text, text
    for i, (k, f, t, p) in enumerate(truth_pred):
        assert f"{k} {f} test {t} {p} 0.80 {'yes' if t == p else 'no'} {p} (p 0.80): LV EF {20 + i} %" in text


def test_without_any_height_and_weight_the_volumes_are_used_unindexed(caplog):
    """No patient has a BSA: the per-m² indices are all null, so LV/RV volumes and LV mass enter
    the classifier unindexed (ml, g) instead of as constant columns; with any patient indexed,
    nothing changes. A DCM rule on the LV EDV (160-220 ml against 90-140 ml) is then learnt from
    the unindexed volume, and the explanation names it in ml."""
    import logging

    from cardiolens.train.indices_stage import unindexed_fallback

    indices, labels, splits = cohort()
    for f in ("lv_edv_ml_per_m2", "lv_esv_ml_per_m2", "rv_edv_ml_per_m2", "lv_mass_g_per_m2"):
        indices[f.removesuffix("_per_m2")] = indices[f]
        indices[f] = np.nan
    dcm = labels.reindex(indices["patient_key"]).eq("DCM").to_numpy()
    rng = np.random.default_rng(5)
    indices["lv_edv_ml"] = np.where(dcm, rng.uniform(160, 220, len(indices)), rng.uniform(90, 140, len(indices)))
    indices["lv_ef_percent"] = 60.0   # EF no longer separates DCM: the volume must
    features, replaced = unindexed_fallback(indices, list(DEFAULT_FEATURES))
    assert replaced == ["lv_edv_ml_per_m2", "lv_esv_ml_per_m2", "rv_edv_ml_per_m2", "lv_mass_g_per_m2"]
    assert features[:4] == ["lv_edv_ml", "lv_esv_ml", "lv_ef_percent", "rv_edv_ml"] and "lv_mass_g" in features
    one = indices.copy()
    one.loc[0, "lv_edv_ml_per_m2"] = 80.0
    assert unindexed_fallback(one, list(DEFAULT_FEATURES))[1] == ["lv_esv_ml_per_m2", "rv_edv_ml_per_m2", "lv_mass_g_per_m2"]
    with caplog.at_level(logging.WARNING, logger="cardiolens"):
        preds, expl, diag, notes = fold_results(indices, splits, labels, "s", CFG, seed=3)
    assert notes["unindexed"] == replaced and notes["features"] == features and not notes["empty_features"]
    assert any("are used unindexed" in r.getMessage() for r in caplog.records)
    test = preds[preds["role"] == "test"]
    assert ((test["y_true"] == "DCM") == (test["y_pred"] == "DCM")).mean() >= 0.9
    top = expl[(expl["target_kind"] == "predicted") & (expl["rank"] == 1) & (expl["y_pred"] == "DCM") & (expl["y_true"] == "DCM")]
    assert (top["feature"] == "lv_edv_ml").mean() >= 0.8 and (top["unit"] == "ml").all()
