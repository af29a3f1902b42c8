"""Resuming a training job from its own checkpoints only.

A killed ``train_fold`` job that is rerun resumes from ``checkpoints/last.ckpt``. That file must
come from the same job: the same training configuration, seed, fold, inputs and code. A rerun
after a parameter change (Snakemake reruns the job when its ``train:`` slice changes) must not
continue the previous model: before this check, changing ``lr`` reran the job but resumed the
earlier run's finished checkpoint, so nothing was trained and the old predictions came back
under the new configuration.

The folder is stamped (``resume.json``) with a key before training starts; a ``last.ckpt``
under another key, or under no key, is deleted with ``best.ckpt`` and the job trains from
scratch. ``epochs`` is left out of the key on purpose: shuffling and augmentation depend only on
(seed, epoch, sample), so continuing a checkpoint to more epochs gives the weights of a fresh run
with that many epochs (``tests/test_train.py``). A checkpoint already past the configured
epochs is discarded.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cardiolens.config import config_hash

log = logging.getLogger(__name__)

STAMP = "resume.json"


def resume_key(cfg: Mapping[str, Any], seed: int, fold: int, context: Mapping[str, Any] | None = None) -> str:
    """sha256 identifying a training job: ``cfg`` without ``epochs``, the seed, the fold and
    ``context`` (JSON-able facts that must match too, e.g. the input files' sha256 and the code hash)."""
    return config_hash({"train": {k: v for k, v in cfg.items() if k != "epochs"}, "seed": seed, "fold": fold,
                        "context": dict(context or {})})


def _epochs_done(last: Path) -> int:
    import torch

    return int(torch.load(last, map_location="cpu", weights_only=False)["epoch"]) + 1  # saved at the end of epoch index k


def checkpoint_to_resume(ckpt_dir: Path, key: str, epochs: int) -> Path | None:
    """``ckpt_dir/last.ckpt`` when it was written under ``key`` and has not passed ``epochs``;
    otherwise None, after deleting the folder's checkpoints (logged with the reason) and stamping
    it with ``key`` (written to a temporary name, then renamed). Only rank 0 of a multi-process
    run deletes and stamps."""
    last, stamp = ckpt_dir / "last.ckpt", ckpt_dir / STAMP
    reason = None
    if last.exists():
        recorded = json.loads(stamp.read_text()).get("key") if stamp.exists() else None
        if recorded is None:
            reason = f"{stamp.name} is missing, so the checkpoint's configuration is unknown"
        elif recorded != key:
            reason = "it was written under another training configuration, input or code"
        else:
            done = _epochs_done(last)
            if done <= epochs:
                log.info("resuming from %s (%d of %d epochs done)", last, done, epochs)
                return last
            reason = f"it has {done} epochs done, more than the {epochs} configured"
        log.warning("not resuming from %s: %s; training from scratch", last, reason)
    if int(os.environ.get("LOCAL_RANK", "0")) == 0:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        for old in ckpt_dir.glob("*.ckpt"):
            old.unlink()
        tmp = ckpt_dir / f".{STAMP}.tmp"
        tmp.write_text(json.dumps({"key": key}) + "\n")
        tmp.replace(stamp)
    return None
