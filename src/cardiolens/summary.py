"""The run's headline: one row per study, model and level, from the tables the run already wrote.

Model ``image`` is the study's network; a study with cardiac indices (``studies.<name>.indices``)
adds a row for the classifier on them (model ``indices``, patient level, the same splits and
role; its explanations are the per-patient feature attributions of the diagnoses page, not maps)
and one for the soft vote of the two (model ``combined``, :mod:`cardiolens.stats.combine`).

``results/summary.parquet`` (schema ``cardiolens.tables.registry.SUMMARY``) answers "what did each
study find?" without opening a notebook: cohort size, the headline metrics of the final split role
with their CIs (pooled over folds; the CI, its n and its ``ci_method`` come from
``performance.parquet``, whose intervals count patients), the attribution verdict of the study's
gallery method, and the warnings a reader must check before trusting the numbers:

- ``possible shortcut``: a group of maps mostly attends outside the heart
  (``cardiolens.attribute.stage.shortcut_warnings``);
- ``imbalance``: a role differs from training by |SMD| > 0.1 in the label, sex or age
  (``cardiolens.split.balance.largest_imbalance``);
- ``degenerate maps``: maps that are constant (attribute nothing), counted per method;
- ``sanity check failed``: the maps do not depend on the learnt weights (Adebayo et al. 2018):
  they barely change when the weights are randomised, or are constant;
- ``degenerate interval``: every bootstrap replicate gave the same value (small n): there is no
  confidence interval (the performance table leaves it null and says so in ``ci_method``).

Pure functions here; `run_summary` reads and writes the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HEADLINE = {"classification": ("accuracy", "auc"), "regression": ("mae", "spearman")}
CI_METHOD = {"classification": "patient bootstrap, stratified by class, percentile (scipy.stats.bootstrap)",
             "regression": "patient bootstrap, percentile (scipy.stats.bootstrap)"}


DEGENERATE = "none: degenerate bootstrap"


def ci_method(task: str, n_targets: int, has_ci: bool, table_methods: tuple[str | None, ...] = ()) -> str:
    """How the headline's interval was obtained, or why there is none: the performance table's
    ``ci_method`` of the headline metrics where it has one (both named when they differ)."""
    if n_targets > 1:
        return f"none: mean over {n_targets} targets; each target's CI is in performance.parquet"
    known = [m for m in table_methods if m]
    if known:
        return known[0] if len(set(known)) == 1 else "; ".join(known)
    return CI_METHOD[task] if has_ci else "none: the bootstrap gave no interval (too few patients or classes)"


def _metric(perf: pd.DataFrame, metric: str) -> tuple[float | None, float | None, float | None, int, int, str | None]:
    """(value, ci_low, ci_high, n_samples, n_patients, ci_method or None) of an overall metric;
    regression metrics with several targets give the mean over targets and no CI (each target's
    CI is in the table)."""
    rows = perf[perf["metric"] == metric]
    if rows.empty:
        return None, None, None, 0, 0, None
    overall = rows[rows["class"].isna()]
    pick = overall if len(overall) else rows
    n_s, n_p = int(pick["n_samples"].max()), int(pick["n_patients"].max())
    if len(pick) == 1:
        r = pick.iloc[0]
        method = r["ci_method"] if "ci_method" in pick.columns and not _missing(r["ci_method"]) else None
        return (_num(r["value"]), _num(r["ci_low"]), _num(r["ci_high"]), n_s, n_p, method)
    return _num(pick["value"].mean()), None, None, n_s, n_p, None


def _num(v: Any) -> float | None:
    return None if _missing(v) else float(v)


def _missing(v: Any) -> bool:
    """None, NaN or pandas' NA (what a nullable Parquet column gives back)."""
    return v is None or bool(pd.isna(v)) if not isinstance(v, (list, tuple, np.ndarray)) else False


