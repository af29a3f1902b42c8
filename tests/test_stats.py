"""Statistics: published numbers, hand-computed values and the libraries' own answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiolens.stats import metrics as M
from cardiolens.stats.bootstrap import patient_bootstrap
from cardiolens.stats.cohort import table1
from cardiolens.stats.compare import compare, delong_components, delong_test, mcnemar_test
from cardiolens.stats.groups import compare_groups
from cardiolens.stats.performance import confusion_table, errors, performance
from cardiolens.stats.quality import region_masks

# Cardiomyopathy paper (single-frame diastole model): sex counts per class and its confusion matrix.
PAPER_SEX = {"normal": (148, 247), "HCM": (112, 299), "DCM": (103, 291)}
PAPER_CONFUSION = [[369, 4, 21], [9, 396, 6], [6, 1, 388]]
CLASSES = ["normal", "HCM", "DCM"]


def test_table1_chi_square_on_the_cardiomyopathy_paper_sex_counts_gives_p_0_0007():
    patients = pd.DataFrame([{"patient_key": f"P{g}{i}", "group": g, "sex": sex, "age": 50.0 + i % 7}
                             for g, (f, m) in PAPER_SEX.items() for i, sex in enumerate(["F"] * f + ["M"] * m)])
    t = table1(patients, "group", ["sex"], ["age"], groups=CLASSES)
    sex = t[t["variable"] == "sex"]
    assert sex["test"].unique().tolist() == ["chi-square"] and sex["dof"].iloc[0] == 2
    assert round(float(sex["p_value"].iloc[0]), 4) == 0.0007
    assert float(sex["statistic"].iloc[0]) == pytest.approx(14.658, abs=1e-3)
    f_normal = sex[(sex["category"] == "F") & (sex["group"] == "normal")].iloc[0]
    assert f_normal["n"] == 148 and f_normal["summary"] == "148 (37.5 %)"
    assert t[(t["variable"] == "n") & (t["group"] == "all")]["n"].iloc[0] == 1200


def test_confusion_code_reproduces_the_papers_47_errors_in_1200():
    rows = [{"sample_id": f"s{t}{p}{k}", "patient_key": f"p{t}{p}{k}", "fold": k % 6, "role": "test", "y_true": CLASSES[t],
             "y_pred": CLASSES[p], **{f"p_{c}": float(c == CLASSES[p]) for c in CLASSES}}
            for t, row in enumerate(PAPER_CONFUSION) for p, n in enumerate(row) for k in range(n)]
    preds = pd.DataFrame(rows)
    conf = confusion_table({"sample": preds}, "paper", ["test"])
    summed = conf[conf["fold"].isna()]
    assert errors(summed) == (47, 1200)
    matrix = summed.pivot(index="true", columns="pred", values="count").reindex(index=CLASSES, columns=CLASSES).to_numpy()
    assert matrix.tolist() == PAPER_CONFUSION
    assert errors(conf[conf["fold"].notna()]) == (47, 1200)  # the folds add up to the sum


def test_metrics_equal_scikit_learn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score, roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 90)
    proba = rng.dirichlet([1, 1, 1], 90) + np.eye(3)[y] * 0.3
    proba /= proba.sum(1, keepdims=True)
    pred = proba.argmax(1)
    v = dict(zip(M.classification_names(["a", "b", "c"]), M.classification(y, pred, proba, 3)))
    assert v[("accuracy", None)] == pytest.approx(accuracy_score(y, pred))
    assert v[("balanced_accuracy", None)] == pytest.approx(balanced_accuracy_score(y, pred))
    assert v[("auc", None)] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"))
    assert v[("sensitivity", "b")] == pytest.approx(recall_score(y == 1, pred == 1))
    assert v[("specificity", "b")] == pytest.approx(recall_score(y != 1, pred != 1))
    assert v[("auc", "c")] == pytest.approx(roc_auc_score(y == 2, proba[:, 2]))
    yb = (y == 0).astype(int)
    pb = np.column_stack([proba[:, 0], 1 - proba[:, 0]])
    assert M.classification(1 - yb, (pb[:, 0] < 0.5).astype(int), pb, 2)[2] == pytest.approx(roc_auc_score(yb, pb[:, 0]))


def test_delong_structural_components_by_hand():
    # positives 0.9, 0.8; negatives 0.7, 0.85: pairs won 1, 1, 1, 0 -> AUC 0.75; V10 = (1, 0.5), V01 = (1, 0.5)
    aucs, v10, v01 = delong_components(np.array([True, True, False, False]), np.array([[0.9, 0.8, 0.7, 0.85]]))
    assert aucs.tolist() == [0.75] and v10.tolist() == [[1.0, 0.5]] and v01.tolist() == [[1.0, 0.5]]
    # var(AUC) = S10/m + S01/n = 0.125/2 + 0.125/2
    y = np.array([True, True, False, False])
    r = delong_test(y, np.array([0.9, 0.8, 0.7, 0.85]), np.array([0.9, 0.8, 0.7, 0.6]))  # b: AUC 1, V10 = V01 = (1, 1)
    assert r["auc_a"] == 0.75 and r["auc_b"] == 1.0
    assert r["variance"] == pytest.approx(0.125)  # b's components are constant: var(a - b) = var(a)
    assert r["statistic"] == pytest.approx(-0.25 / np.sqrt(0.125))
    same = delong_test(y, np.array([0.9, 0.8, 0.7, 0.85]), np.array([0.9, 0.8, 0.7, 0.85]))
    assert same["p_value"] == 1.0 and same["statistic"] == 0.0


def test_mcnemar_matches_statsmodels_and_counts_discordant_pairs():
    from statsmodels.stats.contingency_tables import mcnemar

    a = np.array([1] * 30 + [1] * 12 + [0] * 3 + [0] * 5, bool)
    b = np.array([1] * 30 + [0] * 12 + [1] * 3 + [0] * 5, bool)
    r = mcnemar_test(a, b)
    assert (r["a_only_correct"], r["b_only_correct"], r["exact"]) == (12, 3, True)
    assert r["p_value"] == pytest.approx(mcnemar([[30, 12], [3, 5]], exact=True).pvalue)
    assert r["p_value"] == pytest.approx(2 * sum(__import__("math").comb(15, k) for k in range(4)) / 2**15)


def test_comparison_pairs_two_studies_and_runs_both_tests():
    rng = np.random.default_rng(0)
    n = 60
    y = np.where(np.arange(n) < 30, "x", "y")
    good = np.clip(np.where(y == "x", 0.75, 0.25) + rng.normal(0, 0.2, n), 0, 1)
    poor = np.clip(np.where(y == "x", 0.55, 0.45) + rng.normal(0, 0.3, n), 0, 1)

    def table(p):
        return pd.DataFrame({"patient_key": [f"P{i}" for i in range(n)], "fold": 0, "role": "test", "y_true": y, "p_x": p,
                             "p_y": 1 - p, "y_pred": np.where(p >= 0.5, "x", "y")})

    out = compare("good_vs_poor", table(good), table(poor).sample(frac=1, random_state=1), ["patient_key"], "patient", "test")
    assert out["test"].tolist() == ["mcnemar", "delong"] and (out["n_pairs"] == n).all()
    d = out[out["test"] == "delong"].iloc[0]
    assert d["estimate_a"] > d["estimate_b"] and d["p_value"] < 0.05
    with pytest.raises(ValueError, match="share no rows"):
        compare("x", table(good), table(poor).assign(patient_key=lambda t: "Q" + t["patient_key"]), ["patient_key"], "patient", "test")


def test_patient_bootstrap_resamples_patients_within_classes():
    # 6 patients x 10 samples; the statistic sees whole patients only, and each class keeps 3 patients
    patients = np.repeat(["a", "b", "c", "d", "e", "f"], 10)
    strata = np.repeat(["x", "x", "x", "y", "y", "y"], 10)
    seen = []

    def stat(idx):
        seen.append(idx)
        return np.array([np.mean(strata[idx] == "x")])

    low, high = patient_bootstrap(patients, stat, strata, n_resamples=200, seed=1)
    assert low[0] == high[0] == 0.5  # class balance is kept in every replicate
    assert all(len(i) == 60 and all((patients[i] == p).sum() % 10 == 0 for p in "abcdef") for i in seen)
    share = lambda i: np.array([np.mean(np.isin(patients[i], ["a", "b", "d"]))])  # noqa: E731
    again = patient_bootstrap(patients, share, strata, 200, 0.95, 1)
    np.testing.assert_array_equal(np.concatenate(again), np.concatenate(patient_bootstrap(patients, share, strata, 200, 0.95, 1)))
    assert 0 <= again[0][0] < 0.5 < again[1][0] <= 1


def test_performance_table_pooled_fold_and_across_fold_rows():
    rows = []
    for fold in range(3):
        for i in range(8):
            t = "x" if i < 4 else "y"
            p = 0.9 if (t == "x") != (i == fold) else 0.1  # one error per fold
            rows.append({"sample_id": f"s{fold}{i}", "patient_key": f"P{fold}{i}", "fold": fold, "role": "test", "y_true": t,
                         "p_x": p, "p_y": 1 - p, "y_pred": "x" if p > 0.5 else "y"})
    perf = performance({"sample": pd.DataFrame(rows)}, "s", ["test"], 200, 0.95, 0)
    acc = perf[(perf["metric"] == "accuracy")]
    assert acc[acc["scope"] == "fold"]["value"].tolist() == [7 / 8] * 3
    assert acc[acc["scope"] == "pooled"]["value"].item() == pytest.approx(21 / 24)
    across = acc[acc["scope"] == "across_folds"].iloc[0]
    assert across["value"] == pytest.approx(7 / 8) and across["sd"] == 0.0
    pooled = acc[acc["scope"] == "pooled"].iloc[0]
    assert pooled["ci_low"] <= 21 / 24 <= pooled["ci_high"] and pooled["n_patients"] == 24


def test_group_comparison_uses_pingouin_and_corrects_across_rows():
    import pingouin as pg
    from scipy.stats import mannwhitneyu, ttest_ind

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"g": np.repeat(["a", "b"], 25), "m1": np.r_[rng.normal(0, 1, 25), rng.normal(1.2, 1, 25)],
                       "m2": rng.normal(0, 1, 50)})
    welch = compare_groups(df, ["m1", "m2"], "g", "welch", "holm")
    x, y = df.loc[df["g"] == "a", "m1"], df.loc[df["g"] == "b", "m1"]
    assert welch["p_value"].iloc[0] == pytest.approx(ttest_ind(x, y, equal_var=False).pvalue)
    assert welch["effect_size"].iloc[0] == pytest.approx(pg.compute_effsize(x, y, eftype="hedges")) and welch["effect_size"].iloc[0] < 0
    p = welch["p_value"].to_numpy()
    lo, hi = np.argmin(p), np.argmax(p)  # Holm with two tests: 2 x the smaller p; the larger p, at least that
    assert welch["p_adjusted"].iloc[lo] == pytest.approx(min(1.0, 2 * p[lo]))
    assert welch["p_adjusted"].iloc[hi] == pytest.approx(max(min(1.0, 2 * p[lo]), p[hi]))
    mw = compare_groups(df, ["m1"], "g", "mannwhitney", "fdr_bh")
    assert mw["p_value"].iloc[0] == pytest.approx(mannwhitneyu(x, y).pvalue)
    assert mw["mean_a"].iloc[0] == pytest.approx(x.mean()) and mw["sd_b"].iloc[0] == pytest.approx(y.std())


def test_regions_split_the_wall_into_septal_and_lateral_thirds():
    from cardiolens import labels as L

    mask = np.zeros((90, 60), np.uint8)
    mask[10:80, 20:40] = L.LV_CAVITY  # apex at the top (row 10), base at row 80 next to the atrium
    mask[10:80, 14:20] = L.MYOCARDIUM  # left wall: the septum in the standard A4C display
    mask[10:80, 40:46] = L.MYOCARDIUM
    mask[80:88, 20:40] = L.LEFT_ATRIUM
    r = region_masks(mask, (1.0, 1.0))
    cols = {name: np.nonzero(m)[1] for name, m in r.items()}
    rows = {name: np.nonzero(m)[0] for name, m in r.items()}
    assert all(len(c) for c in cols.values())
    assert all(cols[n].max() < 20 for n in ("basal_inferoseptal", "mid_inferoseptal", "apical_septal"))
    assert all(cols[n].min() >= 40 for n in ("basal_anterolateral", "mid_anterolateral", "apical_lateral"))
    assert rows["apical_septal"].mean() < rows["mid_inferoseptal"].mean() < rows["basal_inferoseptal"].mean()
    assert sum(m.sum() for m in r.values()) == (mask == L.MYOCARDIUM).sum()


def test_table1_uses_an_exact_test_where_expected_counts_are_small():
    """3/2 vs 2/3 patients: every expected count is 2.5, below Cochran's 5, so the 2 x 2 table gets
    Fisher's exact test (odds ratio 3*3 / (2*2) = 2.25; p = 1, the table is as balanced as five
    patients per group allow); 30/20 vs 20/30 keeps the chi-square with Yates' correction
    (statistic (|30 - 25| - 0.5)^2 / 25 * 4 = 3.24)."""
    from cardiolens.stats.cohort import categorical_test
    from cardiolens.stats.groups import two_sample

    small = categorical_test(np.array([[3, 2], [2, 3]]))
    assert small["test"].startswith("Fisher exact") and small["statistic"] == pytest.approx(2.25) and small["p_value"] == pytest.approx(1.0)
    large = categorical_test(np.array([[30, 20], [20, 30]]))
    assert large["test"] == "chi-square (Yates)" and large["statistic"] == pytest.approx(3.24)
    wide = categorical_test(np.array([[3, 2, 1], [2, 3, 4]]))
    assert wide["test"].startswith("chi-square, permutation p") and wide["dof"] == 2.0 and 0 < wide["p_value"] <= 1
    assert categorical_test(np.array([[3, 2, 1], [2, 3, 4]])) == wide   # seeded
    untested = two_sample(np.array([0.5]), np.array([0.2, 0.4, 0.6]), "mannwhitney")
    assert untested["p_value"] is None and untested["note"] == ("not tested: 1 and 3 values; a two-sample test needs two "
                                                                "or more in each group")
