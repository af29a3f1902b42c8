"""Export one trained fold as a model bundle (:mod:`cardiolens.predict.bundle`), files at the edges."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from cardiolens import __version__
from cardiolens.hashing import sha256_file
from cardiolens.predict.bundle import fold_metrics, input_spec, write_bundle
from cardiolens.tables import read_table
from cardiolens.tables.registry import HISTORY, SAMPLES, SPLITS

log = logging.getLogger(__name__)


def bundle_slice(config: dict[str, Any], study: str) -> dict[str, Any]:
    """What a bundle of ``study`` records: the prepare slice (without the shard size, a storage
    detail), the train slice and the attribute block."""
    from cardiolens.attribute.stage import attribute_slice
    from cardiolens.prepare.run import study_slice

    prepare = {k: v for k, v in study_slice(config, study).items() if k not in ("shard_size", "study")}
    return {**attribute_slice(config, study), "prepare": prepare}


def export_fold(samples_path: str, splits_path: str, normalisation_path: str, history_path: str, predictions_path: str,
                cslice: dict[str, Any], fold: int, out: str, code: str = "") -> str:
    """Write ``out`` (the bundle of ``fold``) from the train stage's files; returns the bundle hash."""
    import pyarrow.parquet as pq

    from cardiolens.train.targets import target_names

    train = cslice["train"]
    samples = read_table(samples_path, SAMPLES)
    samples = samples[samples["variant"].isin(train["variants"])]
    splits = read_table(splits_path, SPLITS)
    splits = splits[splits["fold"] == fold]
    names = target_names(samples, {**train, "targets": cslice.get("targets")})
    checkpoint = Path(predictions_path).parent / "checkpoints" / "best.ckpt"
    predictions = pq.read_table(predictions_path).to_pandas()
    rows = samples.merge(splits[["patient_key", "role"]], on="patient_key")
    data: dict[str, Any] = {
        "n_patients": {r: int(splits.loc[splits["role"] == r, "patient_key"].nunique()) for r in ("train", "val", "test")},
        "n_samples": {r: int((rows["role"] == r).sum()) for r in ("train", "val", "test")}}
    metrics = fold_metrics(read_table(history_path, HISTORY), predictions, train["monitor"],
                           (data["n_samples"]["train"], data["n_patients"]["train"]))
    if train.get("task", "classification") == "classification":
        per = rows[rows["role"].isin(["train", "val"])].groupby(["label", "role"])["patient_key"].nunique()
        data["classes"] = {c: {r: int(per.get((c, r), 0)) for r in ("train", "val")} for c in names}
    with np.load(normalisation_path) as z:
        norm = {k: z[k] for k in z.files}
    cfg = {"format": "cardiolens-bundle/1", "study": cslice["study"], "fold": fold, "seed": cslice["seed"],
           "prepare": cslice["prepare"], "train": train, "targets": cslice.get("targets"), "attribute": cslice["attribute"],
           "names": names, "input": input_spec(samples),
           "checkpoint_weights_sha256": str(predictions["checkpoint_sha256"].iloc[0]) if len(predictions) else "",
           "data": {"samples_sha256": sha256_file(samples_path), "splits_sha256": sha256_file(splits_path),
                    "normalisation_sha256": sha256_file(normalisation_path), **data},
           "code": {"cardiolens_version": __version__, "train_code_sha256": code}}
    digest = write_bundle(out, checkpoint=checkpoint, cfg=cfg, normalisation=norm, fold=fold, metrics=metrics, data=data)
    log.info("bundle %s fold %d: %s (sha256 %s)", cslice["study"], fold, out, digest)
    return digest
