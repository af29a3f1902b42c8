"""The stats stage: files in, tables and figures out (pure computation in the sibling modules).

Per study (``results/stats/<study>/``): ``performance``, ``confusion`` (classification),
``subgroups``, ``cohort`` (Table 1 by the study's label), ``attribution_groups`` and
``attribution_tests`` (when the study was attributed), ``quality`` and ``quality_correlation``
(``stats.image_quality``), and ``figures/``. Across studies: ``results/stats/comparisons.parquet``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from cardiolens import provenance
from cardiolens.tables import read_table, write_table
from cardiolens.tables.registry import (ATTRIBUTION, ATTRIBUTION_GROUPS, ATTRIBUTION_TESTS, COHORT, COMPARISONS, CONFUSION, MOTION,
                                        MOTION_GROUPS, MOTION_PATIENTS,
                                        PATIENTS, PERFORMANCE, QUALITY, QUALITY_CORRELATION, RECORDINGS, SAMPLES, SUBGROUPS,
                                        predictions_schema, regression_predictions_schema)

log = logging.getLogger(__name__)


def stats_slice(config: dict[str, Any], study: str) -> dict[str, Any]:
    """Configuration one study's statistics depend on."""
    s = config["studies"][study]
    return {"study": study, "label": s["label"], "classes": list(s.get("classes") or []), "seed": config["seed"],
            "stats": {k: v for k, v in config["stats"].items() if k != "comparisons"},
            "study_stats": s["stats"], "septum_side": (s.get("mmode") or {}).get("septum_side", "left")}


def motion_stats_slice(config: dict[str, Any], study: str) -> dict[str, Any]:
    """Configuration the motion statistics of one study depend on."""
    s = config["studies"][study]
    return {"study": study, "label": s["label"], "group_tests": config["stats"]["group_tests"],
            "saliency_method": s["motion"]["saliency_method"]}


def read_predictions(path: str | os.PathLike[str], level: str) -> pd.DataFrame:
    """A train-stage prediction table, validated against the schema its columns declare."""
    names = pq.read_schema(path).names
    classes = [n[2:] for n in names if n.startswith("p_")]
    schema = (predictions_schema(classes, level) if classes else
              regression_predictions_schema([n[5:] for n in names if n.startswith("pred_")], level))
    return read_table(path, schema)


def study_patients(patients: pd.DataFrame, samples: pd.DataFrame, label: str) -> pd.DataFrame:
    """Patients with samples in the study, with the study's label as ``group``: the patients
    table's label column, or (labels such as image quality that are not a patient column) the
    patient's most frequent sample label."""
    p = patients[patients["patient_key"].isin(samples["patient_key"])].copy()
    if label in p.columns:
        p["group"] = p[label]
    else:
        mode = samples.groupby("patient_key")["label"].agg(lambda v: v.mode().iloc[0])
        p["group"] = p["patient_key"].map(mode)
    return p


