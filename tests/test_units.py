"""Statistics at the unit of independence (issue 21): every p-value and CI counts patients, not
samples. Hand-checked values on tiny synthetic tables, and the property that copying every sample
of a patient changes no p-value and no CI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from cardiolens.stats.attribution import MEASURES, by_class_and_correctness, correctness_tests
from cardiolens.stats.bootstrap import cluster_interval, patient_bootstrap
from cardiolens.stats.compare import compare, delong_test
from cardiolens.stats.performance import performance, score
from cardiolens.stats.stage import quality_correlation
from cardiolens.stats.subgroups import subgroups
from cardiolens.stats.units import WILSON, to_unit, wilson
from cardiolens.train.stage import patient_level

COPIES = 11


def _copied(table: pd.DataFrame, copies: int = COPIES) -> pd.DataFrame:
    """Every row ``copies`` times (same patients), with distinct sample ids where there are any."""
    out = pd.concat([table.assign(_copy=k) for k in range(copies)], ignore_index=True)
    if "sample_id" in out.columns:
        out["sample_id"] = out["sample_id"] + "_" + out["_copy"].astype(str)
    return out.drop(columns="_copy")


def _sample_predictions(n_patients: int = 10, seed: int = 0, errors: bool = True) -> pd.DataFrame:
    """Two classes, 1-4 samples per patient, distinct probabilities (no ties), some errors."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_patients):
        y = "x" if i % 2 == 0 else "y"
        for j in range(1 + i % 4):
            centre = 0.7 if y == "x" else 0.3
            p = float(np.clip(centre + rng.normal(0, 0.25 if errors else 0.05), 0.01, 0.99))
            rows.append({"study": "s", "sample_id": f"s{i}_{j}", "patient_key": f"P{i}", "fold": 0, "role": "test", "y_true": y,
                         "p_x": p, "p_y": 1 - p, "y_pred": "x" if p >= 0.5 else "y", "checkpoint_sha256": "0" * 64})
    return pd.DataFrame(rows)


def _patients(samples: pd.DataFrame) -> pd.DataFrame:
    """The train stage's patient table: mean probability per patient, argmax as the prediction."""
    return patient_level(samples, ["x", "y"])


# --- hand-checked values -------------------------------------------------------------------------

def test_wilson_interval_of_8_of_8_is_0_676_to_1_as_statsmodels_gives_it():
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = wilson(8, 8, 0.95)
    assert (lo, hi) == pytest.approx(proportion_confint(8, 8, alpha=0.05, method="wilson"))
    # by hand: z = 1.96, (p + z^2/2n - z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n) with p = 1, n = 8
    z = 1.959964
    assert lo == pytest.approx((1 + z**2 / 16 - z * np.sqrt(z**2 / 256)) / (1 + z**2 / 8), abs=1e-5)
    assert round(lo, 3) == 0.676 and hi == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n = 0"):
        wilson(0, 0)


def test_to_unit_averages_each_patients_samples_and_counts_them():
    t = pd.DataFrame({"g": ["a", "a", "a", "b"], "patient_key": ["P1", "P1", "P2", "P1"], "v": [1.0, 3.0, 5.0, None]})
    u = to_unit(t, ["v"], by=["g"])
    assert u[["g", "patient_key"]].values.tolist() == [["a", "P1"], ["a", "P2"], ["b", "P1"]]
    assert u["v"].tolist()[:2] == [2.0, 5.0] and np.isnan(u["v"].iloc[2]) and u["n_samples"].tolist() == [2, 1, 1]
    with pytest.raises(KeyError, match="missing|not in the table"):
        to_unit(t, ["w"])


def test_a_collapsed_bootstrap_gives_no_interval_and_says_why():
    patients = np.repeat(["a", "b", "c", "d", "e"], 3)
    ones = lambda i: np.array([1.0, float(np.isin(patients[i], ["a", "b"]).mean())])  # noqa: E731
    ci = cluster_interval(patients, ones, None, 200, 0.95, 0)
    assert np.isnan(ci.low[0]) and np.isnan(ci.high[0]) and ci.method[0].startswith("none: degenerate bootstrap")
    assert ci.low[1] < ci.high[1] and ci.method[1].startswith("patient-cluster bootstrap, percentile")
    # the plain bootstrap (ROC bands) still gives the collapsed bounds
    assert patient_bootstrap(patients, ones, None, 200, 0.95, 0)[0][0] == 1.0
    one = cluster_interval(["a", "a"], lambda i: np.array([0.5]))
    assert np.isnan(one.low[0]) and one.method == ["none: 1 patient(s), fewer than the 5 a bootstrap interval needs"]


