"""Small HTML pages for the Snakemake report: a study's key tables, and the configuration with
the provenance of every table (the report embeds them beside the figures).

Pages are static HTML (pandas ``to_html``), no scripts, so the report stays self-contained.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

STYLE = ("<style>body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse;margin:6px 0 18px}"
         "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right} th{background:#eee}</style>")


def _ci(v: float, lo: float, hi: float) -> str:
    if pd.isna(v):
        return "-"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if pd.notna(lo) and pd.notna(hi) else f"{v:.3f}"


def _level(perf: pd.DataFrame) -> str:
    """'95 % CI' from a performance table's ``ci_level`` (:func:`cardiolens.summary.ci_label`)."""
    from cardiolens.summary import ci_label

    return ci_label(perf["ci_level"] if "ci_level" in perf.columns else [])


def performance_summary(perf: pd.DataFrame) -> pd.DataFrame:
    """One row per (level, role, metric, class): pooled value [CI] (or the single fold's) and mean ± SD across folds."""
    label = _level(perf)
    rows = []
    for (level, role, metric, cls), g in perf.groupby(["level", "role", "metric", "class"], dropna=False, sort=False):
        pooled = g[g["scope"] == "pooled"]
        one = pooled if len(pooled) else g[g["scope"] == "fold"]
        across = g[g["scope"] == "across_folds"]
        r = one.iloc[0] if len(one) == 1 else None
        rows.append({"level": level, "role": role, "metric": metric, "class": "" if pd.isna(cls) else cls,
                     f"value [{label}]": _ci(r["value"], r["ci_low"], r["ci_high"]) if r is not None else "-",
                     "CI method": str(r["ci_method"]) if r is not None and "ci_method" in r and pd.notna(r["ci_method"]) else "-",
                     "mean ± SD across folds": f"{across['value'].iloc[0]:.3f} ± {across['sd'].iloc[0]:.3f}" if len(across) else "-",
                     "patients": int(one["n_patients"].max()) if len(one) else 0})
    return pd.DataFrame(rows)


def heart_mass_summary(groups: pd.DataFrame, label: str = "95 % CI") -> pd.DataFrame:
    """One row per (method, target kind, correct) of ``attribution_groups`` over all classes: the
    heart mass [``label``, the CIs' level] at the patient level, its chance level and the excess
    over it [CI], the pointing-game rate and the outside-the-heart rate [CI], with the patients
    counted."""
    g = groups[groups["class"] == "all"]
    rows = []
    for r in g.itertuples():
        rows.append({"method": r.method, "target": r.target_kind, "predictions": "correct" if r.correct else "wrong",
                     f"heart mass [{label}]": _ci(r.mass_heart_patient_mean, r.mass_heart_ci_low, r.mass_heart_ci_high),
                     "chance level": "-" if pd.isna(r.mass_heart_uniform_patient_mean) else f"{r.mass_heart_uniform_patient_mean:.3f}",
                     f"excess [{label}]": _ci(r.mass_heart_excess_patient_mean, r.mass_heart_excess_ci_low, r.mass_heart_excess_ci_high),
                     "pointing game": "-" if pd.isna(r.pointing_hit_rate) else f"{r.pointing_hit_rate:.3f}",
                     f"outside the heart [{label}]": _ci(r.outside_heart_rate, r.outside_heart_ci_low, r.outside_heart_ci_high),
                     "patients": int(r.mass_heart_n_units), "maps": int(r.n)})
    return pd.DataFrame(rows)


def table1_wide(cohort: pd.DataFrame) -> pd.DataFrame:
    c = cohort.copy()
    c["row"] = c["variable"] + c["category"].map(lambda v: f" = {v}" if isinstance(v, str) else "")
    wide = c.pivot_table(index="row", columns="group", values="summary", aggfunc="first", sort=False)
    tests = c.groupby("row", sort=False).agg(test=("test", "first"), statistic=("statistic", "first"), p=("p_value", "first"))
    out = wide.join(tests)
    out["statistic"] = out["statistic"].map(lambda v: f"{v:.2f}" if pd.notna(v) else "")
    out["p"] = out["p"].map(lambda v: f"{v:.4f}" if pd.notna(v) else "")
    return out.fillna("").reset_index()


