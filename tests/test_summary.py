"""The results summary (issue 20): headline rows, attribution verdict and warnings, by hand."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from cardiolens.split.balance import balance_table, describe_imbalance, largest_imbalance
from cardiolens.summary import attribution_verdict, summarise_indices, summarise_study, summary_lines, summary_rst

CFG = {"label": "septal_flash", "split": {"scheme": "holdout"}, "train": {"task": "classification"},
       "attribute": {"methods": ["gradcam", "gradcampp"], "gallery": {"method": "gradcampp"},
                     "outside_heart": {"threshold": 0.5}}}


def _perf(level: str, acc: tuple[float, float, float], auc: tuple[float, float, float], n_s: int, n_p: int) -> pd.DataFrame:
    rows = [{"study": "s", "task": "classification", "level": level, "role": "test", "scope": "fold", "fold": 0,
             "metric": m, "class": None, "value": v[0], "sd": None, "ci_low": v[1], "ci_high": v[2],
             "n_samples": n_s, "n_patients": n_p} for m, v in (("accuracy", acc), ("auc", auc))]
    rows.append({**rows[0], "metric": "sensitivity", "class": "flash", "value": 0.1})  # per-class rows are not headlines
    return pd.DataFrame(rows)


def _attribution(method: str, outside: float, pointing: float | None, n: int, passed: bool, group: str = "all") -> dict:
    return {"study": "s", "method": method, "target_kind": "predicted", "group": group, "n": n,
            "outside_heart_rate": outside, "pointing_hit_rate": pointing, "sanity_passed": passed}


SPLITS = pd.DataFrame({"study": "s", "patient_key": [f"P{i}" for i in range(10)], "fold": 0,
                       "role": ["train"] * 6 + ["val"] * 2 + ["test"] * 2})


def test_headline_is_the_pooled_test_metric_of_each_level_with_its_ci():
    perf = pd.concat([_perf("patient", (0.75, 0.5, 1.0), (0.9, 0.7, 1.0), 8, 8),
                      _perf("sample", (0.8, 0.6, 0.9), (0.85, 0.7, 0.95), 88, 8)])
    attribution = pd.DataFrame([_attribution("gradcam", 0.9, 0.1, 88, True), _attribution("gradcampp", 0.0, 0.96, 88, True)])
    out = summarise_study("s", CFG, perf, attribution, None, SPLITS, "test")
    assert list(out["level"]) == ["patient", "sample"]
    p = out.iloc[0]
    assert (p["metric"], p["value"], p["ci_low"], p["ci_high"]) == ("accuracy", 0.75, 0.5, 1.0)
    assert (p["metric_2"], p["value_2"]) == ("auc", 0.9)
    assert (p["n_patients"], p["n_scored"], out.iloc[1]["n_scored"], out.iloc[1]["n_patients_scored"]) == (10, 8, 88, 8)
    assert p["split"] == "holdout, 1 fold"
    # the gallery method (gradcampp), not the first configured method or the first row, gives the verdict
    assert (p["attribution_method"], p["outside_heart_rate"], p["pointing_hit_rate"]) == ("gradcampp", 0.0, 0.96)
    # gradcam's 90 % outside the heart is a possible shortcut, named with its method
    assert p["warnings"] == ["possible shortcut: gradcam (predicted), group all: 90% of 88 maps attend outside the heart"]


def test_a_level_with_one_sample_per_patient_is_not_repeated():
    perf = pd.concat([_perf("patient", (0.7, 0.5, 0.9), (0.8, 0.6, 0.9), 20, 20),
                      _perf("sample", (0.7, 0.5, 0.9), (0.8, 0.6, 0.9), 20, 20)])
    assert list(summarise_study("s", CFG, perf, None, None, SPLITS, "test")["level"]) == ["patient"]


def test_warnings_name_failed_sanity_imbalance_and_degenerate_intervals():
    perf = _perf("patient", (1.0, 1.0, 1.0), (1.0, 0.8, 1.0), 8, 8)
    attribution = pd.DataFrame([_attribution("gradcampp", 0.0, 0.9, 10, False)])
    balance = pd.DataFrame({"study": "s", "fold": 0, "role": ["val", "test"], "variable": "sex", "level": "F",
                            "n": 1, "value": 0.5, "sd": None, "smd_vs_train": [0.05, -0.4]})
    w = summarise_study("s", CFG, perf, attribution, balance, SPLITS, "test").iloc[0]["warnings"]
    assert w[0] == ("sanity check failed: gradcampp maps do not depend on the learnt weights (they barely change when the "
                    "weights are randomised, or are constant)")
    assert w[1] == "imbalance: test vs train differ in sex F (|SMD| 0.40 > 0.1, fold 0)"
    assert w[2].startswith("degenerate interval") and "accuracy (patient, n 8 patients)" in w[2] and "auc" not in w[2]


def test_verdict_weights_targets_by_their_map_counts():
    # a regression study explains each output: 30 maps at 0.2 and 10 at 0.6 outside -> (6 + 6) / 40 = 0.3
    s = pd.DataFrame([{**_attribution("gradcampp", 0.2, None, 30, True), "target_kind": "output"},
                      {**_attribution("gradcampp", 0.6, None, 10, True), "target_kind": "output"}])
    v = attribution_verdict(s, ["gradcampp"])
    assert v["outside_heart_rate"] == pytest.approx(0.3) and v["pointing_hit_rate"] is None and v["sanity_passed"] is True


def test_terminal_and_report_renderings_carry_the_ci_and_the_warnings():
    perf = _perf("patient", (0.75, 0.5, 1.0), (0.9, 0.7, 1.0), 8, 8)
    attribution = pd.DataFrame([_attribution("gradcampp", 0.0, 0.96, 88, True)])
    table = summarise_study("s", CFG, perf, attribution, None, SPLITS, "test")
    lines = summary_lines(table)
    assert lines[3].split() == ["s", "image", "patient", "8p", "accuracy", "0.750", "[0.500,", "1.000],", "auc", "0.900",
                                "[0.700,", "1.000]", "gradcampp:", "sanity", "ok,", "outside", "0.00,", "pointing", "0.96"]
    rst = summary_rst(table, "Intro.\n")
    assert rst.startswith("Intro.") and "accuracy 0.750 [0.500, 1.000]" in rst and ".. list-table::" in rst


def test_the_indices_classifier_gets_its_own_patient_row_on_the_front_page():
    # A study with cardiac indices: its classifier's pooled test accuracy 3/4 (Wilson 0.301-0.954) beside the network's.
    image = summarise_study("s", CFG, _perf("patient", (0.5, 0.2, 0.8), (0.6, 0.4, 0.8), 4, 4), None, None, SPLITS, "test")
    perf = pd.concat([_perf("patient", (0.75, 0.301, 0.954), (0.8, 0.5, 1.0), 4, 4),
                      _perf("sample", (0.7, 0.5, 0.9), (0.8, 0.6, 0.9), 40, 4)])  # a sample level is not a headline here
    ind = summarise_indices("s", CFG, perf, SPLITS, "test")
    assert len(ind) == 1
    r = ind.iloc[0]
    assert (r["model"], r["level"], r["value"], r["ci_low"], r["ci_high"], r["n_scored"]) == ("indices", "patient", 0.75, 0.301, 0.954, 4)
    assert r["attribution_method"] is None and r["warnings"] == [] and r["n_patients"] == 10
    table = pd.concat([image, ind], ignore_index=True)
    lines = summary_lines(table)
    assert lines[3].split()[:5] == ["s", "image", "patient", "4p", "accuracy"]
    assert lines[4].split()[:7] == ["s", "indices", "patient", "4p", "accuracy", "0.750", "[0.301,"]
    assert "results/stats/s/indices/diagnoses.html" in summary_rst(table, "Intro.\n")
    perfect = summarise_indices("s", CFG, _perf("patient", (1.0, 1.0, 1.0), (1.0, 0.8, 1.0), 4, 4), SPLITS, "test")
    assert perfect.iloc[0]["warnings"][0].startswith("indices classifier: degenerate interval")
    combined = summarise_indices("s", CFG, _perf("patient", (1.0, 1.0, 1.0), (1.0, 0.8, 1.0), 4, 4), SPLITS, "test",
                                 "combined")
    assert combined.iloc[0]["model"] == "combined"
    assert combined.iloc[0]["warnings"][0].startswith("combined model: degenerate interval")


def test_smd_of_constant_groups_is_infinite_when_they_differ_and_zero_when_equal():
    patients = pd.DataFrame({"patient_key": ["a", "b", "c", "d"], "label": "x", "sex": "F",
                             "age": [60.0, 60.0, 40.0, 40.0]})
    splits = pd.DataFrame({"patient_key": ["a", "b", "c", "d"], "fold": 0, "role": ["train", "train", "test", "test"]})
    t = balance_table("s", patients, splits).set_index(["role", "variable", "level"])
    assert t.loc[("test", "age", "mean"), "smd_vs_train"] == -np.inf
    assert t.loc[("test", "sex", "F"), "smd_vs_train"] == 0.0


def test_balance_logs_one_line_per_fold_with_the_largest_smd_and_its_sign_free_size(caplog):
    patients = pd.DataFrame({"patient_key": list("abcdef"), "label": ["x", "y"] * 3, "sex": list("FFMMFM"),
                             "age": [50.0, 52, 54, 70, 72, 74]})
    splits = pd.DataFrame({"patient_key": list("abcdef"), "fold": 0, "role": ["train"] * 3 + ["test"] * 3})
    with caplog.at_level(logging.INFO, logger="cardiolens.split.balance"):
        table = balance_table("s", patients, splits)
    worst = largest_imbalance(table)
    assert len(worst) == 1 and (worst.iloc[0]["variable"], worst.iloc[0]["role"]) == ("age", "test")
    # (72 - 52) / sqrt((4 + 4) / 2) = 10
    assert worst.iloc[0]["smd_vs_train"] == pytest.approx(10.0)
    assert [r.getMessage() for r in caplog.records] == [
        "balance s fold 0: largest |SMD| 10.000 > 0.1 (age mean, test vs train)"]
    assert describe_imbalance(worst.iloc[0]).endswith("(age mean, test vs train)")


def test_constant_maps_are_counted_per_method_as_degenerate():
    maps = pd.DataFrame({"method": ["gradcam"] * 4 + ["saliency"] * 2, "entropy": [0.5, np.nan, np.nan, 0.7, 0.9, 0.8]})
    perf = _perf("patient", (0.75, 0.5, 1.0), (0.9, 0.7, 1.0), 8, 8)
    w = summarise_study("s", CFG, perf, None, None, SPLITS, "test", maps).iloc[0]["warnings"]
    assert w == ["degenerate maps: 2 of 4 gradcam maps are constant (no attribution at all)"]


def test_end_of_run_balance_lines_name_only_folds_above_the_threshold():
    from cardiolens.summary import balance_lines

    table = pd.DataFrame({"study": "s", "fold": [0, 0, 1], "role": ["test", "val", "test"], "variable": "age",
                          "level": "mean", "n": 3, "value": 60.0, "sd": 5.0, "smd_vs_train": [0.05, -0.3, 0.08]})
    assert balance_lines({"s": table}) == ["  balance s fold 0: largest |SMD| 0.300 > 0.1 (age mean, val vs train)"]


def test_regression_headline_over_several_targets_has_no_ci_and_says_why():
    rows = [{"study": "q", "task": "regression", "level": "patient", "role": "test", "scope": "fold", "fold": 0,
             "metric": m, "class": t, "value": v, "sd": None, "ci_low": v - 0.1, "ci_high": v + 0.1,
             "n_samples": 5, "n_patients": 5}
            for t, (mae, rho) in {"a": (0.4, 0.5), "b": (0.6, 0.7)}.items() for m, v in (("mae", mae), ("spearman", rho))]
    cfg = {**CFG, "train": {"task": "regression"}}
    r = summarise_study("q", cfg, pd.DataFrame(rows), None, None, SPLITS, "test").iloc[0]
    assert (r["metric"], r["value"], r["ci_low"], r["value_2"]) == ("mae", pytest.approx(0.5), None, pytest.approx(0.6))
    assert r["ci_method"].startswith("none: mean over 2 targets")


def test_headline_ci_method_comes_from_the_performance_table_and_a_null_degenerate_ci_warns():
    perf = _perf("patient", (1.0, 0.676, 1.0), (1.0, None, None), 8, 8)
    perf["ci_method"] = ["Wilson score interval (Wilson 1927), patients as units",
                         "none: degenerate bootstrap, the interval collapses to 1 (too few patients, or a perfect or constant value)",
                         "Wilson score interval (Wilson 1927), patients as units"]
    r = summarise_study("s", CFG, perf, None, None, SPLITS, "test").iloc[0]
    assert r["ci_method"].startswith("accuracy: Wilson score interval") and "; auc: none: degenerate bootstrap" in r["ci_method"]
    assert (r["ci_low"], r["ci_high"]) == (0.676, 1.0) and r["ci_low_2"] is None
    assert r["warnings"][0].startswith("degenerate interval") and "auc (patient, n 8 patients)" in r["warnings"][0]
    assert "accuracy" not in r["warnings"][0]


def test_rejected_inputs_are_counted_by_reason_for_the_terminal_and_the_report():
    from cardiolens.summary import rejection_line, summary_rst

    rejected = pd.DataFrame({"source": ["s"] * 5, "path": list("abcde"), "sha256": [""] * 5,
                             "reason": ["truncated", "not_dicom", "truncated", "ancillary", "empty_file"],
                             "message": ["m"] * 5})
    # ancillary metadata files are not errors: 4 files, most frequent reason first, ties by name
    assert rejection_line(rejected) == ("  rejected inputs: 4 files (truncated 2, empty_file 1, not_dicom 1), "
                                        "see results/ingest/rejected.parquet")
    assert rejection_line(rejected.iloc[3:4]) == "  rejected inputs: none"
    page = summary_rst(pd.DataFrame(columns=["study", "warnings"]), "Intro", rejected)
    assert "- ``truncated``: 2 files\n- ``empty_file``: 1 file\n- ``not_dicom``: 1 file" in page


def test_the_split_names_an_external_test_set_and_a_predefined_column():
    import pandas as pd

    from cardiolens.summary import split_text

    one = pd.DataFrame({"fold": [0, 0]})
    assert split_text({"scheme": "external", "test_sources": ["hospital_b"]}, one) == "external, test hospital_b, 1 fold"
    assert split_text({"scheme": "predefined", "column": "centre_split"}, one) == "predefined (column centre_split), 1 fold"
    assert split_text({"scheme": "kfold", "k": 3}, pd.DataFrame({"fold": [0, 1, 2]})) == "kfold, 3 folds"


def test_a_headline_without_an_interval_is_a_warning_with_its_reason():
    """Three external test patients: Wilson gives the accuracy an interval, the bootstrap gives
    the AUC none; the summary says so, so the bare 0.500 is read as a description."""
    perf = _perf("patient", (0.667, 0.21, 0.94), (0.5, np.nan, np.nan), 3, 3)
    perf["ci_method"] = ["Wilson score interval", "none: 3 patient(s), fewer than the 5 a bootstrap interval needs", "x"]
    w = summarise_study("s", CFG, perf, None, None, SPLITS, "test").iloc[0]["warnings"]
    assert w == ["no confidence interval, read the value as a description: auc: 3 patient(s), fewer than the 5 a bootstrap "
                 "interval needs (patient)"]
