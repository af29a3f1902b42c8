"""Compare two results folders: the determinism check of issue 10 (same config and seed -> same bytes).

Every Parquet table, canonical image (``.mha``), shard and attribution map (``.npy``) and truth
file (``.json``) under one ``results/`` must be byte-identical to the same file under the other.

Wall-clock fields: no Parquet table holds one. Provenance records no clock time, host or user
(``cardiolens.provenance``), training history is indexed by epoch, not time. The only wall-clock
outputs are declared in :data:`WALL_CLOCK_OUTPUTS` (Snakemake's benchmark files, the job logs,
the report), and they are not compared. A table that ever gains a wall-clock column breaks
byte identity, and the determinism tests say which table.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

#: Files under results/ that hold wall-clock times by design and are not compared (glob patterns,
#: relative to the results folder).
WALL_CLOCK_OUTPUTS: tuple[str, ...] = ("benchmarks/*", "logs/*", "report.html")

COMPARED_SUFFIXES = (".parquet", ".mha", ".npy", ".npz", ".json")


@dataclass(frozen=True)
class Difference:
    path: str      # relative to the results folder
    kind: str      # only_in_a, only_in_b, bytes
    detail: str


def _compared(root: Path) -> dict[str, Path]:
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and p.suffix in COMPARED_SUFFIXES and not any(fnmatch.fnmatch(rel, g) for g in WALL_CLOCK_OUTPUTS):
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