def test_no_bootstrap_interval_on_three_patients_or_a_class_of_one():
    """Three test patients, all predicted 'present' (an external centre): balanced accuracy is 0.5
    in truth, and the bootstrap used to report [0, 1] from replicates that lost the absent
    patient; with six patients but one 'absent', a class-stratified replicate always holds that
    patient, so its recall would not vary. Neither gets an interval; each says why. The patient-
    level accuracy keeps its Wilson interval, which is exact enough at small n."""
    def preds(n_present):
        keys = ["A"] + [f"P{i}" for i in range(n_present)]
        return pd.DataFrame({"patient_key": keys, "y_true": ["absent"] + ["present"] * n_present, "y_pred": "present",
                             "p_absent": 0.4, "p_present": 0.6})

    three = score(preds(2), 500, 0.95, 0, "patient")
    row = three[three["metric"] == "balanced_accuracy"].iloc[0]
    assert row["value"] == 0.5 and pd.isna(row["ci_low"]) and row["ci_method"] == "none: 3 patient(s), fewer than the 5 a bootstrap interval needs"
    six = score(preds(5), 500, 0.95, 0, "patient")
    bal = six[six["metric"] == "balanced_accuracy"].iloc[0]
    assert pd.isna(bal["ci_low"]) and bal["ci_method"] == ("none: class 'absent' has one patient; a class-stratified bootstrap "
                                                          "needs two or more in every class")
    acc = six[six["metric"] == "accuracy"].iloc[0]
    assert acc["ci_method"] == WILSON and (acc["ci_low"], acc["ci_high"]) == pytest.approx(wilson(5, 6))


def test_patient_level_accuracy_8_of_8_is_wilson_not_a_collapsed_bootstrap():
    samples = _sample_predictions(8, seed=1, errors=False)
    perf = performance({"sample": samples, "patient": _patients(samples)}, "s", ["test"], 200, 0.95, 0)
    p = perf[(perf["level"] == "patient") & perf["class"].isna()].set_index("metric")
    assert p.loc["accuracy", "value"] == 1.0 and p.loc["accuracy", "ci_method"] == WILSON
    assert (p.loc["accuracy", "ci_low"], p.loc["accuracy", "ci_high"]) == pytest.approx(wilson(8, 8))
    # AUC 1.0 and balanced accuracy 1.0: every replicate equal, so no CI, and the table says why
    for m in ("auc", "balanced_accuracy"):
        assert pd.isna(p.loc[m, "ci_low"]) and p.loc[m, "ci_method"].startswith("none: degenerate bootstrap"), m
    sens = perf[(perf["level"] == "patient") & (perf["metric"] == "sensitivity") & (perf["class"] == "x")].iloc[0]
    assert sens["ci_method"] == WILSON and (sens["ci_low"], sens["ci_high"]) == pytest.approx(wilson(4, 4))
    assert set(perf["unit"]) == {"patient"} and (perf["n_units"] == perf["n_patients"]).all()
    s = perf[(perf["level"] == "sample") & (perf["metric"] == "accuracy")].iloc[0]
    assert s["n_samples"] == len(samples) and s["n_units"] == 8 and s["ci_method"].startswith("none: degenerate bootstrap")


def test_correctness_tests_compare_one_mean_per_patient_and_group():
    # mass_heart per map; patient B has maps in both groups
    maps = [("A", True, 0.9), ("A", True, 0.8), ("A", True, 0.7), ("B", True, 0.6), ("B", True, 0.6), ("D", True, 0.9),
            ("B", False, 0.2), ("C", False, 0.3), ("C", False, 0.5), ("E", False, 0.1)]
    a = _attribution(maps)
    t = correctness_tests(a, "mannwhitney", "none")
    r = t[t["measure"] == "mass_heart"].iloc[0]
    # patient means: correct A 0.8, B 0.6, D 0.9; incorrect B 0.2, C 0.4, E 0.1 -> complete separation,
    # exact Mann-Whitney p = 2 / C(6, 3) = 0.1 (over the 10 maps it would be 0.0095)
    assert (r["n_a"], r["n_b"]) == (3, 3) and r["mean_a"] == pytest.approx(np.mean([0.8, 0.6, 0.9]))
    assert r["p_value"] == pytest.approx(0.1)
    assert (r["unit"], r["n_units"], r["n_units_both"], r["n_samples"]) == ("patient", 5, 1, 10)
    assert set(t["measure"]) == {"mass_heart"}  # measures without values are not tested


