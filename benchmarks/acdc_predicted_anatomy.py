"""ACDC diagnosis from predicted anatomy against the same diagnosis from the expert masks.

Compares two finished runs of `config/acdc.yaml` on the same ACDC ingest, pseudonym key and seed:
EXPERT (`segment: {enabled: false}`: the indices of the expert ED/ES masks) and PREDICTED
(`config/acdc_predicted.yaml`: every patient's masks from the cross-fitted U-Net fold that never
saw it). Prints:

1. the U-Net's held-out Dice per phase and structure (the challenge's 3-D Dice: every slice of a
   patient's ED or ES stack pooled; mean over patients, each held out by one fold);
2. the cardiac indices of the predicted masks against the expert masks' (bias and the limits of
   agreement of Bland & Altman, Lancet 1986; the patient is the unit, one stack each);
3. the indices classifier's test-patient accuracy in both runs (pooled over the 5 folds, Wilson
   95 % interval, n patients), their confusion matrices, and the patients both runs tested side
   by side: the exact McNemar test of the discordant patients (statsmodels).

    python benchmarks/acdc_predicted_anatomy.py EXPERT_RUN PREDICTED_RUN [--study cardiomyopathy]

The tables of docs/benchmarks.md ("Segmentation", the GPU cross-fitting, and "Cardiac indices on
ACDC", on predicted anatomy) came from this script.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from segment_validation import paired_test_patients  # benchmarks/ is on sys.path when run as a script

INDICES = {"lv_edv_ml_per_m2": "LV EDV, ml/m²", "lv_ef_percent": "LV EF, %", "rv_edv_ml_per_m2": "RV EDV, ml/m²",
           "rv_ef_percent": "RV EF, %", "lv_mass_g_per_m2": "LV mass, g/m²", "myo_thickness_max_mm": "max ED thickness, mm"}


def segment_summary(run: Path, model: str = "cmr_sax") -> pd.DataFrame:
    """Per structure (rows) and phase: the 3-D Dice (mean over held-out patients), and over both
    phases the per-slice Dice and HD95 (mm), patient means."""
    s = pd.read_parquet(run / "results" / "segment" / model / "summary.parquet")
    out = s.pivot_table(index="structure", columns="phase", values="dice_volume_mean").reindex(columns=["ED", "ES", "all"])
    both = s[s["phase"] == "all"].set_index("structure")
    return out.assign(slice_dice_all=both["dice_mean"], hd95_mm_all=both["hd95_mean_mm"], patients=both["patients"])


def agreement(expert: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """Per index: n patients in both, bias (predicted - expert), and 95 % limits of agreement
    (bias +- 1.96 sd of the differences; Bland & Altman 1986)."""
    both = expert.merge(predicted, on="patient_key", how="inner", suffixes=("", "_pred"))
    rows = []
    for col, name in INDICES.items():
        d = (both[f"{col}_pred"] - both[col]).dropna()
        rows.append({"index": name, "n": len(d), "expert_median": float(both[col].median()), "bias": float(d.mean()),
                     "loa_low": float(d.mean() - 1.96 * d.std(ddof=1)), "loa_high": float(d.mean() + 1.96 * d.std(ddof=1))})
    return pd.DataFrame(rows)


def test_predictions(run: Path, study: str) -> pd.DataFrame:
    p = pd.read_parquet(run / "results" / "train" / study / "indices" / "patient_predictions.parquet")
    return p[p["role"] == "test"]


def accuracy(p: pd.DataFrame) -> tuple[int, int, float, float]:
    """(correct, n patients, Wilson 95 % low, high) of test-role patient predictions."""
    from statsmodels.stats.proportion import proportion_confint

    k, n = int((p["y_true"] == p["y_pred"]).sum()), len(p)
    lo, hi = proportion_confint(k, n, method="wilson")
    return k, n, float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("expert", type=Path)
    ap.add_argument("predicted", type=Path)
    ap.add_argument("--study", action="append", help="default: cardiomyopathy and cardiomyopathy_nor_hcm_dcm")
    args = ap.parse_args()
    studies = args.study or ["cardiomyopathy", "cardiomyopathy_nor_hcm_dcm"]
    print("U-Net held-out Dice (3-D per phase; per slice and HD95 over both; means over patients):")
    print(segment_summary(args.predicted).round(3).to_string())
    qc = pd.read_parquet(args.predicted / "results" / "segment" / "recordings.parquet")
    failed = qc[qc["qc_pass"] == False]  # noqa: E712 (None: expert masks, not judged)
    print(f"predicted masks failing QC (left out of the studies): {len(failed)} of {qc['qc_pass'].notna().sum()}"
          + (f" ({', '.join(sorted(set(failed['qc_reasons'].dropna())))})" if len(failed) else ""))
    e_ind = pd.read_parquet(args.expert / "results" / "measure" / studies[0] / "indices.parquet")
    p_ind = pd.read_parquet(args.predicted / "results" / "measure" / studies[0] / "indices.parquet")
    print("\nindices of predicted minus expert masks (patients in both):")
    print(agreement(e_ind, p_ind).round(1).to_string(index=False))
    for study in studies:
        e, p = test_predictions(args.expert, study), test_predictions(args.predicted, study)
        print(f"\n{study}: indices classifier, test patients pooled over the folds")
        for name, t in (("expert masks", e), ("predicted masks", p)):
            k, n, lo, hi = accuracy(t)
            print(f"  {name}: accuracy {k / n:.3f} ({k}/{n} patients) [{lo:.3f}, {hi:.3f}]")
            print("    " + pd.crosstab(t["y_true"], t["y_pred"]).to_string().replace("\n", "\n    "))
        pp = paired_test_patients(e, p)
        print(f"  patients in both: {pp['n']}; correct {pp['ref_correct']} (expert) vs {pp['pred_correct']} (predicted), "
              f"difference {(pp['pred_correct'] - pp['ref_correct']) / max(pp['n'], 1):+.3f}; discordant: {pp['ref_only']} right "
              f"only on expert masks, {pp['pred_only']} only on predicted; exact McNemar p {pp['p_mcnemar']:.2g}")


if __name__ == "__main__":
    main()