def headline_rows(study: str, label: str, perf: pd.DataFrame, role: str) -> list[dict[str, Any]]:
    """Per level: the headline metrics of ``role``, pooled over folds (or the single fold)."""
    rows = []
    for level in ("patient", "sample"):
        p = perf[(perf["level"] == level) & (perf["role"] == role)]
        if p.empty:
            continue
        scope = "pooled" if (p["scope"] == "pooled").any() else "fold"
        p = p[p["scope"] == scope]
        task = str(p["task"].iloc[0])
        m1, m2 = HEADLINE[task]
        v1, lo1, hi1, n_s, n_p, how1 = _metric(p, m1)
        v2, lo2, hi2, _, _, how2 = _metric(p, m2)
        n_targets = int(p.loc[p["metric"] == m1, "class"].nunique()) if task == "regression" else 1
        rows.append({"study": study, "task": task, "label": label, "level": level, "role": role,
                     "n_scored": n_p if level == "patient" else n_s, "n_patients_scored": n_p,
                     "metric": m1, "value": v1, "ci_low": lo1, "ci_high": hi1,
                     "metric_2": m2, "value_2": v2, "ci_low_2": lo2, "ci_high_2": hi2,
                     "ci_level": float(p["ci_level"].iloc[0]) if "ci_level" in p.columns else None,
                     "ci_method": ci_method(task, n_targets, lo1 is not None,
                                            (f"{m1}: {how1}" if how1 and how2 and how1 != how2 else how1,
                                             f"{m2}: {how2}" if how1 and how2 and how1 != how2 else how2)),
                     "_degenerate": [m for m, how in ((m1, how1), (m2, how2)) if how and how.startswith(DEGENERATE)],
                     "_no_interval": [f"{m}: {how.removeprefix('none: ')}" for m, how in ((m1, how1), (m2, how2))
                                      if how and how.startswith("none: ") and not how.startswith(DEGENERATE)]})
    # A level that adds nothing (one sample per patient) is dropped: the patient row says it all.
    if len(rows) == 2 and rows[0]["n_scored"] == rows[1]["n_scored"]:
        rows = rows[:1]
    return rows


def attribution_verdict(summary: pd.DataFrame | None, methods: list[str]) -> dict[str, Any]:
    """Verdict of the first of ``methods`` present (the study's gallery method, then its configured
    methods) over all maps (predicted class, or each output)."""
    none = {"attribution_method": None, "sanity_passed": None, "outside_heart_rate": None, "pointing_hit_rate": None}
    if summary is None or summary.empty:
        return none
    method = next((m for m in methods if (summary["method"] == m).any()), str(summary["method"].iloc[0]))
    s = summary[(summary["method"] == method) & (summary["group"] == "all")]
    if s.empty:
        return {**none, "attribution_method": method}
    s = s[s["target_kind"] == "predicted"] if (s["target_kind"] == "predicted").any() else s
    n = s["n"].to_numpy(float)

    def weighted(col: str) -> float | None:
        v = pd.to_numeric(s[col], errors="coerce").to_numpy(float)
        ok = ~np.isnan(v) & (n > 0)
        if not ok.any():
            return None
        return float(v[ok][0]) if ok.sum() == 1 else float(np.average(v[ok], weights=n[ok]))

    passed = s["sanity_passed"].dropna()
    return {"attribution_method": method, "sanity_passed": bool(passed.all()) if len(passed) else None,
            "outside_heart_rate": weighted("outside_heart_rate"), "pointing_hit_rate": weighted("pointing_hit_rate")}


def degenerate_maps(maps: pd.DataFrame | None) -> list[str]:
    """Per method: maps that are constant (all zero after the [0, 1] normalisation), which
    attribute no pixel at all and give a NaN entropy in ``attribution.parquet``."""
    if maps is None or maps.empty:
        return []
    out = []
    for method, g in maps.groupby("method", sort=True):
        k = int(g["entropy"].isna().sum())
        if k:
            out.append(f"degenerate maps: {k} of {len(g)} {method} maps are constant (no attribution at all)")
    return out


