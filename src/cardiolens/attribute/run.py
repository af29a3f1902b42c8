"""Attribution of one fold: maps, per-map metrics and the randomisation check, over arrays and tables.

For every sample of the configured roles, every configured method and every target (the
predicted class, the true class, or both; each output of a regression study) one map in the
sample's layout (:mod:`cardiolens.attribute.methods`) and one row of measurements
(:mod:`cardiolens.attribute.metrics`): ROI masses, pointing game, dispersion, deletion and
insertion AUC, attention outside the heart, and for clips the temporal profile.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cardiolens.attribute import metrics as M
from cardiolens.attribute.layers import resolve_layers
from cardiolens.attribute.methods import CAM_METHODS, Attribution, LogOdds, attribute_with_extent, for_attribution
from cardiolens.attribute.sanity import degenerate_extent, randomised, rank_correlation

log = logging.getLogger(__name__)

MASS_ROIS = {"heart": ("heart",), "lv": ("lv",), "myocardium": ("myocardium",), "septum": ("septum",),
             "septum_window": ("septum", "event_window"), "base": ("base",), "apex": ("apex",)}


def targets_of(kind: str, task: str, names: list[str], y: torch.Tensor, pred: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """(target kind, output index per sample) pairs to explain for one batch."""
    if task == "regression":
        return [("output", torch.full_like(pred, i)) for i in range(len(names))]
    kinds = ["predicted", "true"] if kind == "both" else [kind]
    return [(k, pred if k == "predicted" else y) for k in kinds]


class FoldAttribution:
    """Attribution of one fold's model. ``score_fn`` maps a batch to class probabilities (or outputs)."""

    def __init__(self, model: nn.Module, task: str, names: list[str], cfg: dict[str, Any], example: torch.Tensor,
                 black: torch.Tensor | None = None):
        self.model = for_attribution(model)
        self.task, self.names, self.cfg, self.black = task, names, cfg, black
        self.layer_names = resolve_layers(self.model, cfg.get("layer", "auto"), example)
        modules = dict(self.model.named_modules())
        self.layers = [modules[n] for n in self.layer_names]
        self.explained = self.explain(self.model)

    def explain(self, model: nn.Module) -> nn.Module:
        """What the maps explain: the class log-odds (``score: log_odds``, classification) or the
        network's outputs (logits, regression outputs)."""
        return LogOdds(model) if self.task == "classification" and self.cfg.get("score", "log_odds") == "log_odds" else model

    def score_fn(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out.softmax(dim=1) if self.task == "classification" else out

    def attribution(self, x: torch.Tensor, target: torch.Tensor, method: str, model: nn.Module | None = None) -> Attribution:
        """Normalised maps, raw CAM maps and each map's extent before normalisation
        (:func:`~cardiolens.attribute.methods.attribute_with_extent`) of this fold's model, or of
        ``model`` (a copy with the same layer names: the randomised model)."""
        layers, explained = self.layers, self.explained
        if model is not None:  # the same layers in another copy (the randomised model)
            mods = dict(model.named_modules())
            layers, explained = [mods[n] for n in self.layer_names], self.explain(model)
        return attribute_with_extent(explained, x, target, method, layers, self.cfg, self.black)

    def maps(self, x: torch.Tensor, target: torch.Tensor, method: str,
             model: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(maps in [0, 1], raw CAM maps or None): :meth:`attribution` without the extent."""
        a = self.attribution(x, target, method, model)
        return a.maps, a.raw


def measure(m: np.ndarray, bits: np.ndarray, cfg: dict[str, Any], visible: np.ndarray | None = None) -> dict[str, Any]:
    """All per-map measurements of one normalised map ``m`` against its ROI bitmask ``bits``;
    ``visible`` (the sample's shape, True where the prepared input is not black; None: an input
    without black, every location visible) gives the chance level of the heart mass,
    ``mass_heart_uniform``."""
    bits = M.match_roi(bits, m.shape)
    row: dict[str, Any] = {f"mass_{k}": M.mass(m, M.roi(bits, v)) for k, v in MASS_ROIS.items()}
    row["mass_heart_uniform"] = M.uniform_mass(M.roi(bits, ["heart"]), M.match_visible(visible, m.shape))
    pointing = cfg.get("pointing_roi", ["heart"])
    row["pointing_hit"] = M.pointing_hit(m, M.roi(bits, pointing), cfg.get("pointing_tolerance_px", 4))
    oh = cfg.get("outside_heart", {})
    row["mass_outside_heart"], row["top_outside_heart"], row["outside_heart"] = M.outside_heart(
        m, M.roi(bits, ["heart"]), oh.get("threshold", 0.5), oh.get("margin_px", 3), oh.get("top_fraction", 0.1))
    row["entropy"], row["gini"] = M.entropy(m), M.gini(m)
    return row


def run_fold(fa: FoldAttribution, batches, rows: pd.DataFrame, rois: list[np.ndarray], representation: str,
             dual: bool, visible: list[np.ndarray]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Maps and measurements of every sample in ``batches`` ((x, y) in the order of ``rows``);
    ``rois`` and ``visible`` (where the prepared array is not black, see :func:`measure`) one per row.

    Returns (table, maps (n_rows, *map layout) float16, raw CAM maps (n_cam_rows, ...) float16).
    """
    cfg = fa.cfg
    records, maps_out, raw_out = [], [], []
    start = 0
    for x, y in batches:
        b = len(x)
        chunk = rows.iloc[start:start + b]
        with torch.no_grad():
            scores = fa.score_fn(x)
        pred = scores.argmax(dim=1) if fa.task == "classification" else torch.zeros(b, dtype=torch.long, device=x.device)
        for kind, target in targets_of(cfg.get("target", "predicted"), fa.task, fa.names,
                                       y if fa.task == "classification" else pred, pred):
            for method in cfg["methods"]:
                maps, raw = fa.maps(x, target, method)
                dele, ins = M.deletion_insertion(fa.score_fn, x, maps, target, cfg.get("faithfulness_steps", 16))
                mm = maps.cpu().numpy()
                for i in range(b):
                    r = chunk.iloc[i]
                    rec = {"sample_id": r["sample_id"], "method": method, "target_kind": kind,
                           "target": fa.names[int(target[i])], "layer": ",".join(fa.layer_names) if method in CAM_METHODS or method == "guided_gradcam" else "",
                           "map_index": len(maps_out), "raw_index": len(raw_out) if raw is not None else None,
                           "score": float(scores[i, int(target[i])]), "deletion_auc": float(dele[i]), "insertion_auc": float(ins[i]),
                           **measure(mm[i], rois[start + i], cfg, visible[start + i])}
                    if fa.task == "classification":
                        rec.update(y_pred=fa.names[int(pred[i])], correct=bool(pred[i] == y[i]))
                    rec["temporal_profile"] = M.temporal_profile(mm[i]) if representation == "clip" else None
                    rec["input_mass"] = M.input_shares(mm[i]) if dual else None
                    records.append(rec)
                    maps_out.append(mm[i].astype(np.float16))
                    if raw is not None:
                        raw_out.append(raw[i].cpu().numpy().astype(np.float16))
        start += b
        log.info("attributed %d/%d samples", start, len(rows))
    maps_arr = np.stack(maps_out) if maps_out else np.zeros((0,), np.float16)
    raw_arr = np.stack(raw_out) if raw_out else np.zeros((0,), np.float16)
    return pd.DataFrame(records), maps_arr, raw_arr


def sanity_check(fa: FoldAttribution, x: torch.Tensor, seed: int,
                 visible: list[np.ndarray] | None = None) -> pd.DataFrame:
    """Spearman correlation of each method's maps between the trained and a randomised model,
    both explaining the trained model's predicted class (regression: the first output only),
    per sample of ``x``; NaN where either map is constant or near-constant before its
    normalisation (:func:`~cardiolens.attribute.sanity.degenerate_extent` of the raw map's span
    and max |value|: the normalised map of a near-constant one spans [0, 1] like any other).
    ``visible`` (one per sample, its shape, True where the prepared input is not black; None:
    every location) restricts the ranking to what the network sees
    (:func:`~cardiolens.attribute.sanity.rank_correlation`)."""
    rand = for_attribution(randomised(fa.model, seed))
    with torch.no_grad():
        pred = fa.score_fn(x).argmax(dim=1) if fa.task == "classification" else torch.zeros(len(x), dtype=torch.long, device=x.device)
    out = []
    for _, target in targets_of("predicted", fa.task, fa.names, pred, pred)[:1]:
        for method in fa.cfg["methods"]:
            trained, random = fa.attribution(x, target, method), fa.attribution(x, target, method, rand)
            flags = [degenerate_extent(a.span.cpu().numpy(), a.max_abs.cpu().numpy()) for a in (trained, random)]
            maps = trained.maps.cpu().numpy()
            seen = None if visible is None else np.stack([M.match_visible(v, m.shape) for v, m in zip(visible, maps)])
            rho = rank_correlation(maps, random.maps.cpu().numpy(), *flags, where=seen)
            out += [{"method": method, "target": fa.names[int(t)], "spearman": float(r)} for t, r in zip(target, rho)]
    return pd.DataFrame(out)