def test_outside_heart_rate_counts_maps_and_its_ci_resamples_patients():
    # patient A: 4 maps, 3 flagged; B: 2 maps, 0 flagged; C: 2 maps, 2 flagged; D: 1 map, 0 flagged;
    # E: 2 maps, 1 flagged
    flags = {"A": [1, 1, 1, 0], "B": [0, 0], "C": [1, 1], "D": [0], "E": [0, 1]}
    a = _attribution([(p, True, 0.5) for p, f in flags.items() for _ in f])
    a["outside_heart"] = [bool(v) for f in flags.values() for v in f]
    g = by_class_and_correctness(a, 0.95, 500, 0)
    row = g[(g["class"] == "all") & g["correct"]].iloc[0]
    assert row["outside_heart_rate"] == pytest.approx(6 / 11) and (row["n_samples"], row["n_units"], row["unit"]) == (11, 5, "patient")
    assert row["ci_method"].startswith("patient-cluster bootstrap")
    assert 0 <= row["outside_heart_ci_low"] < 6 / 11 < row["outside_heart_ci_high"]
    assert row["mass_heart_ci_method"].startswith("none: degenerate bootstrap, the interval collapses to 0.5")   # every map 0.5
    # no incorrect maps: no rate, no CI, and the reason says there is no map, not no heart ROI
    empty = g[(g["class"] == "all") & ~g["correct"]].iloc[0]
    assert pd.isna(empty["outside_heart_rate"]) and empty["ci_method"] == "none: no map in this group"
    assert empty["mass_heart_ci_method"] == "none: no map with a heart mass"
    four = by_class_and_correctness(a[a["patient_key"] != "E"], 0.95, 500, 0)   # four patients: too few for a bootstrap
    r4 = four[(four["class"] == "all") & four["correct"]].iloc[0]
    assert pd.isna(r4["outside_heart_ci_low"]) and r4["ci_method"] == "none: 4 patient(s), fewer than the 5 a bootstrap interval needs"
    assert pd.isna(r4["mass_heart_ci_low"]) and r4["mass_heart_ci_method"] == r4["ci_method"]
    # no map flagged: every bootstrap replicate is 0, so the interval is Clopper-Pearson's of 0 of 5
    # patients: [0, 1 - 0.025^(1/5)] = [0, 0.5218]; every map flagged: 5 of 5, [0.025^(1/5), 1]
    a["outside_heart"] = False
    zero = by_class_and_correctness(a, 0.95, 200, 0)
    z = zero[(zero["class"] == "all") & zero["correct"]].iloc[0]
    assert z["outside_heart_rate"] == 0.0 and z["ci_method"].startswith("Clopper-Pearson")
    assert (z["outside_heart_ci_low"], z["outside_heart_ci_high"]) == (0.0, pytest.approx(1 - 0.025 ** 0.2))
    assert round(z["outside_heart_ci_high"], 4) == 0.5218
    a["outside_heart"] = True
    one = by_class_and_correctness(a, 0.95, 200, 0)
    o = one[(one["class"] == "all") & one["correct"]].iloc[0]
    assert o["outside_heart_rate"] == 1.0 and o["ci_method"].startswith("Clopper-Pearson")
    assert (o["outside_heart_ci_low"], o["outside_heart_ci_high"]) == (pytest.approx(0.025 ** 0.2), 1.0)


def test_heart_mass_is_a_mean_of_patient_means_beside_its_chance_level():
    # A has 3 maps (0.9, 0.8, 0.7 -> 0.8), B 1 map (0.2), C 2 maps (0.5, 0.7 -> 0.6), D 1 map (0.4),
    # E 2 maps (0.6, 0.8 -> 0.7): the mean of patient means is 2.7 / 5 = 0.54, where the mean over
    # the 9 maps would be 5.6 / 9 = 0.6222
    maps = [("A", True, 0.9), ("A", True, 0.8), ("A", True, 0.7), ("B", True, 0.2), ("C", True, 0.5), ("C", True, 0.7),
            ("D", True, 0.4), ("E", True, 0.6), ("E", True, 0.8)]
    a = _attribution(maps)
    a["mass_heart_uniform"] = [0.5, 0.5, 0.5, 0.2, 0.4, 0.6, 0.4, 0.3, 0.5]  # patient means 0.5, 0.2, 0.5, 0.4, 0.4 -> 0.4
    g = by_class_and_correctness(a, 0.95, 500, 0)
    row = g[(g["class"] == "all") & g["correct"]].iloc[0]
    assert row["mass_heart_patient_mean"] == pytest.approx(2.7 / 5) and row["mass_heart_mean"] == pytest.approx(5.6 / 9)
    assert row["mass_heart_uniform_patient_mean"] == pytest.approx(0.4) and row["mass_heart_n_units"] == 5
    # paired excess per patient: 0.3, 0.0, 0.1, 0.0, 0.3; mean 0.14
    assert row["mass_heart_excess_patient_mean"] == pytest.approx(0.14)
    assert 0.0 <= row["mass_heart_excess_ci_low"] < 0.14 < row["mass_heart_excess_ci_high"] <= 0.3
    # every replicate is a mean of five of the patient means {0.8, 0.2, 0.6, 0.4, 0.7}: within [0.2, 0.8]
    assert 0.2 <= row["mass_heart_ci_low"] < 0.54 < row["mass_heart_ci_high"] <= 0.8
    assert row["mass_heart_ci_method"].startswith("patient-cluster bootstrap")
    # no incorrect maps: no heart mass
    empty = g[(g["class"] == "all") & ~g["correct"]].iloc[0]
    assert pd.isna(empty["mass_heart_patient_mean"]) and empty["mass_heart_n_units"] == 0
    # one map without a chance level: the heart mass stays, its chance level and excess are null
    # (they would cover other maps than the mass)
    a.loc[a.index[3], "mass_heart_uniform"] = np.nan
    part = by_class_and_correctness(a, 0.95, 200, 0)
    p = part[(part["class"] == "all") & part["correct"]].iloc[0]
    assert p["mass_heart_patient_mean"] == pytest.approx(2.7 / 5)
    assert pd.isna(p["mass_heart_uniform_patient_mean"]) and pd.isna(p["mass_heart_excess_patient_mean"])
    assert pd.isna(p["mass_heart_excess_ci_low"]) and pd.notna(p["mass_heart_ci_low"])