def write_html(path: Path, title: str, sections: list[tuple[str, str]]) -> None:
    body = "".join(f"<h3>{html.escape(h)}</h3>{content}" for h, content in sections)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{STYLE}</head>"
                   f"<body><h2>{html.escape(title)}</h2>{body}</body></html>", encoding="utf-8")
    os.replace(tmp, path)


def study_page(out_dir: Path, study: str) -> Path:
    """``tables.html`` of a study from the tables in ``out_dir``."""
    sections = []
    perf = pd.read_parquet(out_dir / "performance.parquet")
    label = _level(perf)
    sections.append((f"Performance (pooled over folds, {label} counting patients)", performance_summary(perf).to_html(index=False)))
    sections.append(("Cohort (Table 1)", table1_wide(pd.read_parquet(out_dir / "cohort.parquet")).to_html(index=False)))
    sub = pd.read_parquet(out_dir / "subgroups.parquet")
    if len(sub):
        sub = sub.assign(**{f"estimate [{label}]": [_ci(r.estimate, r.ci_low, r.ci_high) for r in sub.itertuples()]})
        sections.append(("Subgroups", sub[["level", "role", "subgroup", "value", "metric", f"estimate [{label}]", "ci_method", "n_patients"]]
                         .to_html(index=False)))
    if (out_dir / "attribution_groups.parquet").exists():
        heart = heart_mass_summary(pd.read_parquet(out_dir / "attribution_groups.parquet"), label)
        if len(heart):
            sections.append(("Attribution inside the heart (heart mass and excess: mean of per-patient means, patient "
                             "bootstrap CI; chance level: a map spread evenly over the input that is not black, the null of "
                             "methods that give black nothing; pointing game and outside-the-heart: rates over maps, the "
                             "latter with the CI of attribution_groups.ci_method)", heart.to_html(index=False)))
    for name, title in (("attribution_tests", "Attribution, correct vs incorrect predictions"),
                        ("quality_correlation", "Regional image quality vs labels (Spearman)")):
        if (out_dir / f"{name}.parquet").exists():
            t = pd.read_parquet(out_dir / f"{name}.parquet")
            sections.append((title, t.to_html(index=False, float_format=lambda v: f"{v:.4g}")))
    path = out_dir / "tables.html"
    write_html(path, f"{study}: key tables", sections)
    return path


def motion_page(out_dir: Path, study: str) -> Path:
    """``motion.html``: the class comparison of the motion measures as the seed paper reports it
    (mean ± SD per class, p-values), then the per-patient table."""
    groups = pd.read_parquet(out_dir / "motion_groups.parquet")
    sections = []
    if len(groups):
        g = groups.assign(**{
            "a (mean ± SD)": [f"{r.group_a}: {r.mean_a:.3g} ± {r.sd_a:.2g} (n {r.n_a})" if pd.notna(r.sd_a) else f"{r.group_a}: n {r.n_a}"
                              for r in groups.itertuples()],
            "b (mean ± SD)": [f"{r.group_b}: {r.mean_b:.3g} ± {r.sd_b:.2g} (n {r.n_b})" if pd.notna(r.sd_b) else f"{r.group_b}: n {r.n_b}"
                              for r in groups.itertuples()]})
        sections.append(("Motion by class, patient level", g[["segment", "measure", "a (mean ± SD)", "b (mean ± SD)", "test", "p_value",
                                                               "correction", "p_adjusted"]].to_html(index=False, float_format=lambda v: f"{v:.3g}")))
    per = pd.read_parquet(out_dir / "motion_patients.parquet")
    sections.append(("Per patient: motion and saliency", per.drop(columns=["study"]).to_html(index=False, float_format=lambda v: f"{v:.3g}")))
    path = out_dir / "motion.html"
    write_html(path, f"{study}: motion and saliency", sections)
    return path


