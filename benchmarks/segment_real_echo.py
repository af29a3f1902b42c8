"""Real echo without masks: the segment stage on CAMUS (leave-one-patient-out), EchoNet and pydicom's echo.

One cardiolens run (Snakemake, up to results/segment/) on the synthetic cohort plus three real
sources: ``../shared/data/camus`` (expert masks at ED and ES), ``../shared/data/echonet`` (videos,
no tracings shared) and pydicom's own multi-frame echo ``examples_ybr_color.dcm`` (30 frames, no
masks, no ECG). The echo U-Net is cross-fitted with k = 3 folds stratified by source, so each of
the 3 CAMUS patients is held out by exactly one fold (leave-one-patient-out), with the synthetic
recordings as extra training data. It prints CAMUS Dice/HD95 per held-out patient, the ED/ES
found for the recordings without masks, and draws ``docs/img/segment_pydicom_echo.png``: pydicom's
echo with its predicted masks, the M-mode line and quality regions derived from them, the M-mode,
and the LV area curve with ED/ES.

    python benchmarks/segment_real_echo.py [RUN_DIR] [--epochs 15] [--configfile EXTRA.yaml ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def config(run: Path, epochs: int) -> dict:
    inputs = [{"name": "pydicom_echo", "adapter": "dicom", "path": str(run / "pydicom_echo")}]
    if (DATA / "camus").is_dir():
        inputs.append({"name": "camus", "adapter": "camus", "path": str(DATA / "camus")})
    if (DATA / "echonet").is_dir():
        inputs.append({"name": "echonet", "adapter": "echonet", "path": str(DATA / "echonet")})
    return {
        "inputs": inputs,
        "privacy": {"key": None, "private_dir": str(run / "private")},
        "segment": {"split": {"scheme": "kfold", "k": 3}, "train": {"epochs": epochs},
                    "models": {"cmr_sax": {"enabled": False}}, "figures": 50},
        "studies": {s: {"enabled": False} for s in ("septal_flash", "takotsubo_stemi", "cardiomyopathy", "regional_quality")},
    }


def pydicom_figure(run: Path, out: Path) -> None:
    """pydicom's echo: predicted masks at ED, the M-mode line and quality regions, the M-mode, the LV curve."""
    import itk

    from cardiolens.plotting import pyplot, save_figure
    from cardiolens.prepare.landmarks import septal_contour_from_mask
    from cardiolens.prepare.mmode import as_float, mmode, septal_line
    from cardiolens.segment.cycle import cardiac_phases, lv_area_curve
    from cardiolens.stats.quality import region_masks

    rec = pd.read_parquet(run / "results" / "segment" / "recordings.parquet")
    row = rec[rec["source"] == "pydicom_echo"].iloc[0]
    image = itk.imread(str(run / row["image_path"]))
    vol = itk.array_from_image(image)
    masks = itk.array_from_image(itk.imread(str(run / row["mask_path"])))
    sx, sy, st = (float(s) for s in image.GetSpacing())
    ed = int(row["ed_frame"])
    contour = septal_contour_from_mask(masks[ed], (sx, sy))
    r, c = np.nonzero(masks[ed] == 1)
    line = septal_line(contour, (float(c.mean() * sx), float(r.mean() * sy)), 40.0, (10, 20))
    mm, _ = mmode(as_float(image), line, 0.0, vol.shape[0] * st, 128, vol.shape[0] * 4)
    regions = region_masks(masks[ed], (sx, sy))
    area = lv_area_curve(masks, (sx, sy))
    phases = cardiac_phases(area, st, [])
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(13, 4.2))
    ax[0].imshow(vol[ed], cmap="gray", extent=(0, vol.shape[2] * sx, vol.shape[1] * sy, 0))
    overlay = np.ma.masked_equal(masks[ed].astype(float), 0)
    ax[0].imshow(overlay, cmap="viridis", alpha=0.35, extent=(0, vol.shape[2] * sx, vol.shape[1] * sy, 0))
    for k, (name, m) in enumerate(regions.items()):
        rr, cc = np.nonzero(m)
        if len(rr):
            ax[0].text(cc.mean() * sx, rr.mean() * sy, name.replace("_", "\n"), color="w", fontsize=6, ha="center")
    ax[0].plot(contour[:, 0], contour[:, 1], "y-", lw=1)
    p0 = np.array(line.start)
    p1 = p0 + np.array(line.direction) * line.length_mm
    ax[0].plot([p0[0], p1[0]], [p0[1], p1[1]], "r-", lw=2)
    ax[0].set_title(f"ED frame {ed}: predicted LV / myocardium / LA,\nseptal contour (yellow), M-mode line (red), 6 regions")
    ax[0].set_xlabel("x (mm)")
    ax[0].set_ylabel("depth (mm)")
    ax[1].imshow(mm, cmap="gray", aspect="auto", extent=(0, vol.shape[0] * st, line.length_mm, 0))
    ax[1].set_title("anatomical M-mode along the red line")
    ax[1].set_xlabel("time (ms)")
    ax[1].set_ylabel("along the line, RV -> LV (mm)")
    t = np.arange(len(area)) * st
    ax[2].plot(t, area, "k-")
    ax[2].plot(t[list(phases.ed)], area[list(phases.ed)], "v", color="tab:red", label="ED")
    ax[2].plot(t[list(phases.es)], area[list(phases.es)], "^", color="tab:blue", label="ES")
    ax[2].set_title(f"LV area from the predicted masks ({phases.method})")
    ax[2].set_xlabel("time (ms)")
    ax[2].set_ylabel("LV area (mm²)")
    ax[2].legend()
    fig.suptitle("pydicom examples_ybr_color.dcm (30 frames, no masks, no ECG) through the segment stage")
    save_figure(fig, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, nargs="?", default=Path("/tmp/cardiolens_real_echo"))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--figure", type=Path, default=REPO / "docs" / "img" / "segment_pydicom_echo")
    ap.add_argument("--configfile", type=Path, nargs="*", default=[], help="more configuration files, applied last")
    args = ap.parse_args()
    import pydicom.data
    import yaml

    run = args.run.resolve()
    (run / "pydicom_echo").mkdir(parents=True, exist_ok=True)
    shutil.copy(pydicom.data.get_testdata_file("examples_ybr_color.dcm"), run / "pydicom_echo" / "echo.dcm")
    (run / "config.yaml").write_text(yaml.safe_dump(config(run, args.epochs)))
    env = {**os.environ, "CARDIOLENS_PSEUDONYM_KEY": os.environ.get("CARDIOLENS_PSEUDONYM_KEY", "benchmark-" + "0" * 40)}
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(run), "--cores", "2",
                    "results/segment/recordings.parquet", "--configfile", str(REPO / "config" / "config.yaml"),
                    str(run / "config.yaml"), *(str(c.resolve()) for c in args.configfile)],
                   check=True, env=env, cwd=REPO)
    print(f"run: {time.time() - t0:.0f} s")
    metrics = pd.read_parquet(run / "results" / "segment" / "echo_apical" / "metrics.parquet")
    camus = metrics[metrics["source"] == "camus"]
    if len(camus):
        per = camus.groupby(["patient_key", "structure"])[["dice", "hd95_mm"]].mean().unstack("structure")
        print("CAMUS, leave-one-patient-out (each patient held out by one fold; ED and ES, A2C and A4C):")
        print(per.round(3).to_string())
        print(camus.groupby("structure")[["dice", "hd95_mm"]].mean().round(3).to_string())
    synth = metrics[metrics["source"] == "synthetic"]
    print("synthetic held out:", synth.groupby("structure")["dice"].mean().round(3).to_dict())
    qc = pd.read_parquet(run / "results" / "segment" / "qc.parquet")
    for _, q in qc.iterrows():
        print(q["source"], q["recording_id"], "ED", list(q["ed_frames"]), "ES", list(q["es_frames"]), q["phase_method"],
              "QC pass" if q["qc_pass"] else f"QC fail {json.loads(q['qc_reasons'])}", q["figure"])
    pydicom_figure(run, args.figure)
    print("figure:", args.figure.with_suffix(".png"))


if __name__ == "__main__":
    main()
