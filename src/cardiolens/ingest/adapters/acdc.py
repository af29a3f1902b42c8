"""ACDC (Bernard et al., IEEE TMI 2018): ``patientNNN/Info.cfg`` + NIfTI frames and masks.

One recording per patient. With ``patientNNN_4d.nii.gz`` the whole cycle is stored, and each
frame file beside it must be the cine's frame of that number (the masks were drawn on the frame
files); otherwise the ED and ES frames, in cycle order (``source_frames`` gives their 0-based
frame numbers).
Masks: ACDC 1 RV, 2 myocardium, 3 LV -> cardiolens 4, 2, 1; frames without ground truth are
255. ACDC has no timing, so ``frame_time_ms`` is null (ITK time spacing 1). Both the
``training/`` and ``testing/`` layouts are found anywhere under the source path; the folder
name becomes ``split``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import labels as L
from cardiolens.ingest.adapters.folders import by_patient_folder, leftovers
from cardiolens.ingest.adapters.cfg import need_int, opt_float, read_cfg
from cardiolens.ingest.adapters.itkio import check_labels, nifti_problem, read_volume, remap
from cardiolens.ingest.clinical import CANONICAL
from cardiolens.ingest.model import Discovery, Loaded, Reject, Rejection, Unit

PATIENT = re.compile(r"^patient\d{3}$")
ACDC_LABELS = (0, 1, 2, 3)
TO_CANONICAL = {0: L.BACKGROUND, 1: L.RV_CAVITY, 2: L.MYOCARDIUM, 3: L.LV_CAVITY}


#: ACDC's diagnostic groups (Info.cfg ``Group``; Bernard et al., IEEE TMI 2018): the values of its
#: ``cardiomyopathy`` label.
GROUPS = ("NOR", "HCM", "DCM", "MINF", "RV")

def discover(source: dict[str, Any], files: list[Path], mapper: Callable) -> Discovery:
    root = Path(source["path"])
    by_patient, rejections, ancillary = by_patient_folder(files, root, PATIENT, "ACDC")
    units, rows = [], []
    for folder, members in sorted(by_patient.items()):
        pid = folder.name
        own = [m for m in members if m.name == "Info.cfg" or m.name.startswith(pid + "_")]
        bad, extra = leftovers(members, set(own), root, pid)
        rejections += bad
        ancillary += extra
        # A damaged mask costs only itself: the recording is built without it.
        broken = {m: problem for m in own if m.name.endswith(("_gt.nii.gz", "_gt.nii")) and (problem := nifti_problem(m))}
        rejections += [Rejection(str(m.relative_to(root)), "", p.reason, p.message) for m, p in broken.items()]
        own = [m for m in own if m not in broken]
        rel_files = tuple(sorted(str(m.relative_to(root)) for m in own))
        try:
            cfg = read_cfg(folder / "Info.cfg") if (folder / "Info.cfg").exists() else None
            if cfg is None:
                raise Reject("malformed_metadata", f"{pid}: Info.cfg is missing")
            group = cfg.get("Group", "")
            if group not in GROUPS:
                raise Reject("malformed_metadata", f"{pid}: Group {group!r} not in {list(GROUPS)}")
            ed, es, _ = need_int(cfg, "ED", pid), need_int(cfg, "ES", pid), need_int(cfg, "NbFrame", pid)
            if ed == es:
                raise Reject("malformed_metadata", f"{pid}: ED and ES are the same frame ({ed})")
            height, weight = opt_float(cfg, "Height", pid), opt_float(cfg, "Weight", pid)
        except Reject as exc:
            rejections += [Rejection(r, "", exc.reason, exc.message) for r in rel_files]
            continue
        patient_id = f"acdc:{pid}"
        split = folder.parent.name if folder.parent.name in ("training", "testing") else None
        units.append(Unit(uid=patient_id, patient_id=patient_id, study_uid=patient_id, files=rel_files,
                          payload={"folder": str(folder), "split": split}))
        rows.append({"source_id": patient_id, "height_cm": height, "weight_kg": weight, "cardiomyopathy": group})
    clinical = pd.DataFrame(rows, columns=["source_id", *CANONICAL]).set_index("source_id") if rows else None
    return Discovery(units, rejections, ancillary, clinical)


def _check_frame_files(cine: np.ndarray, usable: set[str], folder: Path, four_d: str, ed_es: tuple[int, int]) -> None:
    """Compare each frame file ``<pid>_frameNN.nii.gz`` beside a 4-D cine (T, S, H, W) with the
    cine's frame NN (1-based): the experts drew the ``_gt`` masks on the frame files, and the
    masks are put on the cine's frames ED and ES of Info.cfg, so a frame file that is not that
    frame (a wrong ED/ES, a cine from another acquisition) would put every mask on another image.

    Raises:
        Reject: ``truth_mismatch`` naming the file, or ``frame_count_mismatch`` for a frame
        number beyond the cine.
    """
    pid = folder.name
    for name in sorted(usable):
        match = re.fullmatch(rf"{pid}_frame(\d+)\.nii\.gz", name)
        if match is None:
            continue
        k = int(match.group(1))
        if not 1 <= k <= cine.shape[0]:
            raise Reject("frame_count_mismatch", f"{name}: frame {k} beyond the {cine.shape[0]} frames of {four_d}")
        image, *_ = read_volume(folder / name)
        if image.shape != cine.shape[1:] or not np.array_equal(image.astype(np.float32), cine[k - 1].astype(np.float32)):
            raise Reject("truth_mismatch", f"{name} is not frame {k} of {four_d} (ED {ed_es[0]}, ES {ed_es[1]}): "
                         "its expert masks would lie on another image")


def load(unit: Unit, source: dict[str, Any], key: bytes) -> Loaded:
    folder = Path(unit.payload["folder"])
    pid = folder.name
    cfg = read_cfg(folder / "Info.cfg")
    ed, es, n = need_int(cfg, "ED", pid), need_int(cfg, "ES", pid), need_int(cfg, "NbFrame", pid)
    if ed > n or es > n:
        raise Reject("malformed_metadata", f"{pid}: ED {ed} / ES {es} beyond NbFrame {n}")
    usable = {Path(f).name for f in unit.files}  # without the files rejected on their own (empty, damaged)
    four_d = folder / f"{pid}_4d.nii.gz"
    if four_d.name in usable:
        array, sp, origin, direction = read_volume(four_d)
        if array.ndim != 4:
            raise Reject("inconsistent_series", f"{four_d.name}: expected 4 dimensions, got {array.ndim}")
        if array.shape[0] != n:
            raise Reject("frame_count_mismatch", f"{four_d.name}: {array.shape[0]} frames, Info.cfg NbFrame {n}")
        _check_frame_files(array, usable, folder, four_d.name, (ed, es))
        frames = list(range(n))
        spacing3 = sp[:3]
        direction3 = direction[:3, :3]
        origin3 = origin[:3]
    else:
        frames = sorted({ed - 1, es - 1})
        vols = []
        for f in frames:
            path = folder / f"{pid}_frame{f + 1:02d}.nii.gz"
            if path.name not in usable:
                raise Reject("missing_companion", f"{pid}: frame file {path.name} is missing or unusable")
            vols.append(read_volume(path))
            if vols[-1][0].ndim != 3:
                raise Reject("inconsistent_series", f"{path.name}: expected a volume of slices, got shape {vols[-1][0].shape}")
        shapes = {v[0].shape for v in vols}
        if len(shapes) > 1:
            raise Reject("inconsistent_series", f"{pid}: ED and ES frames have different shapes {sorted(shapes)}")
        if len({v[1] for v in vols}) > 1:
            raise Reject("inconsistent_series", f"{pid}: ED and ES frames have different spacings")
        array = np.stack([v[0] for v in vols])
        spacing3, origin3, direction3 = vols[0][1], vols[0][2], vols[0][3]
    if array.shape[0] == 0 or array.size == 0:
        raise Reject("no_frames", f"{pid}: no frames")
    masks = np.full(array.shape, L.UNLABELLED, np.uint8)
    for f in (ed - 1, es - 1):
        gt = folder / f"{pid}_frame{f + 1:02d}_gt.nii.gz"
        if gt.name in usable:
            m, *_ = read_volume(gt)
            if m.shape != array.shape[1:]:
                raise Reject("inconsistent_series", f"{gt.name}: mask shape {m.shape} differs from image {array.shape[1:]}")
            masks[frames.index(f)] = remap(check_labels(m, ACDC_LABELS, gt.name), TO_CANONICAL)
    direction = np.eye(4)
    direction[:3, :3] = direction3
    return Loaded(
        array=array.astype(np.float32), spacing=(*spacing3, 1.0), modality="MR", view="SAX",
        origin=(*origin3, 0.0), direction=direction, frame_time_ms=None,
        ed_frame=frames.index(ed - 1), es_frame=frames.index(es - 1), source_frames=frames,
        masks=masks if (masks != L.UNLABELLED).any() else None, split=unit.payload["split"],
        n_slices=int(array.shape[1]), spacing_z=float(spacing3[2]),
    )