def confusion_wide(confusion: pd.DataFrame, role: str = "test") -> pd.DataFrame:
    """Counts summed across folds (the ``CONFUSION`` rows whose fold is null), true class (rows) by
    predicted class (columns), of one role."""
    c = confusion[(confusion["role"] == role) & confusion["fold"].isna()]
    if c.empty:
        return pd.DataFrame()
    wide = c.pivot_table(index="true", columns="pred", values="count", aggfunc="sum", fill_value=0)
    return wide.rename_axis(index="true \\ predicted", columns=None).reset_index()


def indices_page(out_dir: Path, study: str, diagnoses: pd.DataFrame) -> Path:
    """``diagnoses.html`` of a study's indices classifier (``out_dir`` = ``results/stats/<study>/indices``):
    its patient-level performance with the CIs and n of ``performance.parquet``, the confusion
    matrix, the paired comparison with the image model, then one row per patient with the
    diagnosis and the indices that moved it (``INDICES_DIAGNOSES.explanation``, e.g. "DCM (p 0.91):
    LV EF 28.0 % (median 61.2, +0.30), ...")."""
    sections = []
    perf = pd.read_parquet(out_dir / "performance.parquet")
    sections.append(("Performance (patient level, pooled over folds)", performance_summary(perf).to_html(index=False)))
    conf = confusion_wide(pd.read_parquet(out_dir / "confusion.parquet"))
    if len(conf):
        sections.append(("Confusion, test patients of every fold", conf.to_html(index=False)))
    comp = pd.read_parquet(out_dir / "comparison.parquet")
    if len(comp):
        sections.append(("Image model (a) vs indices model (b), paired on patients",
                         comp[["role", "test", "class", "n_pairs", "estimate_a", "estimate_b", "a_only_correct", "b_only_correct",
                               "statistic", "p_value"]].to_html(index=False, float_format=lambda v: f"{v:.3g}")))
    per = diagnoses.sort_values(["role", "fold", "patient_key"], kind="stable")
    per = per.assign(p=per["probability"].map(lambda v: f"{v:.2f}"), correct=per["correct"].map({True: "yes", False: "no"}))
    sections.append(("Per patient: the diagnosis and the indices behind it",
                     per[["patient_key", "fold", "role", "y_true", "y_pred", "p", "correct", "explanation"]]
                     .rename(columns={"y_true": "truth", "y_pred": "diagnosis"}).to_html(index=False)))
    path = out_dir / "diagnoses.html"
    write_html(path, f"{study}: diagnosis from cardiac indices", sections)
    return path


def provenance_page(path: Path, config: dict[str, Any], tables: list[str]) -> None:
    """The configuration (key redacted) and, per table, its producing rule, config hash, code
    version and input files with sha256 (from the Parquet schema metadata)."""
    from cardiolens.config import redact
    from cardiolens.tables import read_provenance

    rows = []
    for t in sorted(tables):
        p = read_provenance(t)
        rows.append({"table": t, "rule": p.get("rule"), "config sha256": (p.get("config") or {}).get("sha256", "")[:12],
                     "code": json.dumps(p.get("code", {}))[:80], "inputs": len(p.get("inputs", [])),
                     "input files (sha256)": "<br>".join(f"{html.escape(i['path'])} {i['sha256'][:12]}" for i in p.get("inputs", [])[:12])
                     + (" ..." if len(p.get("inputs", [])) > 12 else "")})
    conf = html.escape(yaml.safe_dump(redact(config), sort_keys=False))
    write_html(path, "Configuration and provenance", [("Configuration", f"<pre>{conf}</pre>"),
                                                     ("Provenance of every table", pd.DataFrame(rows).to_html(index=False, escape=False))])