def study_warnings(study: str, rows: list[dict[str, Any]], verdict: Mapping[str, Any], shortcut_lines: list[str],
                   imbalance: pd.DataFrame | None, smd_threshold: float, degenerate: list[str] | None = None) -> list[str]:
    """The warnings of one study (module docstring), most serious first, one line per kind."""
    out = [f"possible shortcut: {line.removeprefix(study + ' ').replace(' - possible shortcut', '')}"
           for line in shortcut_lines]
    out += degenerate or []
    if verdict.get("sanity_passed") is False:
        out.append(f"sanity check failed: {verdict['attribution_method']} maps do not depend on the learnt weights "
                   "(they barely change when the weights are randomised, or are constant)")
    if imbalance is not None and len(imbalance):
        worst = imbalance.loc[imbalance["smd_vs_train"].abs().idxmax()]
        if abs(float(worst["smd_vs_train"])) > smd_threshold:
            out.append(f"imbalance: {worst['role']} vs train differ in {worst['variable']} {worst['level']} "
                       f"(|SMD| {abs(float(worst['smd_vs_train'])):.2f} > {smd_threshold}, fold {int(worst['fold'])})")
    degenerate = [f"{m} ({r['level']}, n {r['n_patients_scored']} patients)" for r in rows
                  for m, lo, hi in ((r["metric"], r["ci_low"], r["ci_high"]), (r["metric_2"], r["ci_low_2"], r["ci_high_2"]))
                  if (lo is not None and hi is not None and lo == hi) or m in r.get("_degenerate", ())]
    if degenerate:
        out.append("degenerate interval, every bootstrap replicate gave the same value (few patients or perfect "
                   "separation): " + ", ".join(degenerate))
    missing = [f"{why} ({r['level']})" for r in rows for why in r.get("_no_interval", ())]
    if missing:
        out.append("no confidence interval, read the value as a description: " + "; ".join(missing))
    return out


def split_text(split: Mapping[str, Any], splits: pd.DataFrame) -> str:
    """'kfold, 5 folds', or for an external split the test sources ('external, test hospital_b,
    1 fold'), for a predefined one its column ('predefined (column centre_split), 1 fold')."""
    n_folds = int(splits["fold"].nunique())
    scheme = str(split["scheme"])
    if scheme == "external":
        scheme += f", test {', '.join(map(str, split.get('test_sources') or []))}"
    elif scheme == "predefined":
        scheme += f" (column {split.get('column', 'split')})"
    return f"{scheme}, {n_folds} fold{'s' if n_folds != 1 else ''}"


