"""The septal-flash study on predicted anatomy against the same study on the synthetic truth.

Compares two finished runs on the same synthetic cohort and seed: REFERENCE (the default run:
the generator's masks and septal contour) and PREDICTED (`config/segment_validation.yaml`: every
mask withheld, each patient's masks from the cross-fitted U-Net fold that never saw it). Prints:

1. the M-mode line placed from predicted masks against the truth line, per recording: the mean
   distance between corresponding points along the two lines (mm), and the angle between them;
2. ED and ES found from the predicted LV area curve *without* the ECG, against the generator's
   ED (every R peak) and first-cycle ES (frames);
3. held-out accuracy of both runs at the M-mode and at the patient level, with their CIs (pooled
   over the folds when the study is cross-validated, `config/septal_flash_cv.yaml`);
4. the two runs' patient-level predictions side by side, patient by patient: agreement, and the
   exact McNemar test (statsmodels) of the discordant patients, the unit being the patient.

    python benchmarks/segment_validation.py REFERENCE_RUN PREDICTED_RUN
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def line_points(params: dict, n: int = 21) -> np.ndarray:
    start = np.asarray(params["line_start_mm"], float)
    direction = np.asarray(params["line_direction"], float)
    return start[None] + np.linspace(0, params["line_length_mm"], n)[:, None] * direction[None]


def line_distances(ref: pd.DataFrame, pred: pd.DataFrame) -> pd.DataFrame:
    """Per recording: mean point distance (mm) and angle (degrees) between the reference lines (offset 0)."""
    def lines(s):
        s = s[(s["variant"] == "original") & (s["offset"] == 0)]
        return {r: json.loads(p) for r, p in zip(s["recording_id"], s["params"])}

    a, b = lines(ref), lines(pred)
    rows = []
    for rid in sorted(set(a) & set(b)):
        pa, pb = line_points(a[rid]), line_points(b[rid])
        cos = float(np.clip(np.dot(a[rid]["line_direction"], b[rid]["line_direction"]), -1, 1))
        rows.append({"recording_id": rid, "distance_mm": float(np.linalg.norm(pa - pb, axis=1).mean()),
                     "angle_deg": float(np.degrees(np.arccos(cos))), "contour_source": b[rid]["contour_source"]})
    return pd.DataFrame(rows)


def phase_errors(run: Path, recording_ids: list[str]) -> pd.DataFrame:
    """|ED - truth| per truth ED (nearest detected) and |ES - truth| of the first cycle, in frames."""
    import itk

    from cardiolens.segment.cycle import cardiac_phases, lv_area_curve

    rec = pd.read_parquet(run / "results" / "segment" / "recordings.parquet").set_index("recording_id")
    rows = []
    for rid in recording_ids:
        r = rec.loc[rid]
        truth = json.loads((run / r["truth_path"]).read_text())
        masks = itk.array_from_image(itk.imread(str(run / r["mask_path"])))
        area = lv_area_curve(masks, (float(r["spacing_x_mm"]), float(r["spacing_y_mm"])))
        ph = cardiac_phases(area, float(r["frame_time_ms"]), [])  # the ECG withheld too
        for e in truth["ed_frames"]:
            if ph.ed and 0 <= e < len(area):
                rows.append({"recording_id": rid, "event": "ED", "error_frames": int(min(abs(np.array(ph.ed) - e)))})
        if ph.es:
            rows.append({"recording_id": rid, "event": "ES",
                         "error_frames": int(min(abs(np.array(ph.es) - truth["es_frame"])))})
    return pd.DataFrame(rows)


def accuracy(run: Path, study: str) -> pd.DataFrame:
    """Test-role accuracy and AUC per level: the pooled rows of a cross-validated study, else fold 0's."""
    p = pd.read_parquet(run / "results" / "stats" / study / "performance.parquet")
    p = p[(p["metric"].isin(["accuracy", "auc"])) & (p["class"].isna() if "class" in p else True) & (p["role"] == "test")]
    if (p["scope"] == "pooled").any():
        p = p[p["scope"] == "pooled"]
    return p[["level", "scope", "metric", "value", "ci_low", "ci_high", "n_units", "n_patients"]].drop_duplicates(
        ["level", "metric"])