def run_study(predictions: str, patient_predictions: str, patients_path: str, recordings_path: str, samples_path: str,
              attribution_path: str | None, out_dir: str, cslice: dict[str, Any], rule: str = "stats_study") -> None:
    from cardiolens.plotting import save_figure
    from cardiolens.stats import figures as F
    from cardiolens.stats.attribution import by_class_and_correctness, correctness_tests
    from cardiolens.stats.cohort import table1
    from cardiolens.stats.performance import classes_of, confusion_table, performance, task_of
    from cardiolens.stats.subgroups import subgroups

    out = Path(out_dir)
    study, cfg, seed = cslice["study"], cslice["stats"], int(cslice["seed"])
    boot = cfg["bootstrap"]
    tables = {"sample": read_predictions(predictions, "sample"), "patient": read_predictions(patient_predictions, "patient")}
    patients = read_table(patients_path, PATIENTS)
    inputs = [predictions, patient_predictions, patients_path, samples_path]
    log.info("%s: performance (%d bootstrap replicates per estimate)", study, boot["resamples"])
    perf = performance(tables, study, cfg["roles"], boot["resamples"], boot["confidence"], seed)
    conf = confusion_table(tables, study, cfg["roles"])
    log.info("%s: subgroups", study)
    sub = subgroups(tables, patients, study, cfg["roles"], boot["resamples"], boot["confidence"], seed)
    t1cfg = cfg["table1"]
    samples = read_table(samples_path, SAMPLES)
    cohort_patients = study_patients(patients, samples, cslice["label"])
    n_groups = cohort_patients["group"].nunique()
    test = t1cfg["test"] if n_groups == 2 or t1cfg["test"] in ("anova", "kruskal") else "anova"
    if test != t1cfg["test"]:
        log.warning("%s: Table 1 has %d groups; the %s t-test needs two, one-way ANOVA is used instead", study, n_groups, t1cfg["test"])
    in_table = cohort_patients.loc[cohort_patients["group"].notna(), "patient_key"]
    cohort = table1(cohort_patients, "group", t1cfg["categorical"], t1cfg["continuous"], t1cfg["summary"], test,
                    n_samples=int(samples["patient_key"].isin(in_table).sum()))
    written: dict[str, Any] = {}
    figs: list[Path] = []
    fig_dir = out / "figures"
    classification = task_of(tables["sample"]) == "classification"
    for level, preds in tables.items():
        test_preds = preds[preds["role"] == cfg["roles"][-1]]
        if classification and len(test_preds):
            positive = (cslice.get("classes") or [None])[0]
            figs += save_figure(F.roc_figure(test_preds, f"{study}: ROC, {level} level", boot["resamples"], boot["confidence"], seed,
                                             positive), fig_dir / f"roc_{level}")
            c = conf[(conf["level"] == level) & conf["fold"].isna() & (conf["role"] == cfg["roles"][-1])]
            figs += save_figure(F.confusion_figure(c, classes_of(preds), f"{study}: {level} level, summed over folds"),
                           fig_dir / f"confusion_{level}")
    s = sub[(sub["level"] == "patient") & (sub["metric"].isin(["accuracy", "mae"]))]
    if len(s):
        figs += save_figure(F.forest_figure(s, f"{study}: patient-level {s['metric'].iloc[0]} by subgroup"), fig_dir / "subgroups")
    if attribution_path:
        attribution = read_table(attribution_path, ATTRIBUTION)
        inputs.append(attribution_path)
        gcfg = cfg["group_tests"]
        written["attribution_groups"] = (by_class_and_correctness(attribution, boot["confidence"], boot["resamples"], seed),
                                         ATTRIBUTION_GROUPS)
        written["attribution_tests"] = (correctness_tests(attribution, gcfg["test"], gcfg["correction"]), ATTRIBUTION_TESTS)
        if attribution["correct"].notna().any():
            figs += save_figure(F.box_figure(attribution[attribution["correct"].notna()], "mass_heart",
                                        f"{study}: attribution inside the heart"), fig_dir / "groups_mass_heart")
    if cslice["study_stats"]["image_quality"]:
        q, qc = study_quality(recordings_path, samples_path, study, cslice["septum_side"],
                              cslice["study_stats"]["gcnr_permutations"], cslice["seed"])
        inputs.append(recordings_path)
        written["quality"], written["quality_correlation"] = (q, QUALITY), (qc, QUALITY_CORRELATION)
    prov_inputs = provenance.describe_inputs(inputs)
    extra = {"figures": sorted(str(f) for f in figs)}
    for name, (df, schema) in {"performance": (perf, PERFORMANCE), "confusion": (conf, CONFUSION), "subgroups": (sub, SUBGROUPS),
                               "cohort": (cohort, COHORT), **written}.items():
        write_table(df.reindex(columns=schema.names), out / f"{name}.parquet", schema, provenance.build(rule, prov_inputs, cslice, extra))
    for r in perf[perf["class"].isna() & (perf["role"] == cfg["roles"][-1])].itertuples():
        if r.scope != "fold" or perf["scope"].eq("pooled").sum() == 0:
            log.info("%s %s %s %s: %.3f (%s)", study, r.level, r.scope, r.metric, r.value,
                     f"SD {r.sd:.3f}" if r.scope == "across_folds" else
                     f"CI {r.ci_low:.3f}-{r.ci_high:.3f}" if pd.notna(r.ci_low) else f"CI {r.ci_method}")


