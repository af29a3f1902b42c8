"""Figures of the attribute stage, drawn from the tables and map files only.

- ``gallery_<method>.png|svg``: overlays (map on the model input) for correct and incorrect
  predictions of each class and for maps flagged outside the heart (possible shortcuts).
  M-modes keep their axes (time in ms across, position along the line in mm down); clips show
  the frame with the largest share of attribution and their temporal profile; ED/ES pairs
  show both inputs.
- ``mean_maps_<method>.png|svg``: the mean map per class (correct predictions), with the mean
  temporal profile for clips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.plotting import save_figure


def _plt():
    from cardiolens.plotting import pyplot

    return pyplot()


def _load(path: str, index: int, cache: dict[str, np.ndarray]) -> np.ndarray:
    if path not in cache:
        cache[path] = np.load(path, mmap_mode="r")
    return np.asarray(cache[path][int(index)], dtype=np.float32)


def _panel(ax, image: np.ndarray, m: np.ndarray, axes: str, spacing: list[float], title: str) -> None:
    """Draw one sample: image (C, H, W) or (T, H, W) and its map in the map layout."""
    if axes.startswith("t_ms"):  # clip: the frame holding most of the attribution
        t = int(np.argmax(m.reshape(m.shape[0], -1).sum(1)))
        img, mp, title = image[t], m[t], f"{title}\nframe {t}"
        extent, labels = None, (None, None)
    elif "line_mm" in axes:  # M-mode: (line, time) with physical axes
        img, mp = image[0], m[0]
        dl, dt = spacing[-2], spacing[-1]
        extent = (0, img.shape[1] * dt, img.shape[0] * dl, 0)
        labels = ("time (ms)", "line (mm)")
    else:  # frames: inputs side by side
        img = np.concatenate(list(image), axis=1)
        mp = np.concatenate(list(m), axis=1) if m.shape[0] == image.shape[0] else np.tile(m[0], (1, image.shape[0]))
        extent, labels = None, (None, None)
    ax.imshow(img, cmap="gray", extent=extent, aspect="auto" if extent else "equal")
    ax.imshow(mp, cmap="jet", alpha=0.4, vmin=0, vmax=1, extent=extent, aspect="auto" if extent else "equal")
    ax.set_title(title, fontsize=7)
    if labels[0]:
        ax.set_xlabel(labels[0], fontsize=6)
        ax.set_ylabel(labels[1], fontsize=6)
        ax.tick_params(labelsize=5)
    else:
        ax.set_axis_off()


def _groups(t: pd.DataFrame, per: int) -> list[tuple[str, pd.DataFrame]]:
    out = []
    if t["correct"].notna().any():
        for c in sorted(t["label"].unique()):
            for ok in (True, False):
                g = t[(t["label"] == c) & (t["correct"] == ok)]
                out.append((f"{c} {'correct' if ok else 'incorrect'}", g.sort_values("score", ascending=not ok).head(per)))
    else:
        out.append(("samples", t.head(per)))
    out.append(("outside the heart", t[t["outside_heart"] == True].head(per)))  # noqa: E712
    return [(n, g) for n, g in out if len(g)]


def galleries(table: pd.DataFrame, samples: pd.DataFrame, out_dir: Path, cfg: dict[str, Any]) -> list[Path]:
    """Write the gallery and mean-map figures (PNG) of the gallery method; returns the paths."""
    if not len(table):
        return []
    plt = _plt()
    method = cfg["gallery"]["method"] if cfg["gallery"]["method"] in set(table["method"]) else table["method"].iloc[0]
    kind = table["target_kind"].iloc[0]
    t = table[(table["method"] == method) & (table["target_kind"] == kind)]
    if kind == "output":
        t = t[t["target"] == t["target"].iloc[0]]
    s = samples.set_index("sample_id")
    per = cfg["gallery"]["per_group"]
    groups = _groups(t, per)
    cache: dict[str, np.ndarray] = {}
    paths = []
    fig, axs = plt.subplots(len(groups), per, figsize=(2.3 * per, 2.9 * len(groups)), squeeze=False)
    for gi, (name, g) in enumerate(groups):
        for j in range(per):
            ax = axs[gi, j]
            if j >= len(g):
                ax.set_axis_off()
                continue
            r = g.iloc[j]
            sr = s.loc[r["sample_id"]]
            image = _load(sr["array_path"], sr["array_index"], cache)
            m = _load(r["map_path"], r["map_index"], cache)
            _panel(ax, image, m, r["map_axes"], list(r["spacing"]), f"{name}\np={r['score']:.2f} out={r['mass_outside_heart']:.2f}")
    fig.suptitle(f"{t['study'].iloc[0]}: {method} ({kind}{' ' + t['target'].iloc[0] if kind == 'output' else ''})", fontsize=9)
    paths += save_figure(fig, out_dir / f"gallery_{method}")
    # Mean map per class over the correctly predicted samples (all samples for regression).
    keep = t[t["correct"] == True] if t["correct"].notna().any() else t  # noqa: E712
    classes = sorted(keep["label"].unique())
    if classes:
        clip = t["map_axes"].iloc[0].startswith("t_ms")
        fig, axs = plt.subplots(2 if clip else 1, len(classes), figsize=(2.6 * len(classes), 5 if clip else 2.6), squeeze=False)
        for ci, c in enumerate(classes):
            g = keep[keep["label"] == c]
            mean = np.mean([_load(r["map_path"], r["map_index"], cache) for _, r in g.iterrows()], axis=0)
            shown = mean.max(axis=0) if clip else np.concatenate(list(mean), axis=1)
            ax = axs[0, ci]
            if "line_mm" in t["map_axes"].iloc[0]:
                sp = list(g["spacing"].iloc[0])
                ax.imshow(shown, cmap="jet", vmin=0, vmax=1, aspect="auto",
                          extent=(0, shown.shape[1] * sp[-1], shown.shape[0] * sp[-2], 0))
                ax.set_xlabel("time (ms)", fontsize=6)
                ax.set_ylabel("line (mm)", fontsize=6)
                ax.tick_params(labelsize=5)
            else:
                ax.imshow(shown, cmap="jet", vmin=0, vmax=1)
                ax.set_axis_off()
            ax.set_title(f"{c} (n={len(g)}){' max over t' if clip else ''}", fontsize=7)
            if clip:
                prof = np.mean(np.stack(g["temporal_profile"].tolist()), axis=0)
                axs[1, ci].plot(np.arange(len(prof)), prof)
                axs[1, ci].set_xlabel("frame", fontsize=6)
                axs[1, ci].set_ylabel("share of attribution", fontsize=6)
                axs[1, ci].tick_params(labelsize=5)
        fig.suptitle(f"mean {method} map per class (correct predictions)", fontsize=9)
        paths += save_figure(fig, out_dir / f"mean_maps_{method}")
    return paths
