"""The predict stage: a bundle's network applied to the samples of new recordings, and their attribution.

Every sample gets role ``test`` and the bundle's fold. Inputs are normalised exactly as training's
dataset does (:class:`cardiolens.train.dataset.SampleDataset`: float32, minus the fold's training
mean image, divided by its SD; clips get a channel axis) and scored as training's ``predict()``
does (softmax for classification), so the probabilities equal those of the training run's own
test role for the same recordings. Tables' provenance names the bundle hash.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import provenance
from cardiolens.predict.bundle import BundleError, load_network, read_config, read_normalisation, verify_bundle
from cardiolens.tables import read_table, write_table
from cardiolens.tables.registry import ATTRIBUTION, RECORDINGS, SAMPLES

log = logging.getLogger(__name__)


def bundle_rows(samples: pd.DataFrame, cfg: dict[str, Any], bundle: str) -> pd.DataFrame:
    """The samples the bundle scores (its training variants), sorted by sample_id, role test.

    Raises:
        BundleError: samples of another representation, modality-free shape mismatch.
    """
    prep = cfg["prepare"]
    if len(samples) and set(samples["representation"]) != {prep["representation"]}:
        raise BundleError(f"bundle {bundle}: expects representation {prep['representation']!r}, "
                          f"the inputs give {sorted(set(samples['representation']))}")
    rows = samples[samples["variant"].isin(cfg["train"]["variants"])].sort_values("sample_id").reset_index(drop=True)
    if not len(rows):
        raise BundleError(f"bundle {bundle}: no sample of the variants {cfg['train']['variants']} in the inputs")
    shape = [int(s) for s in rows["shape"].iloc[0]]
    if shape != cfg["input"]["shape"]:
        raise BundleError(f"bundle {bundle}: expects input shape {cfg['input']['shape']}, the inputs give {shape}")
    return rows.assign(role="test", fold=int(cfg["fold"]))


def dataset(rows: pd.DataFrame, cfg: dict[str, Any], bundle: str):
    """Training's item dataset over ``rows`` with the bundle's normalisation (no augmentation)."""
    from cardiolens.train.dataset import SampleDataset

    mean, sd = read_normalisation(bundle)
    classification = cfg["train"].get("task", "classification") == "classification"
    # Labels outside the bundle's classes cannot be indexed: such rows get a placeholder class index
    # (unused by the scores; the attribution's `correct` is recomputed from the real label).
    names = cfg["names"]
    labelled = rows.assign(label=[v if isinstance(v, str) and v in names else names[0] for v in rows["label"]]) if classification else rows
    return SampleDataset(labelled, names if classification else None, mean, sd, None, int(cfg["seed"]),
                         cfg["prepare"]["representation"] == "clip")


def predict_rows(rows: pd.DataFrame, cfg: dict[str, Any], bundle: str) -> pd.DataFrame:
    """Predictions of ``rows`` with the training predictions' columns (before study/checkpoint)."""
    import torch
    from torch.utils.data import DataLoader

    net = load_network(bundle, cfg).float()
    ds = dataset(rows, cfg, bundle)
    task, names = cfg["train"].get("task", "classification"), cfg["names"]
    with torch.no_grad():
        outs = [net(x) for x, _ in DataLoader(ds, batch_size=int(cfg["train"]["batch_size"]), shuffle=False)]
    scores = torch.cat(outs)
    scores = (scores.softmax(dim=1) if task == "classification" else scores).numpy()
    out = []
    for (_, r), p in zip(rows.iterrows(), scores):
        row = {"sample_id": r["sample_id"], "patient_key": r["patient_key"], "fold": int(cfg["fold"]), "role": "test"}
        if task == "classification":
            row.update({"y_true": None if pd.isna(r["label"]) else r["label"], **{f"p_{c}": float(v) for c, v in zip(names, p)}, "y_pred": names[int(np.argmax(p))]})
        else:
            row.update({**{f"true_{n}": float(v) for n, v in zip(names, r["targets"])},
                        **{f"pred_{n}": float(v) for n, v in zip(names, p)}})
        out.append(row)
    return pd.DataFrame(out)


