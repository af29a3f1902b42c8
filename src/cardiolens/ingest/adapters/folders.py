"""Patient-folder layouts (ACDC, CAMUS): sort files into patient folders, metadata, strays."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from cardiolens.ingest.model import Rejection
from cardiolens.ingest.reasons import Reason

#: Documentation shipped inside datasets (citation notes, READMEs): read by nobody, not images.
ANCILLARY = re.compile(r".*\.(md|txt|pdf)$", re.IGNORECASE)


def by_patient_folder(files: list[Path], root: Path, pattern: re.Pattern[str], dataset: str
                      ) -> tuple[dict[Path, list[Path]], list[Rejection], list[str]]:
    """Files grouped by patient folder (name matching ``pattern``); the rest as ancillary or rejected.

    The folder name is the patient: a second folder of the same name (a copy of the export in
    another subfolder, two sites numbering their patients alike) is rejected file by file as
    ``duplicate_patient`` (its documentation files stay ancillary); only the first by path is used."""
    groups: dict[Path, list[Path]] = defaultdict(list)
    rejections: list[Rejection] = []
    ancillary: list[str] = []
    for f in files:
        if pattern.match(f.parent.name):
            groups[f.parent].append(f)
        elif ANCILLARY.match(f.name):
            ancillary.append(str(f.relative_to(root)))
        else:
            rejections.append(Rejection(str(f.relative_to(root)), "", Reason.UNSUPPORTED, f"file outside a {dataset} patient folder"))
    kept: dict[str, Path] = {}
    for folder in sorted(groups):
        if folder.name not in kept:
            kept[folder.name] = folder
            continue
        for f in sorted(groups.pop(folder)):
            if ANCILLARY.match(f.name):
                ancillary.append(str(f.relative_to(root)))
            else:
                rejections.append(Rejection(str(f.relative_to(root)), "", Reason.DUPLICATE_PATIENT,
                                            f"a second {dataset} folder named {folder.name}: only the first by path is used"))
    return dict(sorted(groups.items())), rejections, ancillary


def leftovers(members: list[Path], used: set[Path], root: Path, pid: str) -> tuple[list[Rejection], list[str]]:
    """Files of a patient folder that no recording uses: documentation is ancillary, the rest rejected."""
    rejections, ancillary = [], []
    for m in members:
        if m in used:
            continue
        rel = str(m.relative_to(root))
        if ANCILLARY.match(m.name):
            ancillary.append(rel)
        else:
            rejections.append(Rejection(rel, "", Reason.UNSUPPORTED, f"unexpected file in {pid}"))
    return rejections, ancillary