def summarise_study(study: str, cfg: Mapping[str, Any], perf: pd.DataFrame | None, attribution: pd.DataFrame | None,
                    balance: pd.DataFrame | None, splits: pd.DataFrame, role: str,
                    maps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of the summary table for one study (see the module docstring).

    Args:
        cfg: the study's configuration (label, split, attribute).
        perf: its ``performance.parquet`` (None when its statistics are off).
        attribution: its ``attribute/<study>/summary.parquet`` (None when not attributed).
        balance, splits: its split tables.
        role: the role scored (the last of ``stats.roles``).
        maps: its ``attribute/<study>/attribution.parquet`` (method and entropy are used).
    """
    from cardiolens.attribute.stage import shortcut_warnings
    from cardiolens.split.balance import SMD_WARNING, largest_imbalance

    split = split_text(cfg["split"], splits)
    rows = headline_rows(study, str(cfg["label"]), perf, role) if perf is not None else []
    if not rows:
        rows = [{"study": study, "task": cfg["train"].get("task", "classification"), "label": str(cfg["label"]),
                 "level": "patient", "role": role, "n_scored": 0, "n_patients_scored": 0,
                 "metric": HEADLINE[cfg["train"].get("task", "classification")][0], "value": None, "ci_low": None,
                 "ci_high": None, "metric_2": HEADLINE[cfg["train"].get("task", "classification")][1], "value_2": None,
                 "ci_low_2": None, "ci_high_2": None, "ci_level": None, "ci_method": "none: statistics are off for this study"}]
    acfg = cfg.get("attribute") or {}
    methods = [m for m in [(acfg.get("gallery") or {}).get("method")] if m] + list(acfg.get("methods") or [])
    verdict = attribution_verdict(attribution, methods)
    threshold = float(((cfg.get("attribute") or {}).get("outside_heart") or {}).get("threshold", 0.5))
    # group "all" (and "marker" on a shortcut cohort): "correct" would repeat "all" on a good model
    shortcut = (shortcut_warnings(attribution[attribution["group"].isin(["all", "marker"])], threshold)
                if attribution is not None and len(attribution) else [])
    imbalance = largest_imbalance(balance) if balance is not None and len(balance) else None
    warnings = study_warnings(study, rows, verdict, shortcut, imbalance, SMD_WARNING, degenerate_maps(maps))
    n_patients = int(splits["patient_key"].nunique())
    return pd.DataFrame([{**{k: v for k, v in r.items() if k not in ("_degenerate", "_no_interval")}, "model": "image", "split": split,
                          "n_patients": n_patients, **verdict, "warnings": warnings} for r in rows])


def summarise_indices(study: str, cfg: Mapping[str, Any], perf: pd.DataFrame, splits: pd.DataFrame,
                      role: str, model: str = "indices") -> pd.DataFrame:
    """The row of a study's indices classifier (model ``indices``, from
    ``results/stats/<study>/indices/performance.parquet``) or of its soft vote with the image model
    (model ``combined``, from ``combined_performance.parquet``): the patient-level headline of
    ``role``; no attribution verdict (the indices' explanations are per-patient feature
    attributions); warnings: a degenerate interval, prefixed with the model."""
    split = split_text(cfg["split"], splits)
    rows = [r for r in headline_rows(study, str(cfg["label"]), perf, role) if r["level"] == "patient"]
    who = {"indices": "indices classifier", "combined": "combined model"}[model]
    warnings = [f"{who}: {w}" for w in study_warnings(study, rows, {}, [], None, 0.0)]
    none = attribution_verdict(None, [])
    return pd.DataFrame([{**{k: v for k, v in r.items() if k not in ("_degenerate", "_no_interval")}, "model": model, "split": split,
                          "n_patients": int(splits["patient_key"].nunique()), **none, "warnings": warnings}
                         for r in rows])


def _fmt(v: Any, digits: int = 3) -> str:
    return "-" if _missing(v) else f"{v:.{digits}f}"


def ci_label(levels: Any) -> str:
    """'95 % CI' for the confidence levels of a table's CIs (0.95), all of them when they differ
    ('90 / 95 % CI'); 'CI' without any."""
    known = sorted({float(v) for v in levels if not _missing(v)})
    return f"{' / '.join(f'{100 * v:g}' for v in known)} % CI" if known else "CI"


def _ci(value: Any, low: Any, high: Any) -> str:
    if _missing(value):
        return "-"
    if _missing(low) or _missing(high):
        return _fmt(value)
    return f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"


def summary_lines(summary: pd.DataFrame) -> list[str]:
    """Plain-text table of the summary for the terminal: one line per study, model and level, then its flags."""
    if summary.empty:
        return ["cardiolens results: the summary has no study (every study is disabled)"]
    cells = []
    for r in summary.itertuples(index=False):
        n = f"{r.n_scored}" + (f"/{r.n_patients_scored}p" if r.level == "sample" else "p")
        head = f"{r.metric} {_ci(r.value, r.ci_low, r.ci_high)}"
        if not _missing(r.value_2):
            head += f", {r.metric_2} {_ci(r.value_2, r.ci_low_2, r.ci_high_2)}"
        attr = "-"
        if not _missing(r.attribution_method):
            sanity = "sanity ?" if _missing(r.sanity_passed) else ("sanity ok" if bool(r.sanity_passed) else "sanity FAILED")
            attr = f"{r.attribution_method}: {sanity}, outside {_fmt(r.outside_heart_rate, 2)}"
            if not _missing(r.pointing_hit_rate):
                attr += f", pointing {_fmt(r.pointing_hit_rate, 2)}"
        cells.append((r.study, r.model, r.level, n, head, attr))
    names = ("study", "model", "level", "n", f"headline ({ci_label(summary['ci_level'] if 'ci_level' in summary else [])})",
             "attribution")
    widths = [max(len(names[i]), *(len(c[i]) for c in cells)) for i in range(5)]

    def line(c: tuple[str, ...]) -> str:
        return (f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:<{widths[2]}}  {c[3]:>{widths[3]}}  "
                f"{c[4]:<{widths[4]}}  {c[5]}").rstrip()

    header = line(names)
    lines = ["cardiolens results (results/summary.parquet; role scored: " + ", ".join(sorted(set(summary["role"])))
             + "; n: patients p, or samples/patients)", header, "-" * len(header)] + [line(c) for c in cells]
    seen: set[str] = set()
    for r in summary.itertuples(index=False):
        for w in r.warnings:
            key = f"{r.study}: {w}"
            if key not in seen:
                seen.add(key)
                lines.append(f"  ! {key}")
    return lines


def summary_rst(summary: pd.DataFrame, intro: str, rejected: pd.DataFrame | None = None) -> str:
    """The report's front page: ``intro`` (the workflow description), the summary as an RST table,
    each study's warnings as a list, then the rejected input files counted by reason."""
    level = ci_label(summary["ci_level"] if "ci_level" in summary else [])
    cols = ["study", "model", "level", "n", f"headline ({level})", f"second metric ({level})", "attribution"]
    out = [intro.rstrip(), "", "Results summary", "---------------", "",
           "One row per study, model and level, from ``results/summary.parquet`` (``cardiolens summary`` prints it): "
           "model image is the study's network, indices the classifier on its cardiac indices, combined their soft vote; "
           "the role scored is the last of ``stats.roles``. CIs count patients (Wilson for a proportion of patients, "
           "else a bootstrap that resamples patients; ``ci_method`` in the table says which); "
           "n counts patients, or samples / patients.", "",
           ".. list-table::", "   :header-rows: 1", ""]
    out.append("   * - " + "\n     - ".join(cols))
    for r in summary.itertuples(index=False):
        attr = "not attributed"
        if r.model == "indices":
            attr = f"per-patient feature attributions: results/stats/{r.study}/indices/diagnoses.html"
        elif r.model == "combined":
            attr = "soft vote of the image and indices models (see their rows)"
        elif not _missing(r.attribution_method):
            sanity = "?" if _missing(r.sanity_passed) else ("passed" if bool(r.sanity_passed) else "failed")
            attr = (f"{r.attribution_method}: sanity {sanity}; outside the heart {_fmt(r.outside_heart_rate, 2)}; "
                    f"pointing game {_fmt(r.pointing_hit_rate, 2)}")
        n = f"{r.n_scored} patients" if r.level == "patient" else f"{r.n_scored} samples / {r.n_patients_scored} patients"
        cells = [f"{r.study} ({r.split})", r.model, r.level, n, f"{r.metric} {_ci(r.value, r.ci_low, r.ci_high)}",
                 f"{r.metric_2} {_ci(r.value_2, r.ci_low_2, r.ci_high_2)}", attr]
        out.append("   * - " + "\n     - ".join(_rst_text(c) for c in cells))
    out += ["", "Warnings", "~~~~~~~~", ""]
    any_warning = False
    for study, g in summary.groupby("study", sort=False):
        warnings = list(dict.fromkeys(w for ws in g["warnings"] for w in ws))
        if warnings:
            any_warning = True
            out.append(f"- **{study}**")
            out += ["", *[f"  - {_rst_text(w)}" for w in warnings], ""]
    if not any_warning:
        out.append("None.")
    if rejected is not None:
        counts = rejection_counts(rejected)
        out += ["", "Rejected inputs", "~~~~~~~~~~~~~~~", "",
                "Input files that no recording could use, by reason code (``results/ingest/rejected.parquet`` lists "
                "each with its message; dataset metadata files read by the adapters are not counted).", ""]
        out += [f"- ``{reason}``: {n} file{'s' if n != 1 else ''}" for reason, n in counts.items()] or ["None."]
    return "\n".join(out) + "\n"


