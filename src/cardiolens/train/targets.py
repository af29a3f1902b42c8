"""What a study's network predicts and how its checkpoints are chosen, without torch, MONAI or
Lightning: the bundle and merge jobs need these two answers, and importing the training stack
for them costs ~5 s per job (``python -X importtime``: MONAI ~3 s, Lightning ~1.5 s)."""

from __future__ import annotations

from typing import Any

import pandas as pd


def target_names(samples: pd.DataFrame, cfg: dict[str, Any]) -> list[str]:
    """Class names (classification: sorted labels) or regression target names (``cfg['targets']``)."""
    if cfg.get("task", "classification") == "classification":
        return sorted(samples["label"].unique())
    names = list(cfg.get("targets") or [])
    if not names:
        raise ValueError("a regression study needs the names of its targets (studies.<name>.targets)")
    if "targets" not in samples or samples["targets"].isna().any():
        raise ValueError("a regression study needs a target vector in every sample (samples.targets)")
    lengths = {len(t) for t in samples["targets"]}
    if lengths != {len(names)}:
        raise ValueError(f"samples carry {sorted(lengths)} targets, the study names {len(names)}: {names}")
    return names


def monitor_mode(metric: str) -> str:
    """'min' for losses and errors (``val/loss``, ``val/mse``, ``val/mae``), 'max' otherwise."""
    return "min" if metric.rsplit("/", 1)[-1] in ("loss", "mse", "mae") else "max"