def run_motion(motion_path: str, attribution_path: str | None, out_dir: str, cslice: dict[str, Any],
               rule: str = "stats_motion") -> None:
    """``motion_patients`` and ``motion_groups`` of one study, their figures (``motion_figures/``)
    and a page with the group table (``motion.html``)."""
    from cardiolens.stats.pages import motion_page

    out = Path(out_dir)
    attribution = read_table(attribution_path, ATTRIBUTION) if attribution_path else None
    per, groups, figs = study_motion(motion_path, attribution, cslice["study"], cslice["saliency_method"], cslice["group_tests"],
                                     out / "motion_figures")
    inputs = provenance.describe_inputs([motion_path] + ([attribution_path] if attribution_path else []))
    prov = provenance.build(rule, inputs, cslice, {"figures": sorted(str(f) for f in figs)})
    write_table(per.reindex(columns=MOTION_PATIENTS.names), out / "motion_patients.parquet", MOTION_PATIENTS, prov)
    write_table(groups.reindex(columns=MOTION_GROUPS.names), out / "motion_groups.parquet", MOTION_GROUPS, prov)
    motion_page(out, cslice["study"])


def study_motion(motion_path: str, attribution: pd.DataFrame | None, study: str, method: str, gcfg: dict[str, Any],
                 fig_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[Path]]:
    """Per-patient motion joined with the saliency, its class comparison, and two figures
    (basal displacement curves per class; basal peak systolic displacement per class)."""
    from cardiolens.plotting import save_figure
    from cardiolens.stats import figures as F
    from cardiolens.stats.motion import cycle_curves, motion_group_tests, patient_motion

    motion = read_table(motion_path, MOTION)
    per_patient = patient_motion(motion, attribution, method)
    groups = motion_group_tests(per_patient, gcfg["test"], gcfg["correction"]) if len(per_patient) else pd.DataFrame()
    for r in groups[(groups["measure"] == "peak_systolic_mm") & groups["segment"].str.startswith("basal")].itertuples() \
            if len(groups) else []:
        log.info("%s %s peak systolic displacement: %s %.2f +- %.2f vs %s %.2f +- %.2f mm (n %d vs %d), p %.2g", study, r.segment,
                 r.group_a, r.mean_a, r.sd_a or 0, r.group_b, r.mean_b, r.sd_b or 0, r.n_a, r.n_b, r.p_value)
    figs: list[Path] = []
    basal = [s for s in ("basal_inferoseptal", "basal_anterolateral") if (motion["segment"] == s).any()]
    if basal:
        curves = {s: cycle_curves(motion, s) for s in basal}
        if any(len(c) for c in curves.values()):
            figs += save_figure(F.motion_curves_figure(curves, f"{study}: basal longitudinal displacement"), fig_dir / "motion_curves")
        figs += save_figure(F.group_box_figure(per_patient[per_patient["segment"].isin(basal)], "peak_systolic_mm", "segment", "label",
                                               f"{study}: peak systolic displacement per patient (mm)"), fig_dir / "motion_peaks")
    return per_patient, groups, figs