def _rst_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|").replace("`", "\\`")


def balance_lines(balance: Mapping[str, pd.DataFrame], threshold: float = 0.1) -> list[str]:
    """One line per study and fold whose largest |SMD| (any role against training) exceeds ``threshold``."""
    from cardiolens.split.balance import describe_imbalance, largest_imbalance

    out = []
    for study, table in balance.items():
        for r in largest_imbalance(table).itertuples():
            if abs(float(r.smd_vs_train)) > threshold:
                out.append(f"  balance {describe_imbalance(r)}")
    return out


def rejection_counts(rejected: pd.DataFrame) -> pd.Series:
    """Rejected input files per reason code (``ancillary`` metadata files left out), most first,
    then by reason."""
    errors = rejected[rejected["reason"] != "ancillary"]
    counts = errors.groupby("reason").size()
    return counts.sort_index().sort_values(ascending=False, kind="stable")


def rejection_line(rejected: pd.DataFrame) -> str:
    """``rejected inputs: 3 files (truncated 2, not_dicom 1), see results/ingest/rejected.parquet``."""
    counts = rejection_counts(rejected)
    if not len(counts):
        return "  rejected inputs: none"
    parts = ", ".join(f"{reason} {n}" for reason, n in counts.items())
    return (f"  rejected inputs: {int(counts.sum())} file{'s' if counts.sum() != 1 else ''} ({parts}), "
            "see results/ingest/rejected.parquet")


