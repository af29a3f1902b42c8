"""Figure of the LV area curve with its cardiac phases (ED ▼, ES ▲, cycle boundaries)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cardiolens.plotting import pyplot
from cardiolens.segment.cycle import Phases


def area_curve_figure(area: NDArray[np.float64], phases: Phases, frame_time_ms: float | None = None,
                      title: str = "", unit: str = "mm²"):
    """matplotlib Figure of an LV area curve (T,) (``unit`` "ml" for volumes) against time in ms,
    or frames without ``frame_time_ms``: the curve, ED (▼) and ES (▲) marks, dashed cycle
    boundaries and the period in the legend. A flat curve (no phases) is drawn without marks."""
    area = np.asarray(area, dtype=np.float64)
    if area.ndim != 1 or len(area) != phases.n_frames:
        raise ValueError(f"area of shape {area.shape} for phases of {phases.n_frames} frames")
    scale = frame_time_ms or 1.0
    t = np.arange(len(area)) * scale
    fig, ax = pyplot().subplots(figsize=(7, 3))
    ax.plot(t, area, color="0.3", lw=1.2, label="LV volume" if unit == "ml" else "LV area")
    if phases.ed:
        ed = np.array(phases.ed)
        ax.plot(t[ed], area[ed], "v", color="tab:red", ms=8, ls="none", label="ED")
    if phases.es:
        es = np.array(phases.es)
        ax.plot(t[es], area[es], "^", color="tab:blue", ms=8, ls="none", label="ES")
    for start, stop in phases.cycles:
        for frame in (start, stop):
            ax.axvline(min(frame, len(area) - 1) * scale, color="0.6", ls="--", lw=0.8)
    period = f"period {phases.period_frames:.1f} frames" if phases.period_frames else "no period"
    if phases.period_ms:
        period += f" ({60_000 / phases.period_ms:.0f} bpm)"
    ax.set_title(f"{title} — {phases.method}, {period}" if title else f"{phases.method}, {period}")
    ax.set_xlabel("time (ms)" if frame_time_ms else "frame")
    ax.set_ylabel(f"LV {'volume' if unit == 'ml' else 'area'} ({unit})")
    ax.legend(loc="best", fontsize="small")
    return fig