def test_the_study_page_gives_the_heart_mass_beside_its_chance_level():
    from cardiolens.stats.pages import heart_mass_summary

    # patient means 0.8, 0.2, 0.6, 0.4, 0.7 (0.54); chance 0.5, 0.2, 0.5, 0.4, 0.4 (0.4); excess 0.14
    maps = [("A", True, 0.9), ("A", True, 0.8), ("A", True, 0.7), ("B", True, 0.2), ("C", True, 0.5), ("C", True, 0.7),
            ("D", True, 0.4), ("E", True, 0.6), ("E", True, 0.8)]
    a = _attribution(maps)
    a["mass_heart_uniform"] = [0.5, 0.5, 0.5, 0.2, 0.4, 0.6, 0.4, 0.3, 0.5]
    a["outside_heart"] = False
    t = heart_mass_summary(by_class_and_correctness(a, 0.9, 200, 0), "90 % CI")
    assert len(t) == 2  # correct and wrong predictions, class all
    r = t[t["predictions"] == "correct"].iloc[0]
    assert r["heart mass [90 % CI]"].startswith("0.540 [") and r["chance level"] == "0.400"
    assert r["excess [90 % CI]"].startswith("0.140 [") and (r["patients"], r["maps"]) == (5, 9)
    assert t[t["predictions"] == "wrong"].iloc[0]["heart mass [90 % CI]"] == "-"


def test_the_confidence_level_labels_every_interval_it_gives():
    """stats.bootstrap.confidence 0.9: the performance table records it per row, and the study
    page and the summary (terminal and report) say 90 % CI, not 95 %."""
    from cardiolens.stats.pages import performance_summary
    from cardiolens.summary import ci_label, summary_lines

    samples = _sample_predictions(8, seed=1)
    perf = performance({"sample": samples, "patient": _patients(samples)}, "s", ["test"], 200, 0.9, 0)
    assert set(perf["ci_level"]) == {0.9}
    assert "value [90 % CI]" in performance_summary(perf).columns
    assert ci_label([0.9, 0.9]) == "90 % CI" and ci_label([0.95, 0.9]) == "90 / 95 % CI" and ci_label([None]) == "CI"
    summary = pd.DataFrame([{"study": "s", "model": "image", "level": "patient", "n_scored": 8, "n_patients_scored": 8,
                             "metric": "accuracy", "value": 0.75, "ci_low": 0.4, "ci_high": 0.9, "value_2": None,
                             "metric_2": "auc", "ci_low_2": None, "ci_high_2": None, "ci_level": 0.9,
                             "attribution_method": None, "role": "test", "warnings": []}])
    assert "headline (90 % CI)" in summary_lines(summary)[1]


