"""Ingestion benchmark: recordings per second, against plain pydicom decoding of the same files.

Generates a synthetic cohort (default: the default echo/MR geometry, 12 echo + 3 cine-MR
patients), then measures in the same run:
  - baseline: pydicom.dcmread + pixel_array of every file (no grouping, no writing);
  - cardiolens: ingest_source (headers, grouping, decoding, ITK MetaImage writing of images and
    masks, truth join, tables), with 1 and with N workers.
Prints recordings/s, files/s, MB/s and the ratio cardiolens / baseline (time per recording).

    python benchmarks/bench_ingest.py [--echo-patients 12] [--cmr-patients 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pydicom

from cardiolens.config import DEMO_KEY, sources, validate_config
from cardiolens.hashing import list_files
from cardiolens.ingest.stage import ingest_source
from cardiolens.synth.generate import generate


def baseline(files: list[Path]) -> float:
    t0 = time.perf_counter()
    for f in files:
        try:
            pydicom.dcmread(f).pixel_array
        except Exception:
            pass
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--echo-patients", type=int, default=12)
    ap.add_argument("--cmr-patients", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = validate_config({"privacy": {"key": DEMO_KEY}, "cohort": {"synthetic": {
            "outdir": str(tmp / "syn"), "broken_files": 0,
            "echo": {"septal_flash": {"patients": args.echo_patients}, "takotsubo_stemi": {"patients": 0}},
            "cmr": {"patients": args.cmr_patients}}}})
        t0 = time.perf_counter()
        manifest = generate(cfg["cohort"]["synthetic"], cfg["seed"], tmp / "syn", workers=args.workers)
        t_gen = time.perf_counter() - t0
        files = list_files(tmp / "syn" / "dicom")
        mb = sum(f.stat().st_size for f in files) / 1e6
        n_rec = manifest["recordings"]
        print(f"cohort: {n_rec} recordings, {len(files)} files, {mb:.1f} MB (generated in {t_gen:.1f} s)")
        baseline(files[:5])  # warm the page cache and imports
        import numpy as np

        from cardiolens.ingest import canonical

        canonical.write_image(canonical.make_image(np.zeros((2, 2, 2), np.uint8), (1, 1, 1)), tmp / "warm.mha")
        t_base = baseline(files)
        print(f"baseline pydicom decode      : {t_base:7.2f} s  {n_rec / t_base:7.2f} rec/s  {len(files) / t_base:8.1f} files/s  {mb / t_base:6.1f} MB/s")
        src = sources(cfg)[0]
        for workers in sorted({1, args.workers}):
            t0 = time.perf_counter()
            res = ingest_source(src, DEMO_KEY.encode(), tmp / f"out{workers}", workers=workers)
            dt = time.perf_counter() - t0
            assert len(res.recordings) == n_rec
            print(f"cardiolens ingest, {workers} worker(s): {dt:7.2f} s  {n_rec / dt:7.2f} rec/s  {len(files) / dt:8.1f} files/s  "
                  f"{mb / dt:6.1f} MB/s  ratio to baseline (time) {dt / t_base:5.2f}x")


if __name__ == "__main__":
    main()
