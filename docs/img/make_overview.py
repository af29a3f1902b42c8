"""Draw docs/img/overview.png, the README's figure, from a finished default run.

    .venv/bin/python docs/img/make_overview.py results docs/img/overview.png

Left: the stages of the workflow. Middle: the septal-flash study's mean Grad-CAM++ map per class
on its anatomical M-modes (synthetic cohort). Right: its ROC curve on the held-out M-modes with the
patient-bootstrap band. Only synthetic data is drawn.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cardiolens.plotting import pyplot


def main(results: Path, out: Path) -> None:
    plt = pyplot()
    fig = plt.figure(figsize=(10, 3.1), layout="constrained")
    left, mid, right = fig.subfigures(1, 3, width_ratios=[1.0, 2.0, 1.1])
    ax = left.subplots()
    stages = ["ingest (DICOM, NIfTI, MHD, AVI)", "prepare (ITK reslicing)", "split (by patient)",
              "train (Lightning + MONAI)", "attribute (Captum)", "measure (motion)", "stats (patient CIs)",
              "summary + report"]
    for i, s in enumerate(stages):
        y = 1 - (i + 0.5) / len(stages)
        ax.text(0.5, y, s, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.3", "fc": "#e8f0fe", "ec": "#5b7db1"})
        if i:
            ax.annotate("", xy=(0.5, y + 0.045), xytext=(0.5, y + 1 / len(stages) - 0.045),
                        arrowprops={"arrowstyle": "->", "color": "#5b7db1"})
    ax.set_axis_off()
    ax.set_title("a Snakemake DAG", fontsize=9)
    for sub, png, title in ((mid, "attribute/septal_flash/figures/mean_maps_gradcampp.png", "where the network looked"),
                            (right, "stats/septal_flash/figures/roc_sample.png", "what it found (held-out M-modes)")):
        a = sub.subplots()
        a.imshow(plt.imread(results / png))
        a.set_axis_off()
        a.set_title(title, fontsize=9)
    fig.savefig(out, dpi=100, metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