def test_sample_level_comparisons_are_refused_in_the_config_and_in_the_code():
    import yaml

    from cardiolens.config import ConfigError, validate_config

    samples = _sample_predictions()
    with pytest.raises(ValueError, match="level 'sample' is refused; samples of one patient are not independent"):
        compare("c", samples, samples, ["sample_id"], "sample", "test")
    with open("config/config.yaml", encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    config["stats"]["comparisons"] = [{"name": "a_b", "a": "septal_flash", "b": "septal_flash", "level": "sample"}]
    with pytest.raises(ConfigError, match=r"'stats.comparisons\[0\].level': 'sample' is refused: .*set level: patient"):
        validate_config(config)


def test_delong_ci_of_the_auc_difference_is_the_normal_interval_of_its_variance():
    y = np.array([True, True, False, False])
    r = delong_test(y, np.array([0.9, 0.8, 0.7, 0.85]), np.array([0.9, 0.8, 0.7, 0.6]))  # var 0.125 (test_stats)
    half = 1.959964 * np.sqrt(0.125)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((-0.25 - half, -0.25 + half), abs=1e-5)
    patients = _patients(_sample_predictions())
    other = patients.assign(p_x=lambda t: (t["p_x"] * 0.9 + 0.05), p_y=lambda t: 1 - t["p_x"])
    out = compare("c", patients, other, ["patient_key"], "patient", "test").set_index("test")
    assert (out["unit"] == "patient").all() and (out["n_units"] == 10).all()
    assert out.loc["mcnemar", "ci_method"].startswith("none:") and pd.isna(out.loc["mcnemar", "ci_low"])


def test_delong_ci_is_clipped_to_the_range_of_an_auc_difference():
    # a perfect (V10 = V01 = (1, 1), constant); b: positives 0.1, 0.3, negatives 0.2, 0.9 -> pairs won
    # 0, 0, 1, 0, AUC 1/4, V10 = (0, 0.5), V01 = (0.5, 0); var = 0.125 / 2 + 0.125 / 2 = 0.125;
    # diff 0.75 +- 1.96 sqrt(0.125) = 0.057 .. 1.443, clipped to 1
    y = np.array([True, True, False, False])
    r = delong_test(y, np.array([0.9, 0.8, 0.2, 0.1]), np.array([0.1, 0.3, 0.2, 0.9]))
    assert (r["auc_a"], r["auc_b"], r["variance"]) == (1.0, 0.25, pytest.approx(0.125))
    assert r["ci_low"] == pytest.approx(0.75 - 1.959964 * np.sqrt(0.125), abs=1e-5) and r["ci_high"] == 1.0
    assert r["ci_method"] == "DeLong et al. 1988 variance of AUC(a) - AUC(b), asymptotic normal interval clipped to [-1, 1]"


def test_delong_with_one_positive_or_one_negative_patient_has_no_test_and_says_why():
    # one positive: V10 has one column, so its covariance (np.cov) is undefined; the AUCs still are:
    # a ranks the positive 0.9 above 0.2, 0.3, 0.4 (1.0); b ranks 0.8 above 0.5 and 0.1, not 0.85 (2/3)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from np.cov of one column
        r = delong_test(np.array([True, False, False, False]), np.array([0.9, 0.2, 0.3, 0.4]), np.array([0.8, 0.5, 0.1, 0.85]))
        mirrored = delong_test(np.array([False, True, True, True]), np.array([0.9, 0.2, 0.3, 0.4]), np.array([0.8, 0.5, 0.1, 0.85]))
    assert r["auc_a"] == 1.0 and r["auc_b"] == pytest.approx(2 / 3)
    for d in (r, mirrored):
        assert all(np.isnan(d[k]) for k in ("statistic", "p_value", "variance", "ci_low", "ci_high"))
        assert d["ci_method"] == "none: fewer than two positive or two negative patients"
    # through compare: two patients, one per class (the tiny workflow's septal_flash test set)
    two = pd.DataFrame({"patient_key": ["P0", "P1"], "fold": 0, "role": "test", "y_true": ["x", "y"], "p_x": [0.8, 0.3],
                        "p_y": [0.2, 0.7], "y_pred": ["x", "y"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = compare("c", two, two.assign(p_x=[0.6, 0.4], p_y=[0.4, 0.6]), ["patient_key"], "patient", "test").set_index("test")
    d = out.loc["delong"]
    assert pd.isna(d["p_value"]) and pd.isna(d["statistic"]) and pd.isna(d["ci_low"]) and pd.isna(d["ci_high"])
    assert d["ci_method"].startswith("none: fewer than two") and (d["estimate_a"], d["estimate_b"]) == (1.0, 1.0)
    assert 0 <= out.loc["mcnemar", "p_value"] <= 1


def test_quality_correlation_pairs_one_mean_per_patient():
    # P1 has two recordings; per region the patient's means are paired
    rows = []
    for rec, patient, base, grade in (("r1", "P1", 1.0, 1.0), ("r2", "P1", 3.0, 2.0), ("r3", "P2", 4.0, 3.0),
                                      ("r4", "P3", 0.5, 1.0), ("r5", "P4", 6.0, 3.0)):
        for k, region in enumerate(("basal", "apical")):
            rows.append({"study": "q", "recording_id": rec, "patient_key": patient, "frame": 0, "region": region, "n_pixels": 50,
                         "cr_db": base + k, "cnr": base * (1 + k), "gcnr": 0.1 * base + 0.01 * k, "grade": grade,
                         "quality": None})
    q = pd.DataFrame(rows)
    qc = quality_correlation(q, "q")
    basal = qc[(qc["region"] == "basal") & (qc["metric"] == "cr_db")].iloc[0]
    # patient means (cr_db, grade): P1 (2.0, 1.5), P2 (4.0, 3.0), P3 (0.5, 1.0), P4 (6.0, 3.0)
    from scipy.stats import spearmanr

    expected = spearmanr([2.0, 4.0, 0.5, 6.0], [1.5, 3.0, 1.0, 3.0])
    assert basal["rho"] == pytest.approx(expected.statistic) and basal["p_value"] == pytest.approx(expected.pvalue)
    assert (basal["n"], basal["n_units"], basal["n_samples"], basal["unit"]) == (4, 4, 5, "patient")
    overall = qc[(qc["region"] == "all") & (qc["label"] == "grade")]
    assert (overall["n_units"] == 4).all() and (overall["n_samples"] == 10).all()
    assert set(qc["label"]) == {"grade"}  # no per-view label in this table


def test_table1_and_motion_groups_carry_their_unit_and_counts(tmp_path):
    from cardiolens.stats.cohort import table1
    from cardiolens.stats.motion import motion_group_tests
    from cardiolens.tables import read_table, write_table
    from cardiolens.tables.registry import COHORT, MOTION_GROUPS

    # Table 1: 5 patients with a group (P5 has none), 14 samples behind them
    patients = pd.DataFrame({"patient_key": [f"P{i}" for i in range(6)], "group": ["a", "a", "a", "b", "b", None],
                             "sex": ["F", "M", "F", "M", "M", "F"], "age": [50.0, 52.0, 54.0, 60.0, 62.0, 70.0]})
    t = table1(patients, "group", ["sex"], ["age"], test="welch", n_samples=14)
    assert (t["unit"] == "patient").all() and (t["n_units"] == 5).all() and (t["n_samples"] == 14).all()
    assert (table1(patients, "group", ["sex"], ["age"], test="welch")["n_samples"] == 5).all()  # no samples given: patients
    # motion: one row per patient and segment; D has no peak_systolic_mm
    per = pd.DataFrame({"study": "t", "segment": "basal_inferoseptal", "patient_key": list("ABCD"),
                        "label": ["takotsubo", "takotsubo", "stemi", "stemi"], "n_recordings": [2, 1, 3, 1],
                        "peak_systolic_mm": [5.0, 6.0, 9.0, np.nan], "peak_systolic_px": np.nan, "peak_diastolic_mm": np.nan,
                        "peak_strain": [-0.10, -0.12, -0.20, -0.18]})
    g = motion_group_tests(per, "mannwhitney", "none").set_index("measure")
    # peak_systolic_mm: stemi C (3 recordings) vs takotsubo A, B (2 + 1); peak_strain: all four (2 + 1 + 3 + 1)
    assert (g.loc["peak_systolic_mm", "n_a"], g.loc["peak_systolic_mm", "n_b"]) == (1, 2)
    assert (g.loc["peak_systolic_mm", "n_units"], g.loc["peak_systolic_mm", "n_samples"]) == (3, 6)
    assert (g.loc["peak_strain", "n_units"], g.loc["peak_strain", "n_samples"]) == (4, 7) and (g["unit"] == "patient").all()
    for name, df, schema in (("cohort", t, COHORT), ("motion_groups", g.reset_index(), MOTION_GROUPS)):
        back = read_table(write_table(df.reindex(columns=schema.names), tmp_path / f"{name}.parquet", schema, {}), schema)
        assert back["unit"].notna().all() and back["n_units"].notna().all() and back["n_samples"].notna().all(), name


# --- copying every sample of a patient changes nothing ------------------------------------------

def test_copying_every_sample_eleven_times_leaves_every_p_value_and_ci_unchanged():
    """Each table's p-values and CIs with every sample row copied 11 times (same patients):

    - performance and subgroups, patient level: the patient table (mean probability per patient) is the same,
      so are the Wilson and bootstrap CIs;
    - performance and subgroups, sample level: the cluster bootstrap resamples patients with the same seed and a
      patient's 11 copies move together, so every replicate's value (a ratio, an AUC, a rank
      correlation over the copies) is unchanged and so is the interval; only n_samples grows;
    - the comparison (McNemar, DeLong on patient-level predictions), the attribution tests
      (patients' means) and the outside-the-heart CI (patient-cluster bootstrap), and the quality
      correlation (patients' means).
    Values agree up to the rounding of means over 11 times as many rows.
    """
    samples = _sample_predictions(12, seed=3)
    copied = _copied(samples)

    def perf(s):
        return performance({"sample": s, "patient": _patients(s)}, "s", ["test"], 300, 0.95, 0)

    before, after = perf(samples), perf(copied)
    assert before["ci_method"].tolist() == after["ci_method"].tolist()
    assert before["ci_method"].str.startswith("patient-cluster").any() and (before["ci_method"] == WILSON).any()
    for col in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(after[col].to_numpy(float), before[col].to_numpy(float), rtol=1e-9, atol=1e-12, err_msg=col)
    sample_rows = after["level"] == "sample"
    assert (after.loc[sample_rows, "n_samples"] == COPIES * before.loc[sample_rows, "n_samples"]).all()
    assert (after["n_units"] == before["n_units"]).all()

    patients = pd.DataFrame({"patient_key": [f"P{i}" for i in range(12)], "sex": ["F", "M"] * 6, "age": np.arange(40.0, 52.0)})

    def sub(s):
        return subgroups({"sample": s, "patient": _patients(s)}, patients, "s", ["test"], 300, 0.95, 0)

    s0, s1 = sub(samples), sub(copied)
    assert len(s0) and s0["ci_method"].tolist() == s1["ci_method"].tolist()
    assert s0["ci_method"].str.startswith("patient-cluster").any() and (s0["ci_method"] == WILSON).any()
    for col in ("estimate", "ci_low", "ci_high", "n_units", "n_patients"):
        np.testing.assert_allclose(s1[col].to_numpy(float), s0[col].to_numpy(float), rtol=1e-9, atol=1e-12, err_msg=col)
    at_sample = s0["level"] == "sample"
    assert (s1.loc[at_sample, "n_samples"] == COPIES * s0.loc[at_sample, "n_samples"]).all()
    assert (s1.loc[~at_sample, "n_samples"] == s0.loc[~at_sample, "n_samples"]).all()

    def comparison(s):
        p = _patients(s)
        other = p.assign(p_x=lambda t: np.clip(t["p_x"] + np.linspace(-0.2, 0.2, len(t)), 0.01, 0.99), p_y=lambda t: 1 - t["p_x"])
        other["y_pred"] = np.where(other["p_x"] >= 0.5, "x", "y")
        return compare("c", p, other, ["patient_key"], "patient", "test")

    c0, c1 = comparison(samples), comparison(copied)
    assert c0["test"].tolist() == ["mcnemar", "delong"]
    for col in ("statistic", "p_value", "ci_low", "ci_high", "n_pairs", "n_units"):
        np.testing.assert_allclose(c1[col].to_numpy(float), c0[col].to_numpy(float), rtol=1e-9, err_msg=col)

    rng = np.random.default_rng(5)
    maps = _attribution([(r.patient_key, r.y_true == r.y_pred, float(rng.uniform())) for r in samples.itertuples()])
    maps["outside_heart"] = rng.uniform(size=len(maps)) < 0.4
    t0, t1 = correctness_tests(maps, "mannwhitney", "holm"), correctness_tests(_copied(maps), "mannwhitney", "holm")
    assert len(t0) and (t0["n_units_both"] > 0).any()
    for col in ("statistic", "p_value", "p_adjusted", "effect_size", "n_a", "n_b", "n_units"):
        np.testing.assert_allclose(t1[col].to_numpy(float), t0[col].to_numpy(float), rtol=1e-9, err_msg=col)
    assert (t1["n_samples"] == COPIES * t0["n_samples"]).all()
    g0, g1 = by_class_and_correctness(maps, 0.95, 300, 0), by_class_and_correctness(_copied(maps), 0.95, 300, 0)
    for col in ("outside_heart_rate", "outside_heart_ci_low", "outside_heart_ci_high", "n_units"):
        np.testing.assert_allclose(g1[col].to_numpy(float), g0[col].to_numpy(float), rtol=1e-12, err_msg=col)
    assert g0["ci_method"].tolist() == g1["ci_method"].tolist() and g0["ci_method"].str.startswith("patient-cluster").any()

    q = pd.DataFrame([{"study": "q", "recording_id": f"r{i}", "patient_key": f"P{i // 2}", "frame": 0, "region": region, "n_pixels": 40,
                       "cr_db": float(rng.normal()), "cnr": float(rng.uniform()), "gcnr": float(rng.uniform()),
                       "grade": float(rng.integers(1, 4)), "quality": ["Poor", "Medium", "Good"][i % 3]}
                      for i in range(14) for region in ("basal", "apical")])
    q0, q1 = quality_correlation(q, "q"), quality_correlation(_copied(q), "q")
    assert set(q0["label"]) == {"grade", "quality"} and q0["rho"].notna().all()
    for col in ("rho", "p_value", "n", "n_units"):
        np.testing.assert_allclose(q1[col].to_numpy(float), q0[col].to_numpy(float), rtol=1e-9, err_msg=col)
    assert (q1["n_samples"] == COPIES * q0["n_samples"]).all()


def test_every_changed_table_is_written_with_its_unit_columns(tmp_path):
    from cardiolens.stats.stage import run_comparisons
    from cardiolens.tables import read_table, write_table
    from cardiolens.tables.registry import (ATTRIBUTION_GROUPS, ATTRIBUTION_TESTS, COMPARISONS, PERFORMANCE, QUALITY_CORRELATION,
                                            SUBGROUPS, predictions_schema)

    samples = _sample_predictions(12, seed=3)
    tables = {"sample": samples, "patient": _patients(samples)}
    patients = pd.DataFrame({"patient_key": [f"P{i}" for i in range(12)], "sex": ["F", "M"] * 6, "age": np.arange(40.0, 52.0)})
    maps = _attribution([(r.patient_key, r.y_true == r.y_pred, 0.1 * (k % 7)) for k, r in enumerate(samples.itertuples())])
    maps["outside_heart"] = [k % 3 == 0 for k in range(len(maps))]
    q = pd.DataFrame([{"study": "q", "recording_id": f"r{i}", "patient_key": f"P{i}", "frame": 0, "region": "basal", "n_pixels": 40,
                       "cr_db": float(i), "cnr": float(i % 3), "gcnr": 0.05 * i, "grade": float(1 + i % 3), "quality": None}
                      for i in range(6)])
    written = {"performance": (performance(tables, "s", ["test"], 200, 0.95, 0), PERFORMANCE),
               "subgroups": (subgroups(tables, patients, "s", ["test"], 200, 0.95, 0), SUBGROUPS),
               "attribution_groups": (by_class_and_correctness(maps, 0.95, 200, 0), ATTRIBUTION_GROUPS),
               "attribution_tests": (correctness_tests(maps, "mannwhitney", "holm"), ATTRIBUTION_TESTS),
               "quality_correlation": (quality_correlation(q, "q"), QUALITY_CORRELATION)}
    for name, (df, schema) in written.items():
        back = read_table(write_table(df.reindex(columns=schema.names), tmp_path / f"{name}.parquet", schema, {}), schema)
        assert len(back) and back["unit"].notna().all() and back["n_units"].notna().all(), name
    files = {}
    for study, shift in (("a", 0.0), ("b", 0.3)):  # b: a different ranking, so DeLong's variance is not zero
        s = samples.assign(study=study, p_x=lambda t: (t["p_x"] + shift * np.sin(np.arange(len(t)))).clip(0.01, 0.99),
                           p_y=lambda t: 1 - t["p_x"])
        s["y_pred"] = np.where(s["p_x"] >= 0.5, "x", "y")
        files[study] = {"sample": str(tmp_path / f"{study}_s.parquet"), "patient": str(tmp_path / f"{study}_p.parquet")}
        write_table(s.reindex(columns=predictions_schema(["x", "y"]).names), files[study]["sample"], predictions_schema(["x", "y"]), {})
        p = _patients(s)
        write_table(p.reindex(columns=predictions_schema(["x", "y"], "patient").names), files[study]["patient"],
                    predictions_schema(["x", "y"], "patient"), {})
    out = tmp_path / "comparisons.parquet"
    run_comparisons([{"name": "a_vs_b", "a": "a", "b": "b", "level": "patient"}], files, str(out), ["test"], confidence=0.9)
    comp = read_table(out, COMPARISONS)
    assert json.loads(pq.read_schema(out).metadata[b"cardiolens.provenance"])["config"]["slice"]["confidence"] == 0.9
    assert comp["test"].tolist() == ["mcnemar", "delong"] and (comp["n_units"] == 12).all() and (comp["n_samples"] == len(samples)).all()
    d = comp.iloc[1]
    assert d["ci_low"] < d["estimate_a"] - d["estimate_b"] < d["ci_high"] and d["ci_method"].startswith("DeLong")


def _attribution(maps: list[tuple[str, bool, float]]) -> pd.DataFrame:
    """Attribution rows (patient, correct, mass_heart); the other measures empty."""
    return pd.DataFrame([{"study": "s", "method": "gradcam", "target_kind": "predicted", "patient_key": p,
                          "recording_id": f"{p}_r", "label": "x", "correct": c, "outside_heart": None, "pointing_hit": None,
                          **{m: (v if m == "mass_heart" else np.nan) for m in MEASURES}} for p, c, v in maps])
