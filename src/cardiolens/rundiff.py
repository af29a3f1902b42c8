"""Compare two results folders: the determinism check of issue 10 (same config and seed -> same bytes).

Every file under one ``results/`` must be byte-identical to the same file under the other:
tables, canonical images, shards, maps, truth files, figures and pages, except the declared set
:data:`NOT_COMPARED`. No Parquet table holds a wall-clock field: provenance records no clock
time, host or user (``cardiolens.provenance``), and training history is indexed by epoch. The
wall-clock outputs are Snakemake's benchmark files, the job logs and the report; checkpoints are
left out too, because Lightning writes the run folder's absolute path into them (their weights
are compared through the weights sha256 that the predictions and attribution tables record).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

#: Files under results/ that are not compared (glob patterns relative to the results folder,
#: ``*`` crossing folders), with the reason.
NOT_COMPARED: dict[str, str] = {
    "benchmarks/*": "Snakemake's job timings (wall clock)",
    "logs/*": "timestamped log lines (wall clock)",
    "report.html": "Snakemake's report shows run times (wall clock)",
    "*.ckpt": "Lightning writes the run folder's absolute path into checkpoints; the tables record their weights sha256",
}


@dataclass(frozen=True)
class Difference:
    path: str      # relative to the results folder
    kind: str      # only_in_a, only_in_b, bytes
    detail: str


def _compared(root: Path) -> dict[str, Path]:
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not any(fnmatch.fnmatch(rel, g) for g in NOT_COMPARED):
            out[rel] = p
    return out


def diff_runs(a: str | Path, b: str | Path) -> list[Difference]:
    """Files of two results folders that differ (sorted by path); empty when the runs agree."""
    fa, fb = _compared(Path(a)), _compared(Path(b))
    out = [Difference(rel, "only_in_a", "missing from the second run") for rel in sorted(set(fa) - set(fb))]
    out += [Difference(rel, "only_in_b", "missing from the first run") for rel in sorted(set(fb) - set(fa))]
    for rel in sorted(set(fa) & set(fb)):
        pa, pb = fa[rel], fb[rel]
        if pa.stat().st_size == pb.stat().st_size and pa.read_bytes() == pb.read_bytes():
            continue
        out.append(Difference(rel, "bytes", f"{pa.stat().st_size} vs {pb.stat().st_size} bytes"))
    return sorted(out, key=lambda d: d.path)


def compared_files(root: str | Path) -> list[str]:
    """The files :func:`diff_runs` compares under one results folder (relative paths, sorted)."""
    return sorted(_compared(Path(root)))
