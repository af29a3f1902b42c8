"""From where the network looked to what the heart did there (study 3).

``patient_motion`` averages each segment's motion measures over a patient's recordings and joins
the attribution of the patient's samples: the mean share of the map on the basal and apical
thirds of the LV (``mass_base``, ``mass_apex`` of the attribution table) for one method, over
every attributed sample of the patient (each patient is tested in one fold). Patients outside the
attributed roles keep their motion with null saliency. ``motion_group_tests`` compares the
per-patient measures between the study's classes (:func:`cardiolens.stats.groups.compare_groups`):
the patient is the unit, as the recordings of one patient are not independent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiolens.stats.groups import compare_groups
from cardiolens.stats.units import UNIT

MEASURES = ("peak_systolic_mm", "peak_systolic_px", "peak_diastolic_mm", "peak_strain")


def patient_motion(motion: pd.DataFrame, attribution: pd.DataFrame | None, method: str) -> pd.DataFrame:
    """One row per (study, patient, segment): mean motion measures and the saliency join."""
    keys = ["study", "patient_key", "label", "segment", "wall", "level"]
    m = motion.copy()
    for c in MEASURES:
        m[c] = pd.to_numeric(m[c], errors="coerce")
    agg = m.groupby(keys, sort=True).agg(n_recordings=("recording_id", "nunique"),
                                        **{c: (c, "mean") for c in MEASURES}).reset_index()
    agg["saliency_method"] = method
    if attribution is None or attribution.empty:
        sal = pd.DataFrame(columns=["patient_key", "n_attributed", "correct_fraction", "saliency_base", "saliency_apex"])
    else:
        a = attribution[(attribution["method"] == method) & (attribution["target_kind"] == "predicted")]
        sal = a.groupby("patient_key").agg(n_attributed=("sample_id", "size"),
                                            correct_fraction=("correct", lambda s: float(s.astype(float).mean()) if s.notna().any() else np.nan),
                                            saliency_base=("mass_base", "mean"), saliency_apex=("mass_apex", "mean")).reset_index()
    out = agg.merge(sal, on="patient_key", how="left")
    out["n_attributed"] = out["n_attributed"].fillna(0).astype(int)
    out["saliency_level"] = np.select([out["level"] == "basal", out["level"] == "apical"],
                                      [out["saliency_base"], out["saliency_apex"]], default=np.nan)
    return out


def motion_group_tests(per_patient: pd.DataFrame, test: str, correction: str) -> pd.DataFrame:
    """Each motion measure compared between classes, per segment (patient level).

    Args:
        per_patient: :func:`patient_motion` rows (one per patient and segment, with ``n_recordings``).
    Returns:
        :func:`compare_groups` rows (n_a, n_b: patients) with ``unit`` (patient), ``n_units``
        (patients compared, n_a + n_b) and ``n_samples`` (their recordings, the sum of
        ``n_recordings`` over the patients with a value in either group).
    """
    measures = [m for m in MEASURES if per_patient[m].notna().any()]
    out = compare_groups(per_patient, measures, "label", test, correction, by=["study", "segment"])
    if out.empty:
        return out
    recordings = []
    for r in out.itertuples():
        part = per_patient[(per_patient["study"] == r.study) & (per_patient["segment"] == r.segment)
                           & per_patient["label"].astype(str).isin([r.group_a, r.group_b])]
        have = pd.to_numeric(part[r.measure], errors="coerce").notna()
        recordings.append(int(part.loc[have, "n_recordings"].sum()))
    return out.assign(unit=UNIT, n_units=(out["n_a"] + out["n_b"]).astype("int64"), n_samples=recordings)


def cycle_curves(motion: pd.DataFrame, segment: str, points: int = 50) -> pd.DataFrame:
    """Displacement curves of one segment resampled to ``points`` over the tracked window
    (0 = ED, 1 = end of the window), long format (recording_id, label, phase, displacement_mm);
    two-point recordings are left out."""
    rows = []
    for r in motion[motion["segment"] == segment].itertuples():
        d = np.asarray(r.displacement_mm, dtype=float)
        if len(d) < 3:
            continue
        phase = np.linspace(0, 1, points)
        rows.append(pd.DataFrame({"recording_id": r.recording_id, "label": r.label, "phase": phase,
                                  "displacement_mm": np.interp(phase, np.linspace(0, 1, len(d)), d)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["recording_id", "label", "phase", "displacement_mm"])
