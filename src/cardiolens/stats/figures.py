"""Figures of the stats stage, drawn from its tables (and the prediction tables) only; each is
written as PNG and SVG (:func:`cardiolens.plotting.save_figure`).

- ``roc_<level>.png|svg``: ROC curves of the pooled test predictions (one-vs-rest per class for
  more than two classes) with a band (``stats.bootstrap.confidence``) from the patient bootstrap of the TPR on a fixed FPR
  grid (:func:`cardiolens.stats.bootstrap.patient_bootstrap`).
- ``confusion_<level>.png|svg``: the confusion matrix summed across folds.
- ``subgroups.png|svg``: a forest plot of subgroup accuracy (or MAE) with CIs.
- ``groups_<measure>.png|svg``: box plots of an attribution measure, correct vs incorrect, per
  method: one value per patient and group (the mean of its maps).
- ``motion_curves.png|svg``: basal longitudinal displacement over the cycle, mean +- SD per class.
- ``motion_peaks.png|svg``: per-patient peak systolic displacement of the basal segments per class.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from cardiolens.plotting import pyplot as _plt
from cardiolens.stats.bootstrap import patient_bootstrap
from cardiolens.stats.performance import classes_of

FPR_GRID = np.linspace(0, 1, 101)


def roc_curve_tpr(positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """TPR at FPR_GRID (scikit-learn's roc_curve, linearly interpolated); NaN when a class is absent."""
    from sklearn.metrics import roc_curve

    if positive.all() or not positive.any():
        return np.full(len(FPR_GRID), np.nan)
    fpr, tpr, _ = roc_curve(positive, score)
    return np.interp(FPR_GRID, fpr, tpr)


def roc_figure(preds: pd.DataFrame, title: str, n_resamples: int, confidence: float, seed: int,
               positive: str | None = None):
    """ROC curve(s) of ``preds`` with patient-bootstrap bands: for two classes one curve, of
    ``positive`` (the study's first listed class) against the other, or of the first class in
    the table's order when ``positive`` is None or not a class; one per class against the rest
    otherwise."""
    plt = _plt()
    classes = classes_of(preds)
    if len(classes) == 2:
        targets = [positive] if positive in classes else classes[:1]
    else:
        targets = classes
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    for c in targets:
        pos = (preds["y_true"] == c).to_numpy()
        score = preds[f"p_{c}"].to_numpy(float)
        tpr = roc_curve_tpr(pos, score)
        lo, hi = patient_bootstrap(preds["patient_key"].to_numpy(), lambda i: roc_curve_tpr(pos[i], score[i]),
                                   preds["y_true"].to_numpy(), n_resamples, confidence, seed)
        line, = ax.plot(FPR_GRID, tpr, label=f"{c}" + (" vs rest" if len(classes) > 2 else
                                                      f" (positive) vs {[k for k in classes if k != c][0]}"))
        ax.fill_between(FPR_GRID, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return fig


def confusion_figure(confusion: pd.DataFrame, classes: list[str], title: str):
    plt = _plt()
    cm = confusion.pivot(index="true", columns="pred", values="count").reindex(index=classes, columns=classes).fillna(0).to_numpy(int)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(classes), 1.0 + 0.9 * len(classes)))
    ax.imshow(cm, cmap="Blues")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return fig


def forest_figure(subgroups: pd.DataFrame, title: str):
    plt = _plt()
    s = subgroups.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(5.0, 0.9 + 0.32 * len(s)))
    y = np.arange(len(s))[::-1]
    err = np.vstack([s["estimate"] - s["ci_low"], s["ci_high"] - s["estimate"]]).clip(min=0)
    ax.errorbar(s["estimate"], y, xerr=err, fmt="o", color="k", capsize=3)
    ax.set_yticks(y, [f"{r.subgroup}: {r.value} (n={r.n_patients})" for r in s.itertuples()])
    ax.set(xlabel=s["metric"].iloc[0] if len(s) else "", title=title)
    return fig


def box_figure(table: pd.DataFrame, measure: str, title: str):
    """Box plots of ``measure`` for correct and incorrect predictions, one panel per method, one
    value per patient and group: the mean of its maps (:func:`cardiolens.stats.units.to_unit`),
    as the correct-vs-incorrect test beside it counts them; n is patients. Maps of the predicted
    class only where the table has them (``target_kind``), so a patient's value never mixes maps
    of the predicted and the true class."""
    from cardiolens.stats.units import to_unit

    if "target_kind" in table.columns and (table["target_kind"] == "predicted").any():
        table = table[table["target_kind"] == "predicted"]
    plt = _plt()
    methods = sorted(table["method"].unique())
    fig, axes = plt.subplots(1, len(methods), figsize=(2.4 * len(methods) + 0.6, 3.2), squeeze=False)
    per = to_unit(table, [measure], by=["method", "correct"])
    for ax, m in zip(axes[0], methods):
        t = per[per["method"] == m]
        data = [t.loc[t["correct"] == v, measure].dropna().to_numpy() for v in (True, False)]
        ax.boxplot(data, tick_labels=[f"correct\n(n={len(data[0])} patients)", f"incorrect\n(n={len(data[1])} patients)"])
        ax.set_title(m, fontsize=9)
    axes[0][0].set_ylabel(f"{measure} (patient mean)")
    fig.suptitle(title, fontsize=10)
    return fig


def motion_curves_figure(curves: dict[str, pd.DataFrame], title: str):
    """Mean +- SD displacement per class over the normalised cycle, one panel per segment
    (``curves``: segment -> :func:`cardiolens.stats.motion.cycle_curves`)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(curves), figsize=(3.6 * len(curves) + 0.4, 3.2), squeeze=False, sharey=True)
    for ax, (segment, c) in zip(axes[0], curves.items()):
        for label in sorted(c["label"].dropna().unique(), key=str):
            g = c[c["label"] == label].groupby("phase")["displacement_mm"]
            mean, sd = g.mean(), g.std(ddof=1).fillna(0)
            n = c.loc[c["label"] == label, "recording_id"].nunique()
            ax.plot(mean.index, mean.to_numpy(), label=f"{label} (n={n})")
            ax.fill_between(mean.index, (mean - sd).to_numpy(), (mean + sd).to_numpy(), alpha=0.2)
        ax.set_title(segment, fontsize=9)
        ax.set_xlabel("fraction of the tracked cycle")
        ax.axhline(0, color="0.6", lw=0.6)
    axes[0][0].set_ylabel("displacement towards the apex (mm)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def group_box_figure(table: pd.DataFrame, measure: str, panel: str, group: str, title: str):
    """Box plots of ``measure`` by ``group``, one panel per value of ``panel``."""
    plt = _plt()
    panels = sorted(table[panel].unique(), key=str)
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels) + 0.6, 3.2), squeeze=False, sharey=True)
    for ax, v in zip(axes[0], panels):
        t = table[table[panel] == v]
        groups = sorted(t[group].dropna().unique(), key=str)
        data = [pd.to_numeric(t.loc[t[group] == g, measure], errors="coerce").dropna().to_numpy() for g in groups]
        ax.boxplot(data, tick_labels=[f"{g}\n(n={len(d)})" for g, d in zip(groups, data)])
        ax.set_title(str(v), fontsize=9)
    axes[0][0].set_ylabel(measure)
    fig.suptitle(title, fontsize=10)
    return fig
