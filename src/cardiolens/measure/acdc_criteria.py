"""ACDC's class definitions (Bernard et al., IEEE TMI 2018) as checks on the ``indices`` table.

The thresholds as the cardiomyopathy-diagnosis issue states them, on what masks can measure:

- DCM: LV EF < 40 % and LV EDV > 100 ml/m^2;
- HCM: (LV mass > 110 g/m^2 and LV EF > 55 %) or max ED wall thickness > 15 mm;
- MINF: LV EF < 40 % (the definition's abnormal regional contraction is not in the masks);
- RV: RV EDV > 110 ml/m^2 or RV EF < 40 %;
- NOR: LV EF >= 50 % and none of the HCM or RV criteria (DCM and MINF are excluded by the EF).

The checks are not exclusive (a DCM patient also meets MINF's EF criterion): they say whether a
patient's indices satisfy a class's definition, not which class is diagnosed.
"""

from __future__ import annotations

import pandas as pd

#: ACDC's diagnostic groups (Info.cfg ``Group``), in reporting order.
CLASSES = ("NOR", "MINF", "DCM", "HCM", "RV")


def acdc_criteria(indices: pd.DataFrame) -> pd.DataFrame:
    """Per row of an ``indices`` table, whether each ACDC class definition holds.

    Args:
        indices: (N, ...) with the columns of :data:`cardiolens.tables.registry.INDICES`
            (at least ``lv_ef_percent``, ``lv_edv_ml_per_m2``, ``lv_mass_g_per_m2``,
            ``myo_thickness_max_mm``, ``rv_edv_ml_per_m2``, ``rv_ef_percent``).

    Returns:
        (N, 5) boolean, columns :data:`CLASSES`, same index. A comparison with a missing value
        (no BSA, no RV) is False, so a criterion that needs it cannot hold through it.
    """
    need = ["lv_ef_percent", "lv_edv_ml_per_m2", "lv_mass_g_per_m2", "myo_thickness_max_mm", "rv_edv_ml_per_m2",
            "rv_ef_percent"]
    missing = [c for c in need if c not in indices.columns]
    if missing:
        raise ValueError(f"indices lack columns {missing}")
    v = indices[need].astype("float64")
    ef = v["lv_ef_percent"]
    hcm = ((v["lv_mass_g_per_m2"] > 110) & (ef > 55)) | (v["myo_thickness_max_mm"] > 15)
    rv = (v["rv_edv_ml_per_m2"] > 110) | (v["rv_ef_percent"] < 40)
    return pd.DataFrame({
        "NOR": (ef >= 50) & ~hcm & ~rv,
        "MINF": ef < 40,
        "DCM": (ef < 40) & (v["lv_edv_ml_per_m2"] > 100),
        "HCM": hcm,
        "RV": rv,
    }, index=indices.index)[list(CLASSES)]
