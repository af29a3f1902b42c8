"""Late fusion of two patient-level classifiers: the soft vote (pure function).

The combined model of a study with cardiac indices (``studies.<name>.indices``) is the mean rule
of Kittler et al. ("On combining classifiers", IEEE TPAMI 1998): per patient and fold, the mean of
the image network's and the indices classifier's class probabilities, the predicted class its
arg-max. Nothing is fitted, so it needs no data beyond the two models' own predictions and cannot
leak a test patient into training; it is scored on the patients both models predicted.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

KEYS = ["patient_key", "fold"]


def soft_vote(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Patient predictions (study, patient_key, fold, role, y_true, p_<class>..., y_pred,
    checkpoint_sha256) of the mean of ``a``'s and ``b``'s class probabilities, one row per
    (patient_key, fold) that both predicted. Both tables must have the same classes and, per row,
    the same role and true label (a ValueError says which differ); ``checkpoint_sha256`` is the
    sha256 of the two models' checkpoint hashes. Ties go to the first class in ``a``'s column order."""
    classes_a = [c for c in a.columns if c.startswith("p_")]
    classes_b = [c for c in b.columns if c.startswith("p_")]
    if sorted(classes_a) != sorted(classes_b):
        raise ValueError(f"soft vote of models with different classes: {classes_a} vs {classes_b}")
    m = a.merge(b, on=KEYS, suffixes=("_a", "_b"), validate="one_to_one")
    for col in ("role", "y_true"):
        bad = m[m[f"{col}_a"] != m[f"{col}_b"]]
        if len(bad):
            raise ValueError(f"soft vote: {len(bad)} patient(s) with a different {col} in the two models, e.g. "
                             f"{bad.iloc[0]['patient_key']} fold {bad.iloc[0]['fold']}")
    probs = np.stack([(m[f"{c}_a"].to_numpy(float) + m[f"{c}_b"].to_numpy(float)) / 2 for c in classes_a], axis=1)
    out = pd.DataFrame({"study": m["study_a"], "patient_key": m["patient_key"], "fold": m["fold"], "role": m["role_a"],
                        "y_true": m["y_true_a"]})
    for k, c in enumerate(classes_a):
        out[c] = probs[:, k]
    out["y_pred"] = [classes_a[k][2:] for k in probs.argmax(axis=1)]
    out["checkpoint_sha256"] = [hashlib.sha256(f"{x}:{y}".encode()).hexdigest()
                                for x, y in zip(m["checkpoint_sha256_a"], m["checkpoint_sha256_b"])]
    return out.sort_values(KEYS, kind="stable").reset_index(drop=True)
