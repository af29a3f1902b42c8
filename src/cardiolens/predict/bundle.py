"""A trained fold as a self-contained, relocatable model bundle (in the spirit of a MONAI bundle).

A bundle is a folder::

    weights.pt          the network's state_dict (best checkpoint, ``net.`` prefix removed)
    config.json         study, seed, fold, preprocessing slice (label, modality, representation and
                        its settings, selection keys), train block (network, network_params, task,
                        variants...), attribute block, output names, input specification
    normalisation.npz   the fold's training-role mean image and SD (``mean``, ``sd``)
    metrics.json        the fold's validation metrics (best epoch) with their unit and n
    README.md           the model card
    manifest.json       every other file with its sha256; the bundle hash is the manifest's sha256

Nothing in it identifies a patient or names an absolute path: data and code are recorded by
their sha256 only. It is written to a temporary folder beside the target, then renamed, so a
half-written bundle never looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.errors import InputError
from cardiolens.hashing import sha256_file

FILES = ("weights.pt", "config.json", "normalisation.npz", "metrics.json", "README.md")
MANIFEST = "manifest.json"
FORMAT = "cardiolens-bundle/1"


class BundleError(InputError):
    """A bundle that cannot be used, or inputs that do not match it; the message names both."""


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=float) + "\n"


def input_spec(samples: pd.DataFrame) -> dict[str, Any]:
    """Sample shape, axes and spacing of a study's model inputs (first sample; prepare gives one shape)."""
    first = samples.iloc[0]
    return {"shape": [int(s) for s in first["shape"]], "axes": str(first["axes"]),
            "spacing": [float(s) for s in first["spacing"]], "dtype": "float32",
            "channel_added": first["representation"] == "clip"}


