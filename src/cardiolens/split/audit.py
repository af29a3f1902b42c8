"""Leakage audit: nothing that identifies a patient or an image may sit in two roles of a fold.

Checked per fold: patient_key, study_key (keyed StudyInstanceUID) and identical pixel content
(pixel_sha256 of the decoded recording) across the roles train / val / test; and that the stored
normalisation statistics (``normalisation.npz``: mean image and SD per fold) are those of the
fold's training-role samples: :func:`normalisation_check` recomputes them from the splits and the
sample arrays and compares (``numpy.allclose``), so statistics that saw validation or test
samples fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class LeakageError(RuntimeError):
    """A split puts the same patient, study or image in two roles; the message names them."""


def leakage_table(study: str, assigned: pd.DataFrame) -> pd.DataFrame:
    """One row per fold and check. ``assigned``: samples with fold, role, study_key, pixel_sha256."""
    rows = []
    for fold, g in assigned.groupby("fold", sort=True):
        for check, column in (("patient_key", "patient_key"), ("study_key", "study_key"), ("pixel_content", "pixel_sha256")):
            roles = g.groupby(column)["role"].agg(lambda r: sorted(set(r)))
            bad = roles[roles.map(len) > 1]
            detail = "; ".join(f"{key} in {'+'.join(r)}" for key, r in bad.items())
            rows.append({"study": study, "fold": int(fold), "check": check, "n_checked": int(len(roles)),
                         "n_violations": int(len(bad)), "status": "fail" if len(bad) else "pass", "detail": detail[:2000]})
    return pd.DataFrame(rows)


def raise_on_leakage(table: pd.DataFrame) -> None:
    failed = table[table["status"] == "fail"]
    if len(failed):
        lines = [f"fold {r.fold}, {r.check}: {r.detail}" for r in failed.itertuples()]
        raise LeakageError("leakage between roles:\n  " + "\n  ".join(lines))


def training_statistics(samples: pd.DataFrame, splits: pd.DataFrame, fold: int) -> tuple[np.ndarray, float, int]:
    """(mean image, scalar SD, n) of the training-role samples of ``fold``, recomputed pixel-wise:
    SD = sqrt(mean over pixels of the per-pixel variance over samples), the definition of
    :func:`cardiolens.split.stage.normalisation`. ``samples``: sample_id, patient_key, array_path,
    array_index; ``splits``: patient_key, fold, role. n = 0 gives an empty mean and SD 0."""
    train = samples.merge(splits[(splits["fold"] == fold) & (splits["role"] == "train")][["patient_key"]], on="patient_key")
    total = total_sq = None
    n = 0
    for path, group in train.groupby("array_path", sort=True):
        block = np.asarray(np.load(path, mmap_mode="r")[np.sort(group["array_index"].to_numpy())], dtype=np.float64)
        total = block.sum(axis=0) if total is None else total + block.sum(axis=0)
        total_sq = (block**2).sum(axis=0) if total_sq is None else total_sq + (block**2).sum(axis=0)
        n += len(block)
    if not n:
        return np.zeros(0), 0.0, 0
    mean = total / n
    return mean, float(np.sqrt(max(float(np.mean(total_sq / n - mean**2)), 0.0))), n


def normalisation_check(samples: pd.DataFrame, splits: pd.DataFrame, stored: dict[str, np.ndarray],
                        rtol: float = 1e-5, atol: float = 1e-6) -> pd.DataFrame:
    """One ``normalisation_from_train_only`` row per fold of ``splits``: the stored
    ``fold<k>_mean`` / ``fold<k>_sd`` against :func:`training_statistics` (``numpy.allclose`` with
    ``rtol`` / ``atol``; the arrays are float32). n_checked: training samples; n_violations: arrays
    missing, of another shape or different (0-2). A normalisation computed with validation or
    test samples, or for another split, fails."""
    rows = []
    for fold in sorted(splits["fold"].unique()):
        mean, sd, n = training_statistics(samples, splits, int(fold))
        bad = []
        for name, expected in ((f"fold{int(fold)}_mean", mean), (f"fold{int(fold)}_sd", np.array(sd))):
            got = stored.get(name)
            if got is None:
                bad.append(f"{name} missing")
            elif np.shape(got) != np.shape(expected):
                bad.append(f"{name} shape {np.shape(got)} != {np.shape(expected)}")
            elif not np.allclose(np.asarray(got, np.float64), expected, rtol=rtol, atol=atol):
                diff = float(np.max(np.abs(np.asarray(got, np.float64) - expected))) if np.size(expected) else 0.0
                bad.append(f"{name} differs (max |stored - recomputed| {diff:.3g})")
        detail = (f"mean image and SD recomputed from the {n} training samples match the stored normalisation" if not bad else
                  "stored normalisation is not that of the training samples: " + "; ".join(bad))
        rows.append({"fold": int(fold), "check": "normalisation_from_train_only", "n_checked": n, "n_violations": len(bad),
                     "status": "fail" if bad else "pass", "detail": detail})
    return pd.DataFrame(rows, columns=["fold", "check", "n_checked", "n_violations", "status", "detail"])
