"""Segmentation inference throughput: the segment stage's per-recording path against a bare forward pass.

Pipeline (:func:`cardiolens.segment.infer.segment_volume`, what rule segment_apply runs per
recording): per-frame percentile normalisation, resampling to the model grid, the U-Net, the
probabilities back on the source grid (bilinear), arg-max, the largest component of each
structure (scipy), canonical label codes. Baseline: the same network's forward pass alone on
frames already on the grid, in batches of the same size. Both on the same frames in the same
run; one warm-up pass of each is not timed.

Prints frames per second of each and the ratio pipeline / bare: what the stage costs on top of
the network. Sizes: the default echo model (128 x 128 grid) on an echo recording of
``--frames`` frames of ``--rows`` x ``--cols`` (CAMUS-like 584 x 504 by default); ``--margin M``
zeroes M pixels at each border, as an export's black margins, so that the imaging area the grid
is cut from is smaller than the frame (the crop and the paste back are then timed too).

    python benchmarks/bench_segment.py [--frames 60] [--rows 584] [--cols 504] [--margin 0] [--threads 2] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rows", type=int, default=584)
    ap.add_argument("--cols", type=int, default=504)
    ap.add_argument("--margin", type=int, default=0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from cardiolens.segment import grid as G
    from cardiolens.segment.infer import segment_volume
    from cardiolens.segment.labels import class_codes
    from cardiolens.segment.module import make_unet

    codes = class_codes(["lv_cavity", "myocardium", "left_atrium"])
    torch.manual_seed(0)
    net = make_unet(len(codes), [16, 32, 64, 128], 1).eval().to(args.device)
    rng = np.random.default_rng(0)
    image = rng.integers(1, 255, (args.frames, 1, args.rows, args.cols)).astype(np.uint8)
    if args.margin:
        m = args.margin
        image[..., :m, :] = image[..., -m:, :] = image[..., :m] = image[..., -m:] = 0
    size = (args.size, args.size)
    p = G.placement((args.rows, args.cols), (0.3, 0.3), size, None, G.imaging_area(image))
    grid = torch.from_numpy(G.to_grid(G.normalise(image[:, 0]), p, size))[:, None].to(args.device)

    def bare() -> None:
        with torch.no_grad():
            for i in range(0, len(grid), 64):
                net(grid[i:i + 64]).softmax(dim=1)
        if args.device == "cuda":
            torch.cuda.synchronize()

    def pipeline() -> None:
        segment_volume([net], image, (0.3, 0.3), codes, size, None)

    timings = {}
    for name, fn in (("bare forward", bare), ("segment_volume", pipeline)):
        fn()  # warm-up
        t = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
        timings[name] = args.frames / min(t)
        print(f"{name:>15}: {timings[name]:8.1f} frames/s ({args.frames} frames of {args.rows} x {args.cols}, margin {args.margin}, "
              f"grid {args.size}, {args.threads} threads, {args.device}; best of {args.repeats})")
    print(f"ratio segment_volume / bare forward: {timings['segment_volume'] / timings['bare forward']:.2f}")


if __name__ == "__main__":
    main()
