"""Cardiac indices of ACDC's 100 training patients from the expert masks, checked against the class
definitions of the challenge (Bernard et al., IEEE TMI 2018).

For every ``patientNNN`` folder: the ED and ES ground truth (``_gt.nii.gz``) and Info.cfg, read in
place (:func:`cardiolens.measure.acdc_expert.expert_row`), the ``indices`` table
(:func:`cardiolens.measure.indices_table.indices_table`) and, per Info.cfg Group, how many patients
meet each class definition (:func:`cardiolens.measure.acdc_criteria.acdc_criteria`). A patient
whose ED and ES images are pixel-identical to an earlier one's is left out, as ingest quarantines
it (the shared copy's patient076 repeats patient074's images, with masks differing in ~700
voxels). Prints the per-group medians, the criteria matrix and each criterion's parts.

    python benchmarks/acdc_indices.py [--root ../shared/data/acdc/training] [--rays 90]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import pandas as pd

from cardiolens.ingest.adapters.itkio import read_volume
from cardiolens.measure.acdc_criteria import CLASSES, acdc_criteria
from cardiolens.measure.acdc_expert import expert_row
from cardiolens.measure.indices_table import indices_table

ROOT = Path(__file__).resolve().parents[1].parent / "shared/data/acdc/training"
MEDIANS = ("lv_edv_ml_per_m2", "lv_ef_percent", "rv_edv_ml_per_m2", "rv_ef_percent", "lv_mass_g_per_m2",
           "myo_thickness_max_mm", "myo_thickness_mean_mm", "rv_lv_edv_ratio", "lv_mass_edv_ratio")


def _image_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for image in sorted(folder.glob(f"{folder.name}_frame[0-9][0-9].nii.gz")):
        h.update(read_volume(image)[0].tobytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--rays", type=int, default=90)
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


if __name__ == "__main__":
    main()
