"""The soft vote of the image and the indices models (cardiolens.stats.combine), by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from cardiolens.stats.combine import soft_vote


def _preds(rows: list[tuple[str, int, str, float, float, float]], sha: str) -> pd.DataFrame:
    """(patient_key, fold, y_true, p_DCM, p_HCM, p_NOR) rows; y_pred their arg-max."""
    df = pd.DataFrame(rows, columns=["patient_key", "fold", "y_true", "p_DCM", "p_HCM", "p_NOR"])
    df["y_pred"] = df[["p_DCM", "p_HCM", "p_NOR"]].idxmax(axis=1).str[2:]
    return df.assign(study="s", role="test", checkpoint_sha256=sha)


def test_mean_of_probabilities_decides_where_the_models_disagree():
    # P1: image says HCM at 0.6, indices NOR at 0.9 -> mean (0.05, 0.35, 0.6): NOR.
    # P2: both DCM -> DCM. P3 is predicted by the image model only: not in the vote.
    image = _preds([("P1", 0, "NOR", 0.1, 0.6, 0.3), ("P2", 0, "DCM", 0.8, 0.1, 0.1), ("P3", 1, "HCM", 0.2, 0.7, 0.1)], "a")
    indices = _preds([("P1", 0, "NOR", 0.0, 0.1, 0.9), ("P2", 0, "DCM", 0.6, 0.2, 0.2)], "b")
    v = soft_vote(image, indices)
    assert v["patient_key"].tolist() == ["P1", "P2"]
    assert v[["p_DCM", "p_HCM", "p_NOR"]].to_numpy().ravel().tolist() == pytest.approx([0.05, 0.35, 0.6, 0.7, 0.15, 0.15])
    assert v["y_pred"].tolist() == ["NOR", "DCM"] and (v["y_pred"] == v["y_true"]).all()
    assert v["checkpoint_sha256"].nunique() == 1 and len(v["checkpoint_sha256"].iloc[0]) == 64


def test_models_that_disagree_on_the_truth_or_the_classes_are_refused():
    image = _preds([("P1", 0, "NOR", 0.1, 0.6, 0.3)], "a")
    with pytest.raises(ValueError, match="different y_true.*P1 fold 0"):
        soft_vote(image, _preds([("P1", 0, "HCM", 0.1, 0.6, 0.3)], "b"))
    with pytest.raises(ValueError, match="different classes"):
        soft_vote(image, _preds([("P1", 0, "NOR", 0.1, 0.6, 0.3)], "b").drop(columns="p_NOR"))
