"""Cardiac indices of ACDC's 100 training patients from the expert masks, checked against the class
definitions of the challenge (Bernard et al., IEEE TMI 2018).

For every ``patientNNN`` folder: the ED and ES ground truth (``_gt.nii.gz``) and Info.cfg, read in
place (:func:`cardiolens.measure.acdc_expert.expert_row`), the ``indices`` table
(:func:`cardiolens.measure.indices_table.indices_table`) and, per Info.cfg Group, how many patients
meet each class definition (:func:`cardiolens.measure.acdc_criteria.acdc_criteria`). A patient
whose ED and ES images are pixel-identical to an earlier one's is left out, as ingest quarantines
it (the shared copy's patient076 repeats patient074's images, with masks differing in ~700
voxels). Prints the per-group medians, the criteria matrix and each criterion's parts.

Then an ablation of the classifier's features: the default random forest
(:func:`cardiolens.train.indices_model.make_classifier`, 300 trees) on
:data:`~cardiolens.train.indices_model.DEFAULT_FEATURES`, against the same without the two
wall-thickness spreads, in ``--cv-repeats`` repetitions of a stratified 5-fold CV by patient
(one patient, one row); per repetition both feature sets see the same folds and seed, so the
difference is paired. Patient accuracy over all patients per repetition: mean, SD and range.

    python benchmarks/acdc_indices.py [--root ../shared/data/acdc/training] [--rays 90] [--cv-repeats 10]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cardiolens.ingest.adapters.itkio import read_volume
from cardiolens.measure.acdc_criteria import CLASSES, acdc_criteria
from cardiolens.measure.acdc_expert import expert_row
from cardiolens.measure.indices_table import indices_table
from cardiolens.train.indices_model import DEFAULT_FEATURES, make_classifier

ROOT = Path(__file__).resolve().parents[1].parent / "shared/data/acdc/training"
MEDIANS = ("lv_edv_ml_per_m2", "lv_ef_percent", "rv_edv_ml_per_m2", "rv_ef_percent", "lv_mass_g_per_m2",
           "myo_thickness_max_mm", "myo_thickness_mean_mm", "rv_lv_edv_ratio", "lv_mass_edv_ratio",
           "myo_thickness_sd_mm", "myo_thickness_sd_es_mm")
SPREADS = ("myo_thickness_sd_mm", "myo_thickness_sd_es_mm")


def repeated_cv(x: np.ndarray, y: np.ndarray, repeats: int, k: int = 5) -> np.ndarray:
    """(repeats,) patient accuracy of the default random forest, one stratified k-fold CV per seed."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    return np.array([np.mean(cross_val_predict(make_classifier("random_forest", 300, rep), x, y,
                                               cv=StratifiedKFold(k, shuffle=True, random_state=rep)) == y)
                     for rep in range(repeats)])


def _image_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for image in sorted(folder.glob(f"{folder.name}_frame[0-9][0-9].nii.gz")):
        h.update(read_volume(image)[0].tobytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--rays", type=int, default=90)
    ap.add_argument("--cv-repeats", type=int, default=10, help="repetitions of the feature ablation (0: none)")
    args = ap.parse_args()
    folders = sorted(p for p in args.root.iterdir() if p.is_dir() and p.name.startswith("patient"))
    rows, groups, seen, dropped = [], {}, {}, []
    t0 = time.perf_counter()
    for folder in folders:
        digest = _image_digest(folder)
        if digest in seen:
            dropped.append(f"{folder.name} (same images as {seen[digest]})")
            continue
        seen[digest] = folder.name
        row, group = expert_row(folder, args.rays)
        rows.append(row)
        groups[folder.name] = group
    seconds = time.perf_counter() - t0
    df = indices_table(rows).set_index("patient_key")
    df["group"] = pd.Series(groups)
    met = acdc_criteria(df)
    print(f"{len(df)} patients ({len(folders)} folders; left out: {', '.join(dropped) or 'none'}), "
          f"{args.rays} rays per slice, {seconds:.1f} s")
    print("\nMedian [min, max] per group")
    for col in MEDIANS:
        cells = [f"{g} {s.median():6.1f} [{s.min():.1f}, {s.max():.1f}]" for g, s in df.groupby("group")[col]]
        print(f"  {col:24s} " + "  ".join(cells))
    print("\nPatients meeting each class definition (rows: Info.cfg Group; own class first)")
    for g in CLASSES:
        sub = met[df["group"] == g]
        cells = "  ".join(f"{c} {int(sub[c].sum()):2d}/{len(sub)}" for c in CLASSES)
        print(f"  {g:5s} own {int(sub[g].sum()):2d}/{len(sub)} ({sub[g].mean():.0%})   {cells}")
    parts = {
        "DCM: EF<40": df["lv_ef_percent"] < 40, "DCM: EDV>100/m2": df["lv_edv_ml_per_m2"] > 100,
        "HCM: mass>110/m2": df["lv_mass_g_per_m2"] > 110, "HCM: EF>55": df["lv_ef_percent"] > 55,
        "HCM: thick>15": df["myo_thickness_max_mm"] > 15, "RV: EDV>110/m2": df["rv_edv_ml_per_m2"] > 110,
        "RV: EF<40": df["rv_ef_percent"] < 40, "NOR: EF>=50": df["lv_ef_percent"] >= 50,
    }
    print("\nParts of the criteria, patients per group")
    for name, hit in parts.items():
        print(f"  {name:18s} " + "  ".join(f"{g} {int(hit[df['group'] == g].sum()):2d}" for g in CLASSES))
    print("\nPatients not meeting their own class")
    for pid, row in df.iterrows():
        if not met.loc[pid, row["group"]]:
            print(f"  {pid} {row['group']:4s} " + " ".join(f"{c}={row[c]:.1f}" for c in MEDIANS[:6]))
    if args.cv_repeats > 0:
        y = df["group"].to_numpy()
        without = [f for f in DEFAULT_FEATURES if f not in SPREADS]
        print(f"\nRandom forest, patient accuracy over {len(y)} patients, {args.cv_repeats} x stratified 5-fold CV")
        results = {}
        for name, cols in (("default features", list(DEFAULT_FEATURES)), ("without the thickness spreads", without)):
            results[name] = acc = repeated_cv(df[cols].to_numpy(float), y, args.cv_repeats)
            print(f"  {name:30s} mean {acc.mean():.3f}  SD {acc.std(ddof=1) if len(acc) > 1 else 0:.3f}  "
                  f"range [{acc.min():.3f}, {acc.max():.3f}]")
        diff = results["default features"] - results["without the thickness spreads"]
        print(f"  paired difference (same folds): mean {diff.mean():+.3f}, {int((diff > 0).sum())} repetitions better, "
              f"{int((diff < 0).sum())} worse, {int((diff == 0).sum())} equal")


if __name__ == "__main__":
    main()
