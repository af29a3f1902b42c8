"""How often a process's first parallel ``torch.sqrt`` comes out approximate, with and without the
one-thread warm-up of `cardiolens.torch_threads` (the cause of two failed reproducibility runs).

    python benchmarks/vml_first_call.py [--processes 150] [--threads 64] [--parallel 4]

Each process sets ``--threads`` threads, optionally warms up, and takes the square root of 262,144
floats once; it counts as approximate when any value is more than 1.2e-7 (relative) off the
correctly rounded root. Measured on the 2-core machine (PyTorch 2.13.0, MKL 2024.2), 64 threads,
4 processes at a time: 10 of 150 approximate without the warm-up (relative error up to 3e-4),
0 of 150 with it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

CHILD = """
import sys, numpy as np, torch
torch.set_num_threads({threads})
if {warm}:
    from cardiolens.torch_threads import warm_up_vector_math
    warm_up_vector_math()
v = torch.linspace(1e-9, 1e-6, {threads} * 4096)
root = v.sqrt().numpy().astype(np.float64)
exact = np.sqrt(v.numpy().astype(np.float64))
print(float(np.max(np.abs(root - exact) / exact)))
"""


def worst_errors(processes: int, threads: int, warm: bool, parallel: int) -> list[float]:
    """The largest relative error of the first sqrt of each of ``processes`` fresh processes."""
    code = CHILD.format(threads=threads, warm=warm)

    def one(_: int) -> float:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, range(processes)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=150)
    ap.add_argument("--threads", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=4)
    args = ap.parse_args()
    for warm in (False, True):
        errors = worst_errors(args.processes, args.threads, warm, args.parallel)
        bad = [e for e in errors if e > 1.2e-7]
        print(f"{'with' if warm else 'without'} the warm-up: {len(bad)} of {len(errors)} processes approximate"
              + (f" (relative error up to {max(bad):.2g})" if bad else ""))


if __name__ == "__main__":
    main()
