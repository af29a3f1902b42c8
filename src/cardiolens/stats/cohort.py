"""Cohort description ("Table 1") by group: counts and percentages for categorical covariates,
mean ± SD or median [IQR] for continuous ones, and one p-value per covariate.

Tests (all scipy.stats): categorical - Pearson's chi-square on the group x category table
(``chi2_contingency``; scipy applies Yates' continuity correction only to 2 x 2 tables, and the
test's name says so). Where an expected count is below 5, where the chi-square approximation is
not trusted (Cochran 1954), a 2 x 2 table gets Fisher's exact test (``fisher_exact``; statistic:
the odds ratio) and a larger one the chi-square statistic with a permutation p-value
(``chi2_contingency(method=PermutationMethod)``, 9,999 permutations, seeded); continuous - one-way ANOVA (``f_oneway``), Kruskal-Wallis (``kruskal``), or
for two groups Student's or Welch's t-test (``ttest_ind``). Missing values are left out of each
covariate and counted in ``n_missing``.

The unit is the patient (one row of ``patients`` each): every row carries ``unit``, ``n_units``
(patients in the table, i.e. with a group) and ``n_samples`` (the study's samples of those
patients when the caller gives them; otherwise the patient count again, as the table itself has
no samples).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cardiolens.stats.units import UNIT

CONTINUOUS_TESTS = ("anova", "kruskal", "student", "welch")


#: Permutations of the chi-square test of a table larger than 2 x 2 with expected counts below 5.
PERMUTATIONS = 9999


def categorical_test(table: np.ndarray) -> dict[str, Any]:
    """Test of independence of a (groups x categories) count table (module docstring): chi-square,
    or with an expected count below 5 Fisher's exact test (2 x 2) or a permutation chi-square."""
    from scipy.stats import PermutationMethod, chi2_contingency, fisher_exact
    from scipy.stats.contingency import expected_freq

    table = np.asarray(table)
    table = table[:, table.sum(0) > 0]
    table = table[table.sum(1) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return {"test": "chi-square (not computable: one group or category)", "statistic": None, "dof": None, "p_value": None}
    dof = float((table.shape[0] - 1) * (table.shape[1] - 1))
    if expected_freq(table).min() < 5:
        if table.shape == (2, 2):
            res = fisher_exact(table)
            return {"test": "Fisher exact (expected count < 5; statistic: odds ratio)", "statistic": float(res.statistic),
                    "dof": None, "p_value": float(res.pvalue)}
        res = chi2_contingency(table, correction=False,
                               method=PermutationMethod(n_resamples=PERMUTATIONS, rng=np.random.default_rng(0)))
        return {"test": f"chi-square, permutation p ({PERMUTATIONS} permutations; expected count < 5)",
                "statistic": float(res.statistic), "dof": dof, "p_value": float(res.pvalue)}
    res = chi2_contingency(table)
    name = "chi-square (Yates)" if res.dof == 1 else "chi-square"
    return {"test": name, "statistic": float(res.statistic), "dof": float(res.dof), "p_value": float(res.pvalue)}


def continuous_test(samples: list[np.ndarray], test: str) -> dict[str, Any]:
    """One test across the groups' values (see the module docstring)."""
    from scipy import stats

    samples = [s for s in samples if len(s)]
    if len(samples) < 2 or any(len(s) < 2 for s in samples):
        return {"test": f"{test} (not computable: fewer than two groups with two values)", "statistic": None, "dof": None, "p_value": None}
    if test == "anova":
        r = stats.f_oneway(*samples)
        n = sum(len(s) for s in samples)
        return {"test": "one-way ANOVA", "statistic": float(r.statistic), "dof": float(len(samples) - 1), "p_value": float(r.pvalue),
                "dof2": float(n - len(samples))}
    if test == "kruskal":
        r = stats.kruskal(*samples)
        return {"test": "Kruskal-Wallis", "statistic": float(r.statistic), "dof": float(len(samples) - 1), "p_value": float(r.pvalue)}
    if len(samples) != 2:
        raise ValueError(f"{test} t-test needs exactly two groups, got {len(samples)}")
    r = stats.ttest_ind(samples[0], samples[1], equal_var=test == "student")
    return {"test": "Student t-test" if test == "student" else "Welch t-test", "statistic": float(r.statistic),
            "dof": float(r.df), "p_value": float(r.pvalue)}


def table1(patients: pd.DataFrame, group: str, categorical: list[str], continuous: list[str], summary: str = "mean_sd",
           test: str = "anova", groups: list[str] | None = None, n_samples: int | None = None) -> pd.DataFrame:
    """Long-format Table 1: one row per (variable, category or None, group incl. 'all').

    Args:
        patients: one row per patient with the ``group`` column and the covariates.
        summary: mean_sd or median_iqr for continuous covariates.
        test: one of CONTINUOUS_TESTS.
        groups: group order (default: sorted values present).
        n_samples: the study's samples of the patients with a group; None: the patient count.
    Returns:
        the rows, with ``unit`` (patient), ``n_units`` (patients with a group) and ``n_samples``.
    """
    if test not in CONTINUOUS_TESTS:
        raise ValueError(f"unknown continuous test {test!r}; one of {CONTINUOUS_TESTS}")
    df = patients[patients[group].notna()]
    order = groups or sorted(df[group].unique())
    rows: list[dict[str, Any]] = []
    n_by = {g: int((df[group] == g).sum()) for g in order}
    for g in order + ["all"]:
        rows.append({"variable": "n", "kind": "count", "category": None, "group": g, "n": n_by.get(g, len(df)),
                     "summary": str(n_by.get(g, len(df)))})
    for var in categorical:
        known = df[df[var].notna()]
        cats = sorted(known[var].astype(str).unique())
        counts = np.array([[int(((known[group] == g) & (known[var].astype(str) == c)).sum()) for c in cats] for g in order])
        t = categorical_test(counts)
        for j, c in enumerate(cats):
            for i, g in enumerate(order + ["all"]):
                k = int(counts[:, j].sum()) if g == "all" else int(counts[i, j])
                tot = int(counts.sum()) if g == "all" else int(counts[i].sum())
                pct = 100.0 * k / tot if tot else None
                rows.append({"variable": var, "kind": "categorical", "category": c, "group": g, "n": k, "percent": pct,
                             "summary": f"{k} ({pct:.1f} %)" if pct is not None else str(k),
                             "n_missing": int(df.loc[(df[group] == g) if g != "all" else slice(None), var].isna().sum()), **t})
    for var in continuous:
        vals = {g: pd.to_numeric(df.loc[df[group] == g, var], errors="coerce") for g in order}
        vals["all"] = pd.to_numeric(df[var], errors="coerce")
        t = continuous_test([vals[g].dropna().to_numpy(float) for g in order], test)
        t.pop("dof2", None)
        for g in order + ["all"]:
            v = vals[g].dropna()
            q1, med, q3 = (v.quantile([0.25, 0.5, 0.75]).tolist() if len(v) else (None, None, None))
            mean, sd = (float(v.mean()) if len(v) else None), (float(v.std()) if len(v) > 1 else None)
            text = (f"{mean:.1f} ± {sd:.1f}" if summary == "mean_sd" and sd is not None else
                    f"{med:.1f} [{q1:.1f}, {q3:.1f}]" if med is not None else "-")
            rows.append({"variable": var, "kind": "continuous", "category": None, "group": g, "n": len(v), "summary": text,
                         "mean": mean, "sd": sd, "median": med, "q1": q1, "q3": q3, "n_missing": int(vals[g].isna().sum()), **t})
    cols = ["variable", "kind", "category", "group", "n", "percent", "summary", "mean", "sd", "median", "q1", "q3",
            "n_missing", "test", "statistic", "dof", "p_value"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    out["n_missing"] = out["n_missing"].fillna(0).astype("int64")
    return out.assign(unit=UNIT, n_units=len(df), n_samples=len(df) if n_samples is None else int(n_samples))