def study_quality(recordings_path: str, samples_path: str, study: str, septum_side: str, n_permutations: int = 200,
                  seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`recordings_quality` of the recordings in the study's samples."""
    rec = read_table(recordings_path, RECORDINGS)
    ids = set(read_table(samples_path, SAMPLES)["recording_id"])
    return recordings_quality(rec[rec["recording_id"].isin(ids)], study, septum_side, n_permutations, seed)


def recordings_quality(rec: pd.DataFrame, study: str, septum_side: str = "left", n_permutations: int = 200,
                       seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Regional CR/CNR/gCNR and the gCNR permutation test (:mod:`cardiolens.stats.quality`;
    ``n_permutations`` per region, seeded by ``seed``) of the ED frame of every A4C recording with
    a mask, and their correlation with the labels, one pair per patient (:func:`quality_correlation`). Other
    views are skipped with a log line: the six regions are A4C walls. The histogram matching runs
    over the recording's sector, :func:`~cardiolens.ingest.sector.sector_from_frames` of all its
    frames (the recordings carry no sector geometry)."""
    import json

    import itk
    import numpy as np

    from cardiolens.prepare.landmarks import LandmarkError
    from cardiolens.ingest.sector import sector_from_frames
    from cardiolens.stats.quality import regional_quality

    rows = []
    for r in rec.sort_values("recording_id").itertuples():
        if r.view != "A4C" or not r.mask_path:
            log.info("%s: regional quality skipped (%s)", r.recording_id, "no mask" if r.view == "A4C" else f"view {r.view}, not A4C")
            continue
        img = itk.array_from_image(itk.imread(r.image_path))
        mask = itk.array_from_image(itk.imread(r.mask_path))
        ed = int(r.ed_frame) if pd.notna(r.ed_frame) else 0
        frame, m = (img[ed], mask[ed]) if img.ndim == 3 else (img, mask)
        sp = (float(r.spacing_y_mm) if pd.notna(r.spacing_y_mm) else 1.0, float(r.spacing_x_mm) if pd.notna(r.spacing_x_mm) else 1.0)
        try:
            q = regional_quality(frame, m.astype(np.uint8), sp, sector_from_frames(img), septum_side,
                                 n_permutations=n_permutations, seed=seed)
        except LandmarkError as exc:
            log.warning("%s: regional quality skipped: %s", r.recording_id, exc)
            continue
        grades = json.loads(Path(r.truth_path).read_text()).get("quality", {}) if isinstance(r.truth_path, str) and r.truth_path else {}
        q["grade"] = q["region"].map(lambda g: float(grades[g]) if g in grades else np.nan)
        rows.append(q.assign(study=study, recording_id=r.recording_id, patient_key=r.patient_key, frame=ed,
                             quality=r.quality if isinstance(r.quality, str) else None))
    q = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=QUALITY.names)
    qc = quality_correlation(q, study)
    for r in qc[qc["region"] == "all"].itertuples():
        log.info("%s: Spearman %s vs %s: rho %s (n %d %ss)", study, r.metric, r.label, "-" if pd.isna(r.rho) else f"{r.rho:.3f}",
                 r.n_units, r.unit)
    return q, qc


VIEW_QUALITY = {"Poor": 1, "Medium": 2, "Good": 3}
_NOT_MEASURED = ("frame", "n_pixels", "grade", "quality")


def quality_correlation(q: pd.DataFrame, study: str) -> pd.DataFrame:
    """Spearman's rho (:func:`cardiolens.stats.quality.spearman_table`) of each quality metric with
    the labels, one pair per patient (:mod:`cardiolens.stats.units`: a patient's recordings and
    regions are not independent):

    - per region: the patient's mean metric against its mean ground-truth grade in that region
      (means over its recordings);
    - region ``all``: per patient, the mean over its recordings of each recording's mean over
      regions, against the grade averaged the same way, and against the per-view quality label
      (Poor 1, Medium 2, Good 3) where there is one.

    Args:
        q: the quality table (one row per recording and region).
    Returns:
        QUALITY_CORRELATION rows; n = n_units (patients paired), n_samples (region measurements
        with both values).
    """
    from cardiolens.stats.quality import spearman_table
    from cardiolens.stats.units import UNIT, UNIT_COLUMN, to_unit

    measures = [c for c in q.columns if c not in _NOT_MEASURED and pd.api.types.is_numeric_dtype(q[c])]
    q = q.assign(quality=q["quality"].map(VIEW_QUALITY).astype(float))
    parts = []
    for label in ("grade", "quality"):
        if not q[label].notna().any():
            continue
        cols = [*measures, label]
        if label == "grade":
            per_region = to_unit(q, cols, by=["region"])
            parts.append(_with_counts(spearman_table(per_region, label, ["region"]), q, label))
        per_recording = to_unit(q, cols, by=[UNIT_COLUMN], unit_col="recording_id")
        per_patient = to_unit(per_recording, cols).assign(region="all")
        parts.append(_with_counts(spearman_table(per_patient, label, ["region"]), q.assign(region="all"), label))
    if not parts:
        return pd.DataFrame(columns=QUALITY_CORRELATION.names)
    out = pd.concat(parts, ignore_index=True)
    return out.assign(study=study, unit=UNIT, n_units=out["n"])


def _with_counts(table: pd.DataFrame, q: pd.DataFrame, label: str) -> pd.DataFrame:
    """``table`` with n_samples: rows of ``q`` in the row's region with both its metric and ``label``."""
    n = [int((q["region"].eq(r.region) & pd.to_numeric(q[r.metric], errors="coerce").notna() & q[label].notna()).sum())
         for r in table.itertuples()]
    return table.assign(n_samples=n)


def run_comparisons(comparisons: list[dict[str, Any]], files: dict[str, dict[str, str]], out_path: str, roles: list[str],
                    rule: str = "stats_comparisons", confidence: float = 0.95) -> None:
    """McNemar and DeLong rows of every declared comparison, at the patient level
    (:mod:`cardiolens.stats.compare`); ``n_samples`` counts study a's sample predictions of the
    paired patients.

    Args:
        files: {study: {"sample": predictions, "patient": patient_predictions}}.
    """
    from cardiolens.stats.compare import compare

    parts, inputs = [], set()
    for c in comparisons:
        level = c.get("level", "patient")
        keys = c.get("match_on") or ["patient_key"]
        sides = []
        for study in (c["a"], c["b"]):
            sides.append(read_predictions(files[study]["patient"], "patient"))
            inputs.add(files[study]["patient"])
        samples_a = read_predictions(files[c["a"]]["sample"], "sample")
        inputs.add(files[c["a"]]["sample"])
        for role in roles:
            r = compare(c["name"], sides[0], sides[1], keys, level, role, confidence)
            a = sides[0][sides[0]["role"] == role]
            paired = a.merge(sides[1][sides[1]["role"] == role][keys], on=keys)["patient_key"]
            n_samples = int((samples_a["role"].eq(role) & samples_a["patient_key"].isin(paired)).sum())
            parts.append(r.assign(study_a=c["a"], study_b=c["b"], n_samples=n_samples))
            for x in r.itertuples():
                log.info("%s (%s level, %s, %d patients): %s statistic %.3f, p %.4g", c["name"], level, role, x.n_units, x.test,
                         x.statistic, x.p_value)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COMPARISONS.names)
    settings = {"comparisons": comparisons, "roles": roles, "confidence": confidence}
    write_table(out.reindex(columns=COMPARISONS.names), out_path, COMPARISONS,
                provenance.build(rule, provenance.describe_inputs(sorted(inputs)), settings))


def run_indices(image_patient: str, image_sample: str, indices_patient: str, out_dir: str, cslice: dict[str, Any],
                rule: str = "stats_indices", diagnoses: str | None = None) -> None:
    """The indices classifier of one study scored like a study, and paired with the image model
    (``results/stats/<study>/indices/``): ``performance`` and ``confusion`` at the patient level
    (accuracy with its Wilson interval, per fold and pooled), and ``comparison``: McNemar (and
    DeLong per class) of the image model (a) against the indices model (b), paired on patient and
    fold, per role of ``stats.roles`` (:func:`cardiolens.stats.compare.compare`). With ``diagnoses``
    (the ``INDICES_DIAGNOSES`` table), also the report page ``diagnoses.html``
    (:func:`cardiolens.stats.pages.indices_page`). Also ``combined_performance``: the soft vote of the
    two models (:func:`cardiolens.stats.combine.soft_vote`) scored the same way, and its McNemar
    against each of them in ``comparison``."""
    from cardiolens.stats.combine import soft_vote
    from cardiolens.stats.compare import compare
    from cardiolens.stats.performance import confusion_table, performance

    out = Path(out_dir)
    study, cfg, seed = cslice["study"], cslice["stats"], int(cslice["seed"])
    boot = cfg["bootstrap"]
    indices = read_predictions(indices_patient, "patient")
    image = read_predictions(image_patient, "patient")
    samples = read_predictions(image_sample, "sample")
    perf = performance({"patient": indices}, study, cfg["roles"], boot["resamples"], boot["confidence"], seed)
    conf = confusion_table({"patient": indices}, study, cfg["roles"])
    combined = soft_vote(image, indices)
    perf_combined = performance({"patient": combined}, study, cfg["roles"], boot["resamples"], boot["confidence"], seed)
    keys = ["patient_key", "fold"]
    parts = []
    for role in cfg["roles"]:
        a, b = image[image["role"] == role], indices[indices["role"] == role]
        if a.empty or b.empty:
            log.warning("%s: no %s-role predictions of the %s model: no comparison", study, role, "image" if a.empty else "indices")
            continue
        r = compare(f"{study}_image_vs_indices", image, indices, keys, "patient", role, boot["confidence"])
        paired = a.merge(b[keys], on=keys)
        n_samples = int(samples.merge(paired[keys], on=keys).shape[0])
        parts.append(r.assign(study_a=study, study_b=f"{study}:indices", n_samples=n_samples))
        for kind, name, model in (("image", study, image), ("indices", f"{study}:indices", indices)):
            rc = compare(f"{study}_{kind}_vs_combined", model, combined, keys, "patient", role, boot["confidence"])
            parts.append(rc.assign(study_a=name, study_b=f"{study}:combined", n_samples=n_samples))
        paired_b = b.merge(paired[keys], on=keys)
        acc_a = float((paired["y_true"] == paired["y_pred"]).mean())
        acc_b = float((paired_b["y_true"] == paired_b["y_pred"]).mean())
        for x in r[r["test"] == "mcnemar"].itertuples():
            log.info("%s %s: image %.3f vs indices %.3f patient accuracy (%d paired patients); McNemar p %.4g", study, role,
                     acc_a, acc_b, x.n_units, x.p_value)
    comparison = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COMPARISONS.names)
    for model, table in (("indices", perf), ("combined (soft vote)", perf_combined)):
        for r in table[table["class"].isna() & (table["metric"] == "accuracy") & (table["scope"] != "fold")].itertuples():
            log.info("%s %s model %s %s accuracy %.3f (%s)", study, model, r.role, r.scope, r.value,
                     f"SD {r.sd:.3f}" if r.scope == "across_folds" else
                     f"CI {r.ci_low:.3f}-{r.ci_high:.3f}" if pd.notna(r.ci_low) else r.ci_method)
    prov = provenance.build(rule, provenance.describe_inputs([image_patient, image_sample, indices_patient]), cslice)
    for name, (df, schema) in {"performance": (perf, PERFORMANCE), "confusion": (conf, CONFUSION),
                               "comparison": (comparison, COMPARISONS),
                               "combined_performance": (perf_combined, PERFORMANCE)}.items():
        write_table(df.reindex(columns=schema.names), out / f"{name}.parquet", schema, prov)
    if diagnoses is not None:
        from cardiolens.stats.pages import indices_page
        from cardiolens.tables.registry import INDICES_DIAGNOSES

        indices_page(out, study, read_table(diagnoses, INDICES_DIAGNOSES))
