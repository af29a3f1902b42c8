"""Matplotlib set-up and figure saving shared by the stages that draw (attribute, stats).

Figures use constrained layout (no overlapping titles and labels).

Every figure is written as PNG and SVG, each to a temporary name and then renamed (a
half-written figure never looks complete), with byte-stable metadata: no software version in the
PNG, no date in the SVG, and a fixed salt for SVG element ids.
"""

from __future__ import annotations

import os
from pathlib import Path

FORMATS = (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None}))


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "cardiolens"
    # Constrained layout makes room for every title, axis label and suptitle, so panel titles never
    # overlap the tick labels of the panel above (bbox_inches="tight" only trims the outer margin).
    plt.rcParams["figure.constrained_layout.use"] = True
    return plt


def save_figure(fig, stem: Path, dpi: int = 110) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg``, close the figure, return both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext, meta in FORMATS:
        path = stem.with_name(stem.name + "." + ext)
        tmp = path.with_name(stem.name + ".tmp." + ext)
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata=meta, format=ext)
        os.replace(tmp, path)
        out.append(path)
    pyplot().close(fig)
    return out