def read_summary(path: str | Path) -> pd.DataFrame:
    """``results/summary.parquet``, validated; ``path`` may be the results folder."""
    from cardiolens.tables import read_table
    from cardiolens.tables.registry import SUMMARY

    p = Path(path)
    p = p / "summary.parquet" if p.is_dir() else p
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist: run the workflow first (snakemake --cores all)")
    return read_table(p, SUMMARY)


def run_summary(studies: Mapping[str, Mapping[str, Any]], files: Mapping[str, Mapping[str, str | None]], role: str,
                out_table: str, out_rst: str, intro_path: str, rule: str = "summary",
                rejected_path: str | None = None) -> pd.DataFrame:
    """Read each study's tables (``files[study]``: performance, attribution, maps, balance, splits and
    indices_performance and combined_performance, each None where the run has none), write
    the summary table and the report's front page (with the rejected inputs of ``rejected_path``
    counted by reason); returns the table."""
    from cardiolens import provenance
    from cardiolens.tables import read_table, write_table
    from cardiolens.tables.registry import ATTRIBUTION, ATTRIBUTION_SUMMARY, BALANCE, PERFORMANCE, SPLITS, SUMMARY

    parts, inputs = [], []
    for study, cfg in studies.items():
        f = files[study]
        inputs += [p for p in f.values() if p]
        perf = read_table(f["performance"], PERFORMANCE) if f.get("performance") else None
        attribution = read_table(f["attribution"], ATTRIBUTION_SUMMARY) if f.get("attribution") else None
        maps = read_table(f["maps"], ATTRIBUTION)[["method", "entropy"]] if f.get("maps") else None
        splits = read_table(f["splits"], SPLITS)
        parts.append(summarise_study(study, cfg, perf, attribution, read_table(f["balance"], BALANCE), splits, role, maps))
        for model in ("indices", "combined"):
            if f.get(f"{model}_performance"):
                parts.append(summarise_indices(study, cfg, read_table(f[f"{model}_performance"], PERFORMANCE), splits, role,
                                               model))
    table = pd.concat(parts, ignore_index=True).reindex(columns=SUMMARY.names)
    table["n_scored"] = table["n_scored"].astype("int64")
    table["n_patients_scored"] = table["n_patients_scored"].astype("int64")
    table["n_patients"] = table["n_patients"].astype("int64")
    write_table(table, out_table, SUMMARY, provenance.build(rule, provenance.describe_inputs(inputs),
                                                             {"studies": dict(studies), "role": role}))
    rst = Path(out_rst)
    tmp = rst.with_name(rst.name + ".tmp")
    rejected = None
    if rejected_path:
        from cardiolens.tables.registry import REJECTED

        rejected = read_table(rejected_path, REJECTED)
    tmp.write_text(summary_rst(table, Path(intro_path).read_text(encoding="utf-8"), rejected), encoding="utf-8")
    tmp.replace(rst)
    return table