def paired_patients(ref: Path, pred: Path, study: str) -> dict:
    """The test patients of both runs' image model, paired: see :func:`paired_test_patients`."""
    def test(run: Path) -> pd.DataFrame:
        p = pd.read_parquet(run / "results" / "train" / study / "patient_predictions.parquet")
        return p[p["role"] == "test"]

    return paired_test_patients(test(ref), test(pred))


def paired_test_patients(ref: pd.DataFrame, pred: pd.DataFrame) -> dict:
    """Two runs' test-role patient predictions (patient_key, y_true, y_pred), matched by patient
    key: how many each run classified correctly, how many the two runs disagree on, and the exact
    McNemar p-value of the discordant pairs (statsmodels; the patient is the unit, each tested
    once per run)."""
    from statsmodels.stats.contingency_tables import mcnemar

    def correct(p: pd.DataFrame) -> pd.Series:
        return (p["y_true"] == p["y_pred"]).groupby(p["patient_key"]).mean() == 1.0

    a, b = correct(ref).rename("ref"), correct(pred).rename("pred")
    both = pd.concat([a, b], axis=1, join="inner")
    table = pd.crosstab(both["ref"], both["pred"]).reindex(index=[True, False], columns=[True, False], fill_value=0)
    return {"n": len(both), "ref_correct": int(both["ref"].sum()), "pred_correct": int(both["pred"].sum()),
            "ref_only": int(table.loc[True, False]), "pred_only": int(table.loc[False, True]),
            "p_mcnemar": float(mcnemar(table.to_numpy(), exact=True).pvalue)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference", type=Path)
    ap.add_argument("predicted", type=Path)
    ap.add_argument("--study", default="septal_flash")
    args = ap.parse_args()
    ref = pd.read_parquet(args.reference / "results" / "prepare" / args.study / "samples.parquet")
    pred = pd.read_parquet(args.predicted / "results" / "prepare" / args.study / "samples.parquet")
    d = line_distances(ref, pred)
    print(f"M-mode lines, {len(d)} recordings in both runs (contour from {sorted(set(d['contour_source']))}):")
    print(f"  distance to the truth line: median {d['distance_mm'].median():.2f} mm, "
          f"IQR {d['distance_mm'].quantile(0.25):.2f}-{d['distance_mm'].quantile(0.75):.2f}, max {d['distance_mm'].max():.2f}")
    print(f"  angle: median {d['angle_deg'].median():.1f} deg, max {d['angle_deg'].max():.1f}")
    missing = sorted(set(ref["recording_id"]) - set(pred["recording_id"]))
    print(f"  recordings of the reference without an M-mode on predicted masks: {len(missing)}")
    e = phase_errors(args.predicted, sorted(set(pred["recording_id"])))
    for ev, g in e.groupby("event"):
        print(f"{ev} from the LV area curve without ECG: median |error| {g['error_frames'].median():.1f} frames, "
              f"90th pct {g['error_frames'].quantile(0.9):.1f}, within 2 frames {np.mean(g['error_frames'] <= 2):.0%} "
              f"(n {len(g)} events, {g['recording_id'].nunique()} recordings)")
    for name, run in (("reference (truth masks)", args.reference), ("predicted masks", args.predicted)):
        print(name)
        print(accuracy(run, args.study).round(3).to_string(index=False))
    pp = paired_patients(args.reference, args.predicted, args.study)
    print(f"patients tested in both runs: {pp['n']}; correct {pp['ref_correct']} (truth masks) vs {pp['pred_correct']} "
          f"(predicted), difference {(pp['pred_correct'] - pp['ref_correct']) / max(pp['n'], 1):+.3f}; discordant: "
          f"{pp['ref_only']} right only on truth masks, {pp['pred_only']} only on predicted; exact McNemar p {pp['p_mcnemar']:.2g}")


if __name__ == "__main__":
    main()
