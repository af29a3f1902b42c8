"""Regional image quality of an apical four-chamber echo frame (study 4).

For each of six myocardial regions (septal and lateral wall x basal, mid, apical long-axis
thirds, as in :func:`cardiolens.prepare.clips.region_map`) against the LV lumen (cavity):

- contrast ratio CR = 20 log10(mu_region / mu_lumen) in dB;
- contrast-to-noise ratio CNR = |mu_region - mu_lumen| / sqrt(s_region^2 + s_lumen^2);
- generalised CNR gCNR = 1 - sum_k min(h_region(k), h_lumen(k)) (Rodriguez-Molares et al., IEEE
  TUFFC 2020), h the normalised histograms over **256 bins of width 1 on [0, 256)**.

Before measuring, the frame's grey levels inside the ultrasound sector (pixels > 0; the whole
frame when none is zero) are histogram-matched to a Gaussian with mean 127 and SD 32: each
pixel's mid-rank quantile (r - 0.5) / N (scipy.stats.rankdata) is mapped through the Gaussian's
inverse CDF (scipy.stats.norm.ppf) and clipped to [0, 255]. This removes gain and dynamic-range
differences between recordings, so the metrics compare regions, not scanner settings.

The septal wall is the SEPTUM label when the mask has one; otherwise (CAMUS: one myocardium
label) the myocardium on the ``septum_side`` of the long axis (left in the standard A4C display).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cardiolens import labels as L

REGIONS = ("basal_inferoseptal", "mid_inferoseptal", "apical_septal", "apical_lateral", "mid_anterolateral", "basal_anterolateral")
_THIRD = {"basal_inferoseptal": (1, True), "mid_inferoseptal": (2, True), "apical_septal": (3, True),
          "apical_lateral": (3, False), "mid_anterolateral": (2, False), "basal_anterolateral": (1, False)}
BINS = np.arange(257)  # 256 bins of width 1 on [0, 256)


def gaussian_match(image: NDArray, mean: float = 127.0, sd: float = 32.0) -> NDArray[np.float64]:
    """(H, W) image with sector grey levels mapped to N(mean, sd) by rank (module docstring)."""
    from scipy.stats import norm, rankdata

    img = np.asarray(image, dtype=np.float64)
    sector = img > 0
    if not sector.any() or sector.all():
        sector = np.ones_like(img, bool)
    out = np.zeros_like(img)
    v = img[sector]
    q = (rankdata(v, method="average") - 0.5) / v.size
    out[sector] = np.clip(mean + sd * norm.ppf(q), 0, 255)
    return out


def region_masks(mask: NDArray[np.uint8], spacing: tuple[float, float], septum_side: str = "left") -> dict[str, NDArray[np.bool_]]:
    """The six regions (module docstring) of one frame's label mask (H, W); spacing (row, col) mm."""
    from cardiolens.prepare.clips import region_map
    from cardiolens.prepare.landmarks import long_axis

    thirds = region_map(mask, spacing)
    myo = mask == L.MYOCARDIUM
    if (mask == L.SEPTUM).any():
        septal, lateral = mask == L.SEPTUM, myo
    else:
        apex, base = long_axis(mask, (spacing[1], spacing[0]))
        rows, cols = np.indices(mask.shape)
        ax = apex - base
        side = ax[0] * (rows * spacing[0] - base[1]) - ax[1] * (cols * spacing[1] - base[0])
        left_sign = np.sign(np.mean(side[myo & (cols < cols[myo].mean())])) if myo.any() else 1.0
        on_left = np.sign(side) == left_sign
        septal = myo & (on_left if septum_side == "left" else ~on_left)
        lateral = myo & ~septal
    return {name: (thirds == t) & (septal if is_septal else lateral) for name, (t, is_septal) in _THIRD.items()}


def contrast(region: NDArray, lumen: NDArray) -> dict[str, float]:
    """CR (dB), CNR and gCNR of two sets of matched grey levels (module docstring)."""
    mr, ml = float(region.mean()), float(lumen.mean())
    sr, sl = float(region.std()), float(lumen.std())
    hr = np.histogram(region, BINS)[0] / region.size
    hl = np.histogram(lumen, BINS)[0] / lumen.size
    return {"cr_db": 20 * np.log10(max(mr, 1e-6) / max(ml, 1e-6)),
            "cnr": abs(mr - ml) / np.sqrt(sr**2 + sl**2) if sr + sl > 0 else float("inf"),
            "gcnr": float(1.0 - np.minimum(hr, hl).sum())}


def regional_quality(image: NDArray, mask: NDArray[np.uint8], spacing: tuple[float, float], septum_side: str = "left",
                     min_pixels: int = 10) -> pd.DataFrame:
    """Rows (region, n_pixels, cr_db, cnr, gcnr) of one frame; a region with fewer than
    ``min_pixels`` pixels (or no lumen) gets NaN metrics."""
    matched = gaussian_match(image)
    lumen = matched[mask == L.LV_CAVITY]
    rows = []
    for name, m in region_masks(mask, spacing, septum_side).items():
        vals = matched[m]
        ok = vals.size >= min_pixels and lumen.size >= min_pixels
        rows.append({"region": name, "n_pixels": int(vals.size),
                     **(contrast(vals, lumen) if ok else {"cr_db": np.nan, "cnr": np.nan, "gcnr": np.nan})})
    return pd.DataFrame(rows)


def spearman_table(measures: pd.DataFrame, label: str, by: list[str]) -> pd.DataFrame:
    """Spearman's rho (scipy) of each metric against ``label`` per ``by`` group."""
    from scipy.stats import spearmanr

    rows = []
    for key, g in measures.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        for metric in ("cr_db", "cnr", "gcnr"):
            d = g[[metric, label]].apply(pd.to_numeric, errors="coerce").dropna()
            ok = len(d) > 2 and d[metric].nunique() > 1 and d[label].nunique() > 1
            r = spearmanr(d[metric], d[label]) if ok else None
            rows.append({**dict(zip(by, key)), "metric": metric, "label": label, "n": len(d),
                         "rho": float(r.statistic) if r else None, "p_value": float(r.pvalue) if r else None})
    return pd.DataFrame(rows)
