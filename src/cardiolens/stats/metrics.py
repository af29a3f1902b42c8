"""Per-set performance metrics (pure functions over label and score arrays).

Classification: accuracy, balanced accuracy (mean per-class recall), per-class sensitivity and
specificity from the confusion matrix, and the AUC (binary, or the one-vs-rest macro average for
more than two classes, as scikit-learn's ``roc_auc_score(multi_class="ovr")``; the tests check
every value against scikit-learn). Regression: MAE, RMSE and Spearman's rho (scipy).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def confusion(y_true: NDArray, y_pred: NDArray, classes: list[str]) -> NDArray[np.int64]:
    """(C, C) counts, rows true class, columns predicted class, in ``classes`` order
    (scikit-learn's ``confusion_matrix``)."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=classes).astype(np.int64)


def classification_names(classes: list[str]) -> list[tuple[str, str | None]]:
    """(metric, class) pairs returned by :func:`classification`, in order."""
    out: list[tuple[str, str | None]] = [("accuracy", None), ("balanced_accuracy", None), ("auc", None)]
    for c in classes:
        out += [("sensitivity", c), ("specificity", c)]
    if len(classes) > 2:
        out += [("auc", c) for c in classes]
    return out


def encode(labels: NDArray, classes: list[str]) -> NDArray[np.int64]:
    """Class names -> indices into ``classes`` (ValueError naming an unknown label)."""
    index = {c: k for k, c in enumerate(classes)}
    try:
        return np.fromiter((index[v] for v in labels), dtype=np.int64, count=len(labels))
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not one of the classes {classes}") from None


def rank_auc(positive: NDArray[np.bool_], score: NDArray) -> float:
    """ROC AUC as the Mann-Whitney U statistic over n1 n0 (ties count one half), ranks from
    scipy.stats.rankdata; NaN when a group is empty. Equals scikit-learn's roc_auc_score."""
    from scipy.stats import rankdata

    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def classification(y_true: NDArray[np.int64], y_pred: NDArray[np.int64], proba: NDArray, n_classes: int) -> NDArray[np.float64]:
    """Values in the order of :func:`classification_names`.

    y_true, y_pred: (N,) class indices (:func:`encode`); proba: (N, C) scores. The AUC is binary
    with class 0 as positive, else the one-vs-rest macro average (scikit-learn's
    ``multi_class="ovr"``), followed by each class's one-vs-rest AUC. Undefined values are NaN.
    This runs inside the bootstrap (thousands of calls), hence confusion by ``np.bincount``.
    """
    cm = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes).astype(float)
    n = cm.sum()
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diag(cm) / support
        spec = (n - cm.sum(0) - support + np.diag(cm)) / (n - support)
    ovr = [rank_auc(y_true == k, proba[:, k]) for k in range(n_classes)] if n_classes > 2 else []
    overall = rank_auc(y_true == 0, proba[:, 0]) if n_classes == 2 else (float(np.mean(ovr)) if np.all(np.isfinite(ovr)) else np.nan)
    vals = [np.trace(cm) / n if n else np.nan, np.nanmean(recall) if np.isfinite(recall).any() else np.nan, overall]
    for k in range(n_classes):
        vals += [recall[k], spec[k]]
    return np.asarray(vals + ovr, dtype=np.float64)


def regression_names(targets: list[str]) -> list[tuple[str, str | None]]:
    return [(m, t) for t in targets for m in ("mae", "rmse", "spearman")]


def regression(true: NDArray, pred: NDArray) -> NDArray[np.float64]:
    """true, pred: (N, T); MAE, RMSE and Spearman's rho per target, in :func:`regression_names` order."""
    from scipy.stats import spearmanr

    vals = []
    for k in range(true.shape[1]):
        t, p = true[:, k], pred[:, k]
        err = p - t
        rho = spearmanr(t, p).statistic if len(t) > 2 and np.ptp(t) > 0 and np.ptp(p) > 0 else np.nan
        vals += [np.mean(np.abs(err)), np.sqrt(np.mean(err**2)), rho]
    return np.asarray(vals, dtype=np.float64)
