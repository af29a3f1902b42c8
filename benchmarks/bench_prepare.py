"""Prepare-stage benchmark: anatomical M-modes per second (ITK vs scipy) and frames per second.

In the same run, on the same synthetic (T, H, W) sequence and the same oblique line:
  - ITK ResampleImageFilter (cardiolens.prepare.mmode.mmode) vs scipy.ndimage.map_coordinates
    (mmode_reference) for an M-mode of n_line x n_time samples -> M-modes/s and the ratio;
  - ED/ES frame preparation (isotropic resampling, windowing, crop: frames.ed_es_pair) -> frames/s;
  - peak resident memory of the process (ru_maxrss) and the peak of Python allocations (tracemalloc).

    python benchmarks/bench_prepare.py [--frames 100] [--size 500] [--repeats 20]
"""

from __future__ import annotations

import argparse
import math
import resource
import time
import tracemalloc

import itk
import numpy as np

from cardiolens.prepare.frames import ed_es_pair
from cardiolens.prepare.mmode import Line, mmode, mmode_reference


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=100, help="frames of the (T, 500, 500) test volume")
    ap.add_argument("--size", type=int, default=500, help="M-mode samples along the line and in time")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    tracemalloc.start()
    rng = np.random.default_rng(0)
    vol = rng.random((args.frames, 500, 500), dtype=np.float32)
    sp = (0.3, 0.3, 16.7)
    img = itk.image_from_array(vol)
    img.SetSpacing(sp)
    line = Line((40.0, 30.0), (math.cos(0.6), math.sin(0.6)), 60.0)
    t1 = args.frames * sp[2] - sp[2]
    n = args.size
    mmode(img, line, 0.0, t1, n, n)
    t_itk = best_of(lambda: mmode(img, line, 0.0, t1, n, n), args.repeats)
    t_ref = best_of(lambda: mmode_reference(vol, sp, line, 0.0, t1, n, n), max(3, args.repeats // 4))
    diff = np.abs(mmode(img, line, 0.0, t1, n, n)[0] - mmode_reference(vol, sp, line, 0.0, t1, n, n)).max()
    print(f"M-mode {n}x{n} from a ({args.frames}, 500, 500) volume:")
    print(f"  ITK resample   {t_itk * 1e3:7.2f} ms  {1 / t_itk:8.1f} M-modes/s")
    print(f"  scipy reference{t_ref * 1e3:7.2f} ms  {1 / t_ref:8.1f} M-modes/s")
    print(f"  ratio ITK/scipy throughput {t_ref / t_itk:5.2f}x   max |ITK - scipy| = {diff:.2e}")
    ed, es = vol[0, :256, :256], vol[1, :256, :256]
    mask = np.zeros((256, 256), np.uint8)
    mask[100:150, 100:150] = 1
    t_fr = best_of(lambda: ed_es_pair(ed, es, mask, mask, (1.25, 1.25), 1.5, 128, (1, 99)), args.repeats)
    print(f"ED+ES pair 256x256 @1.25 mm -> 128x128 @1.5 mm: {t_fr * 1e3:6.2f} ms  {2 / t_fr:8.1f} frames/s")
    current, peak = tracemalloc.get_traced_memory()
    print(f"peak memory: process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
          f"Python allocations peak {peak / 1e6:.0f} MB (volume itself {vol.nbytes / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
