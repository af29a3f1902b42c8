"""Measure-stage benchmark: recordings per second of the motion tracker, against a plain numpy
block-matching baseline, in the same run on the same synthetic recordings.

Each recording is one cardiac cycle (R peak to R peak, 60 frames/s, 128 x 128 at 1.2 mm) of the
synthetic Takotsubo/STEMI generator; the 48 points of the six A4C segments (anchors and strain
polylines, :func:`cardiolens.measure.wall.wall_geometry` on the ED mask) are tracked by
  - cardiolens: ITK diffeomorphic demons, ED-referenced and warm-started
    (:func:`cardiolens.measure.track.track_points`, the default settings);
  - baseline: frame-to-frame block matching in numpy - for each point, the 15 x 15-pixel block
    around it in frame k-1 is searched within +-4 pixels in frame k by the sum of squared
    differences (``numpy.lib.stride_tricks.sliding_window_view``), refined to sub-pixel by a
    parabola through the SSD minimum, and the displacements are accumulated (classic speckle
    tracking; Bohs & Trahey, IEEE TBME 1991).
Both get the same Gaussian pre-smoothing and the same Savitzky-Golay trajectory smoothing, and
are scored on the generator's true curves: median relative error of the peak systolic
displacement of the basal and mid anchors. ITK runs single-threaded (the stage runs one
recording per worker process).

    python benchmarks/bench_motion.py [--recordings 6]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from cardiolens.config import validate_config
from cardiolens.measure import curves as C
from cardiolens.measure.track import TrackingParams, track_points
from cardiolens.measure.wall import wall_geometry
from cardiolens.synth.echo_case import build_echo_case, sample_anatomy
from cardiolens.synth.echo_render import Scanner

POINTS = ("basal_inferoseptal", "basal_anterolateral", "mid_inferoseptal", "mid_anterolateral")


def block_matching(frames: np.ndarray, spacing: tuple[float, float], points: np.ndarray, half: int = 7, search: int = 4) -> np.ndarray:
    """Positions (T, P, 2) mm of points (P, 2) mm tracked frame to frame by SSD block matching."""
    t, h, w = frames.shape
    px = points / np.asarray(spacing)                      # (x, y) in pixels
    out = np.empty((t, len(points), 2))
    out[0] = points
    pad = half + search + 1
    padded = np.pad(frames, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    for k in range(1, t):
        for i, (x, y) in enumerate(px):
            r, c = int(round(y)) + pad, int(round(x)) + pad
            block = padded[k - 1, r - half:r + half + 1, c - half:c + half + 1]
            area = padded[k, r - half - search:r + half + search + 1, c - half - search:c + half + search + 1]
            ssd = ((sliding_window_view(area, block.shape) - block) ** 2).sum(axis=(2, 3))
            dy, dx = np.unravel_index(int(np.argmin(ssd)), ssd.shape)
            sub = []
            for d, axis in ((dy, 0), (dx, 1)):
                lo = ssd[(d - 1, dx) if axis == 0 else (dy, d - 1)] if d > 0 else None
                hi = ssd[(d + 1, dx) if axis == 0 else (dy, d + 1)] if d < 2 * search else None
                mid = ssd[dy, dx]
                off = 0.0
                if lo is not None and hi is not None and lo + hi - 2 * mid > 0:
                    off = 0.5 * (lo - hi) / (lo + hi - 2 * mid)
                sub.append(d - search + off)
            px[i] = (x + sub[1], y + sub[0])
        out[k] = px * np.asarray(spacing)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recordings", type=int, default=6)
    args = ap.parse_args()
    import itk

    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(1)
    cfg = validate_config({})
    echo = cfg["cohort"]["synthetic"]["echo"]
    mcfg = cfg["studies"]["takotsubo_stemi"]["motion"]
    params = TrackingParams.from_config(mcfg)
    sp = (echo["spacing_mm"], echo["spacing_mm"])
    sc = Scanner(echo["rows"], echo["cols"], echo["spacing_mm"], echo["sector_angle_deg"], 20.0)
    cases = []
    for i in range(args.recordings):
        anat = sample_anatomy(np.random.default_rng([i, 3]), sc)
        case = build_echo_case(np.random.default_rng([i, 2]), anat, ("takotsubo", "stemi")[i % 2], "takotsubo_stemi",
                               {**echo, "cycles": [1, 1]}, marker=False)
        r0, r1 = case.r_wave_frames[:2]
        cases.append((case.frames[r0:r1 + 1].astype(np.float32), case.masks[r0], case.frame_time_ms,
                      {k: np.array(v[r0:r1 + 1]) for k, v in case.truth["displacement_mm"].items()}))
    track_points(cases[0][0][:3], sp, np.array([[60.0, 60.0]]), params)  # load ITK's registration module once

    def smoothed_itk(frames, pts):
        return track_points(frames, sp, pts, params)

    def smoothed_bm(frames, pts):
        sigma = params.smoothing_mm / sp[0]
        return block_matching(np.stack([ndimage.gaussian_filter(f, sigma) for f in frames]), sp, pts)

    results = {}
    for name, fn in (("cardiolens (ITK demons)", smoothed_itk), ("numpy block matching", smoothed_bm)):
        seconds, errors, frames_total = 0.0, [], 0
        for frames, mask, ft, truth in cases:
            g = wall_geometry(mask, sp)
            pts, index = g.points()
            t0 = time.perf_counter()
            pos = fn(frames, pts)
            seconds += time.perf_counter() - t0
            frames_total += len(frames)
            pos = C.smooth_positions(pos, C.window_frames(mcfg["temporal_window_ms"], ft))
            d = C.longitudinal(pos, g.u)
            for p in POINTS:
                true = truth[p].max()
                errors.append(abs(d[:, index[p].start].max() - true) / true)
        results[name] = (len(cases) / seconds, frames_total / seconds, float(np.median(errors)), float(np.max(errors)))
    print(f"{len(cases)} recordings, {sum(len(c[0]) for c in cases)} frames of {cases[0][0].shape[1]}x{cases[0][0].shape[2]}, "
          f"48 points each; 1 thread")
    for name, (rps, fps, med, worst) in results.items():
        print(f"{name:26s} {rps:6.3f} recordings/s  {fps:7.1f} frames/s  peak error median {med:.3f} max {worst:.3f}")
    a, b = results["cardiolens (ITK demons)"], results["numpy block matching"]
    print(f"ratio cardiolens / baseline: throughput x{a[0] / b[0]:.2f}, median peak error x{a[2] / b[2]:.2f}")


if __name__ == "__main__":
    main()