def run_predict(samples_path: str, bundle: str, out_dir: str, rule: str = "predict_study") -> None:
    """Write ``predictions.parquet`` (sample level) and ``patient_predictions.parquet`` into ``out_dir``."""
    from cardiolens.tables.registry import predictions_schema, regression_predictions_schema
    from cardiolens.train.stage import patient_level

    digest = verify_bundle(bundle)
    cfg = read_config(bundle)
    rows = bundle_rows(read_table(samples_path, SAMPLES), cfg, bundle)
    task, names = cfg["train"].get("task", "classification"), cfg["names"]
    preds = predict_rows(rows, cfg, bundle).assign(study=cfg["study"], checkpoint_sha256=cfg["checkpoint_weights_sha256"])
    out = Path(out_dir)
    inputs = provenance.describe_inputs([samples_path, Path(bundle) / "manifest.json"])
    extra = {"bundle_sha256": digest, "bundle_study": cfg["study"], "bundle_fold": cfg["fold"]}
    cslice = {"study": cfg["study"], "bundle_sha256": digest}
    if task == "classification":
        true = sorted(set(names) | set(preds["y_true"].dropna().astype(str)))
        schema, patients = (predictions_schema(names, level, true) for level in ("sample", "patient"))
        unseen = sorted(set(true) - set(names))
        if unseen:
            log.info("predict %s: %d samples are labelled %s, a class the bundle was not trained on (outputs: %s)",
                     cfg["study"], int(preds["y_true"].isin(unseen).sum()), ", ".join(unseen), ", ".join(names))
    else:
        schema, patients = regression_predictions_schema(names), regression_predictions_schema(names, "patient")
    write_table(preds.reindex(columns=schema.names).sort_values(["role", "sample_id"]), out / "predictions.parquet", schema,
                provenance.build(rule, inputs, cslice, extra))
    write_table(patient_level(preds, names, task).reindex(columns=patients.names), out / "patient_predictions.parquet",
                patients, provenance.build(rule, inputs, cslice, extra))
    log.info("predict %s with bundle %s: %d samples of %d patients", cfg["study"], digest[:12], len(preds),
             preds["patient_key"].nunique())


def run_predict_attribution(samples_path: str, predictions_path: str, recordings_path: str, bundle: str, out_dir: str,
                            rule: str = "predict_attribute") -> None:
    """Captum maps of the bundle's network on the predicted samples (the bundle's attribute settings,
    no randomisation check: that concerns the model, checked when it was trained); writes
    ``attribution.parquet`` and ``maps.npy`` / ``raw_maps.npy`` into ``out_dir``."""
    import torch

    from cardiolens.attribute.run import FoldAttribution
    from cardiolens.attribute.stage import attribute_samples, attribution_device, black_input, markers

    digest = verify_bundle(bundle)
    cfg = read_config(bundle)
    acfg, train = cfg["attribute"], cfg["train"]
    rows = bundle_rows(read_table(samples_path, SAMPLES), cfg, bundle)
    task, names, fold = train.get("task", "classification"), cfg["names"], int(cfg["fold"])
    if task == "classification" and acfg.get("target", "predicted") != "predicted" and not rows["label"].isin(names).all():
        # A label the model has no output for cannot be explained as the true class.
        log.info("predict_attribute: labels outside the bundle's classes: explaining the predicted class only")
        acfg = {**acfg, "target": "predicted"}
    representation = cfg["prepare"]["representation"]
    clip = representation == "clip"
    torch.manual_seed(int(cfg["seed"]) + fold)
    ds = dataset(rows, cfg, bundle)
    mean, sd = read_normalisation(bundle)
    black = black_input(mean, sd, clip)
    device = attribution_device(train)
    fa = FoldAttribution(load_network(bundle, cfg).to(device), task, names, acfg, ds[0][0][None].to(device),
                         None if black is None else black.to(device))
    out = Path(out_dir)
    table = attribute_samples(fa, ds, rows, representation, bool(train.get("dual_input")), acfg["batch_size"], device, out)
    meta = rows.set_index("sample_id")
    recordings = read_table(recordings_path, RECORDINGS)
    mk = markers(recordings[recordings["recording_id"].isin(rows["recording_id"])])
    if len(table):
        m = meta.loc[table["sample_id"]]
        if task == "classification":  # the dataset's placeholder class must not count as a true label
            labels = m["label"].to_numpy()
            table["correct"] = [None if pd.isna(t) else bool(p == t) for p, t in zip(table["y_pred"], labels)]
        table = table.assign(study=cfg["study"], fold=fold, role="test", recording_id=m["recording_id"].values,
                             patient_key=m["patient_key"].values, label=m["label"].values, map_path=str(out / "maps.npy"),
                             map_axes=["input," + a.split(",", 1)[1] if not clip else a for a in m["axes"]],
                             spacing=list(m["spacing"].values), pointing_roi="&".join(acfg["pointing_roi"]),
                             marker=[mk.get(r) for r in m["recording_id"]], checkpoint_sha256=cfg["checkpoint_weights_sha256"])
    inputs = provenance.describe_inputs([samples_path, predictions_path, recordings_path, Path(bundle) / "manifest.json",
                                         out / "maps.npy", out / "raw_maps.npy"])
    extra = {"bundle_sha256": digest, "bundle_study": cfg["study"], "bundle_fold": fold, "layers": fa.layer_names}
    write_table(table.reindex(columns=ATTRIBUTION.names), out / "attribution.parquet", ATTRIBUTION,
                provenance.build(rule, inputs, {"study": cfg["study"], "bundle_sha256": digest, "attribute": acfg}, extra))