def fold_metrics(history: pd.DataFrame, predictions: pd.DataFrame, monitor: str,
                 train_n: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """Validation metrics of the best epoch (by ``monitor``, as the checkpoint was chosen), plus the
    role they were computed on and its number of samples and patients (the unit of each metric)."""
    from cardiolens.train.targets import monitor_mode

    stage, metric = monitor.split("/", 1)
    h = history[history["stage"] == stage]
    pick = h[h["metric"] == metric]
    best = None
    if len(pick):
        best = int(pick.loc[pick["value"].idxmin() if monitor_mode(monitor) == "min" else pick["value"].idxmax(), "epoch"])
    rows = h[h["epoch"] == best] if best is not None else h.iloc[:0]
    # Without validation patients training monitors its own training patients (SplitDataModule.monitor_role),
    # ``train_n`` (samples, patients) of them; the predictions hold only the val and test roles.
    role = "val" if (predictions["role"] == "val").any() else "train"
    val = predictions[predictions["role"] == "val"]
    n_samples, n_patients = (len(val), val["patient_key"].nunique()) if role == "val" else train_n
    return {"monitor": monitor, "best_epoch": best, "role": role, "unit": "sample",
            "n_samples": int(n_samples), "n_patients": int(n_patients),
            "metrics": {f"{r['stage']}/{r['metric']}": float(r["value"]) for _, r in rows.iterrows()}}


def model_card(cfg: dict[str, Any], metrics: dict[str, Any], data: dict[str, Any]) -> str:
    """The bundle's README.md: what it predicts, its training data, metrics (unit, n), use and limits."""
    prep, train = cfg["prepare"], cfg["train"]
    task = train.get("task", "classification")
    what = (f"the class of `{prep['label']}` among {', '.join(f'`{c}`' for c in cfg['names'])} (softmax probabilities in this order)"
            if task == "classification" else f"the regression targets {', '.join(cfg['names'])}")
    rep = prep["representation"]
    lines = [f"# Model card: {cfg['study']}, fold {cfg['fold']}", "",
             f"Bundle format `{FORMAT}`, written by cardiolens {cfg['code']['cardiolens_version']}.", "",
             "## What it predicts", "",
             f"From one {prep.get('modality') or 'any-modality'} recording's `{rep}` model input "
             f"(shape {cfg['input']['shape']}, axes `{cfg['input']['axes']}`) it predicts {what}. "
             f"Network `{train['network']}` (parameters {json.dumps(train.get('network_params') or {})}), task {task}.", "",
             "## Training data", "",
             f"{data['n_patients']['train']} training and {data['n_patients']['val']} validation patients "
             f"({data['n_samples']['train']} and {data['n_samples']['val']} samples); "
             f"{data['n_patients']['test']} test patients were held out.", ""]
    if data.get("classes"):
        lines += ["| class | train patients | val patients |", "|---|---|---|"]
        lines += [f"| {c} | {n.get('train', 0)} | {n.get('val', 0)} |" for c, n in data["classes"].items()]
        lines += [""]
    lines += [f"Data: samples table sha256 `{cfg['data']['samples_sha256']}`, splits table sha256 "
              f"`{cfg['data']['splits_sha256']}`; code hash `{cfg['code']['train_code_sha256']}`.", "",
              "## Validation metrics", "",
              f"Best epoch {metrics['best_epoch']} by `{metrics['monitor']}`, computed on the {metrics['role']} role"
              + (" (the fold has no validation patients, so training monitored its own training patients: these "
                 "metrics say how well it fits them, not how it generalises)" if metrics["role"] != "val" else "")
              + f"; unit: {metrics['unit']}, n = {metrics['n_samples']} samples of {metrics['n_patients']} patients.", "",
              "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in sorted(metrics["metrics"].items())]
    lines += ["", "## Intended use and limits", "",
              "For research and external validation with `cardiolens predict --model <this folder>`; not for "
              "clinical decisions. It applies only to recordings of the same modality and representation, "
              "prepared with the settings in `config.json` (the command refuses others). It was trained on few "
              "patients: its metrics carry wide uncertainty and it may not transfer to other scanners, sites or "
              "populations. Predictions are per sample; aggregate to the patient before inference.", ""]
    return "\n".join(lines)


def write_manifest(folder: Path) -> str:
    """Write ``manifest.json`` (every file of ``folder`` but itself, with sha256); returns the bundle hash."""
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest = {"format": FORMAT, "files": {f: sha256_file(folder / f) for f in files}}
    (folder / MANIFEST).write_text(_json(manifest), encoding="utf-8")
    return sha256_file(folder / MANIFEST)


def write_bundle(out: str | os.PathLike[str], *, checkpoint: Path, cfg: dict[str, Any], normalisation: dict[str, np.ndarray],
                 fold: int, metrics: dict[str, Any], data: dict[str, Any]) -> str:
    """Write the bundle folder ``out`` atomically (temporary sibling, then rename); returns its hash.

    ``cfg``: the bundle's config.json (see the module docstring); ``data``: training-data counts
    for the model card (no identifiers)."""
    import torch

    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    weights = {k[len("net."):]: v.detach().cpu() for k, v in state.items() if k.startswith("net.")}
    torch.save(weights, tmp / "weights.pt")
    norm = {}
    if f"fold{fold}_mean" in normalisation:
        norm["mean"] = np.asarray(normalisation[f"fold{fold}_mean"], np.float32)
    norm["sd"] = np.asarray(float(normalisation.get(f"fold{fold}_sd", 1.0)))
    np.savez(tmp / "normalisation.npz", **norm)
    (tmp / "config.json").write_text(_json(cfg), encoding="utf-8")
    (tmp / "metrics.json").write_text(_json(metrics), encoding="utf-8")
    (tmp / "README.md").write_text(model_card(cfg, metrics, data), encoding="utf-8")
    digest = write_manifest(tmp)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return digest


def verify_bundle(folder: str | os.PathLike[str]) -> str:
    """Check every file against the manifest; returns the bundle hash.

    Raises:
        BundleError: not a bundle, an unreadable manifest, a file missing, changed or not listed
            (hidden files such as ``.DS_Store`` aside).
    """
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise BundleError(f"{folder}: not a cardiolens model bundle (no {MANIFEST})")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise BundleError(f"bundle {folder}: {MANIFEST} is not readable JSON (changed after export)") from None
    listed = manifest.get("files", {}) if isinstance(manifest, dict) else {}
    for name in FILES:
        if name not in listed:
            raise BundleError(f"bundle {folder}: {MANIFEST} does not list {name}")
    for name, sha in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            raise BundleError(f"bundle {folder}: {name} is missing")
        if sha256_file(path) != sha:
            raise BundleError(f"bundle {folder}: {name} differs from its sha256 in {MANIFEST} (changed after export)")
    # hidden files (a copy's .DS_Store) are not the bundle's; anything else must be listed
    unlisted = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                      and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                      and str(p.relative_to(folder)) not in listed and p.name != MANIFEST)
    if unlisted:
        raise BundleError(f"bundle {folder}: {unlisted[:3]} not listed in {MANIFEST} (added after export)")
    return sha256_file(folder / MANIFEST)


def read_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The bundle's config.json."""
    return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))


def read_normalisation(folder: str | os.PathLike[str]) -> tuple[np.ndarray | None, float]:
    """(mean image or None, SD) the bundle's network expects its inputs normalised with."""
    with np.load(Path(folder) / "normalisation.npz") as z:
        return (z["mean"] if "mean" in z.files else None), float(z["sd"])


def load_network(folder: str | os.PathLike[str], cfg: dict[str, Any] | None = None):
    """The bundle's network (``make_network`` from its config, weights loaded), in eval mode, CPU."""
    import torch

    from cardiolens.train.networks import make_network

    cfg = cfg or read_config(folder)
    train = {**cfg["train"], "targets": cfg.get("targets"), "pretrained": None}
    net = make_network(train, tuple(cfg["input"]["shape"]), len(cfg["names"]), cfg["prepare"]["representation"])
    net.load_state_dict(torch.load(Path(folder) / "weights.pt", map_location="cpu", weights_only=True))
    return net.eval()
