"""Ingestion benchmark per adapter: recordings/s, and the ratio to the bare reader library.

For each adapter, in the same run:
  - baseline: the bare reader library decoding every image file of the source (pydicom
    ``dcmread().pixel_array`` for DICOM, ITK ``imread`` for NIfTI/MetaImage, Pillow JPEG decoding of
    every AVI frame for EchoNet) - no grouping, no validation, no writing;
  - cardiolens: ``ingest_source`` (hashing, discovery, validation, decoding, ITK MetaImage writing
    of images and masks, tables), with 1 and with N workers;
  - cardiolens again on the unchanged source into the same folder: every recording is linked
    from the reuse store (hashing and discovery still run).
``ratio`` = cardiolens time / baseline time (lower is better; >1 is the cost of everything the
stage does beyond decoding). Real datasets are taken from ../shared/data when present (the Sunnybrook
series also packed into one Enhanced MR file, ``enhanced``); the synthetic DICOM cohort is
always generated.

    python benchmarks/bench_ingest.py [--echo-patients 12] [--cmr-patients 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

from cardiolens.config import DEMO_KEY, sources, validate_config
from cardiolens.hashing import list_files
from cardiolens.ingest import canonical
from cardiolens.ingest.stage import ingest_source
from cardiolens.synth.generate import generate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def bare_pydicom(files: list[Path]) -> None:
    for f in files:
        try:
            pydicom.dcmread(f).pixel_array
        except Exception:
            pass


def bare_itk(files: list[Path]) -> None:
    import itk

    itk.ProcessObject.SetGlobalWarningDisplay(False)
    for f in files:
        if f.name.endswith((".nii.gz", ".mhd")):
            itk.array_from_image(itk.imread(str(f)))


def bare_pillow_mjpeg(files: list[Path]) -> None:
    # Frame offsets come from the container walk; only the JPEG decoding is timed as "library".
    for f in files:
        if f.suffix == ".avi":
            data = f.read_bytes()
            start = data.find(b"LIST", 12)
            while data[start + 8:start + 12] != b"movi":  # skip hdrl and JUNK to the movi list
                start = data.find(b"LIST", start + 4)
            end = start + 8 + int.from_bytes(data[start + 4:start + 8], "little")
            pos = start + 12
            while pos + 8 <= end:
                cid, n = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
                if cid[2:] in (b"dc", b"db") and n:
                    with Image.open(io.BytesIO(data[pos + 8:pos + 8 + n])) as im:
                        np.asarray(im.convert("L"))
                pos += 8 + n + (n & 1)


def timed(fn: Callable, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def run(label: str, source: dict, baseline: Callable, workers: int, tmp: Path) -> None:
    root = Path(source["path"])
    files = list_files(root)
    mb = sum(f.stat().st_size for f in files) / 1e6
    baseline(files[:3])  # warm imports and the page cache
    t_base = timed(baseline, files)
    n_rec = None
    for w in sorted({1, workers}):
        t0 = time.perf_counter()
        res = ingest_source(source, DEMO_KEY.encode(), tmp / f"{label}-{w}", workers=w)
        dt = time.perf_counter() - t0
        n_rec = len(res.recordings)
        print(f"{label:<11} {n_rec:5d} rec {len(files):6d} files {mb:8.1f} MB | baseline {t_base:6.2f} s "
              f"{n_rec / t_base:7.1f} rec/s | cardiolens {w} worker(s) {dt:6.2f} s {n_rec / dt:7.1f} rec/s | ratio {dt / t_base:5.2f}x")
    # The same source again into the same folder: every recording comes from the reuse store
    # (what a rerun after adding one patient costs for the unchanged ones).
    t0 = time.perf_counter()
    res = ingest_source(source, DEMO_KEY.encode(), tmp / f"{label}-{w}", workers=w)
    dr = time.perf_counter() - t0
    print(f"{label:<11} reingest, unchanged: {dr:6.2f} s, {res.reused}/{len(res.recordings)} reused | "
          f"x{dr / dt:4.2f} of the fresh ingestion, x{dr / t_base:4.2f} of the baseline")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--echo-patients", type=int, default=12)
    ap.add_argument("--cmr-patients", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        canonical.write_image(canonical.make_image(np.zeros((2, 2, 2), np.uint8), (1, 1, 1)), tmp / "warm.mha")
        cfg = validate_config({"privacy": {"key": DEMO_KEY}, "cohort": {"synthetic": {
            "outdir": str(tmp / "syn"), "broken_files": 0,
            "echo": {"septal_flash": {"patients": args.echo_patients}, "takotsubo_stemi": {"patients": 0}},
            "cmr": {"patients": args.cmr_patients}}}})
        generate(cfg["cohort"]["synthetic"], cfg["seed"], tmp / "syn", key=DEMO_KEY.encode(), workers=args.workers)
        run("synthetic", sources(cfg)[0], bare_pydicom, args.workers, tmp)
        real = [
            ("acdc", "acdc", SHARED / "acdc" / "training", bare_itk, {}),
            ("camus", "camus", SHARED / "camus", bare_itk, {}),
            ("echonet", "echonet", SHARED / "echonet", bare_pillow_mjpeg, {}),
            ("sunnybrook", "dicom", SHARED / "sunnybrook" / "dicoms", bare_pydicom,
             {"contours_dir": str(SHARED / "sunnybrook" / "contourfiles"), "contours_link": str(SHARED / "sunnybrook" / "link.csv")}),
        ]
        for label, adapter, path, baseline, options in real:
            if not path.is_dir():
                print(f"{label:<11} skipped: {path} is absent")
                continue
            run(label, {"name": label, "adapter": adapter, "path": str(path), "clinical": None, "options": options},
                baseline, args.workers, tmp)
        sunnybrook = SHARED / "sunnybrook" / "dicoms"
        if sunnybrook.is_dir():
            # The same 240 images as one Enhanced MR file (frames shuffled): decoded once, not per frame
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from fakes import write_enhanced_mr

            singles = sorted(p for p in sunnybrook.rglob("*") if p.is_file())
            write_enhanced_mr(tmp / "enhanced" / "cine.dcm", singles, np.random.default_rng(0).permutation(len(singles)))
            run("enhanced", {"name": "enhanced", "adapter": "dicom", "path": str(tmp / "enhanced"), "clinical": None,
                             "options": {}}, bare_pydicom, 1, tmp)
        ex = tmp / "pydicom_example"
        ex.mkdir()
        (ex / "echo.dcm").write_bytes(Path(pydicom.data.get_testdata_file("examples_ybr_color.dcm")).read_bytes())
        run("jpeg-echo", {"name": "ex", "adapter": "dicom", "path": str(ex), "clinical": None, "options": {}},
            bare_pydicom, 1, tmp)


if __name__ == "__main__":
    main()
