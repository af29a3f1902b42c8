"""``indices`` rows from the expert masks of an ACDC patient folder, read in place (no ingest).

An I/O edge for benchmarks and tests on the public data: ``patientNNN/Info.cfg`` (ED, ES,
Group, Height, Weight) and ``patientNNN_frameFF_gt.nii.gz`` of the ED and ES frames, read with
the ACDC adapter's readers and recoded to :mod:`cardiolens.labels` (ACDC 1 RV, 2 myocardium,
3 LV -> 4, 2, 1). The ingest stage's keyed pseudonyms are not computed here: the row's
``patient_key`` and ``recording_id`` are the folder name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cardiolens.ingest.adapters.acdc import ACDC_LABELS, TO_CANONICAL
from cardiolens.ingest.adapters.cfg import need_int, opt_float, read_cfg
from cardiolens.ingest.adapters.itkio import check_labels, read_volume, remap
from cardiolens.measure.indices_table import patient_row


def expert_row(folder: Path, n_rays: int = 90) -> tuple[dict[str, Any], str]:
    """(``indices`` row of the folder's expert ED/ES masks, its Info.cfg Group).

    ``ed_frame``/``es_frame`` are the 0-based frame numbers of the cine (Info.cfg ED - 1, ES - 1).
    Raises the adapter's :class:`~cardiolens.ingest.model.Reject` for a missing or broken file,
    ValueError when the two masks differ in shape or spacing.
    """
    pid = folder.name
    cfg = read_cfg(folder / "Info.cfg")
    ed, es = need_int(cfg, "ED", pid), need_int(cfg, "ES", pid)
    masks, spacings = [], []
    for frame in (ed, es):
        path = folder / f"{pid}_frame{frame:02d}_gt.nii.gz"
        array, spacing, _, _ = read_volume(path)
        masks.append(remap(check_labels(array, ACDC_LABELS, path.name), TO_CANONICAL))
        spacings.append(tuple(spacing[:3]))
    if masks[0].shape != masks[1].shape or spacings[0] != spacings[1]:
        raise ValueError(f"{pid}: ED mask {masks[0].shape} at {spacings[0]} mm, ES mask {masks[1].shape} at {spacings[1]} mm")
    row = patient_row(patient_key=pid, recording_id=pid, mask_source="expert", ed_frame=ed - 1, es_frame=es - 1,
                      ed_mask=masks[0], es_mask=masks[1], spacing_mm=spacings[0],
                      height_cm=opt_float(cfg, "Height", pid), weight_kg=opt_float(cfg, "Weight", pid), n_rays=n_rays)
    return row, cfg.get("Group", "")
