"""Leakage audit: nothing that identifies a patient or an image may sit in two roles of a fold.

Checked per fold: patient_key, study_key (keyed StudyInstanceUID) and identical pixel content
(pixel_sha256 of the decoded recording) across the roles train / val / test; and that the
normalisation statistics (computed here, per fold) use training-role samples only.
"""

from __future__ import annotations

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
