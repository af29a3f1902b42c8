"""The warm-up of MKL's vector math that keeps the numbers of every PyTorch job exact.

PyTorch's CPU build computes ``sqrt``, ``exp``, ``log`` and other elementwise functions of float
tensors with MKL's vector math library (VML), one call per thread on that thread's share of the
tensor. MKL chooses each function's implementation on its first call; when that first call happens
on several threads at once, one thread can run it with a 12-bit approximation, once. Measured
with PyTorch 2.13.0 (MKL 2024.2) on a 2-core machine:

- In a fresh process with 64 threads, the first ``torch.sqrt`` of 262,144 floats was off the
  correctly rounded root by up to 3e-4 (relative) in 10 of 150 processes
  (``benchmarks/vml_first_call.py``), and in 2 of 260 with 16 threads.
- After the warm-up below, 0 of 150 processes were.
- In a training job this is the first step of Adam, whose ``exp_avg_sq.sqrt()`` is the job's
  first VML call. The CI's reproducibility test failed twice this way: run a's first convolution
  (5,488 weights, 2 threads) had its first 2,744 weights updated with ``v * rsqrtps(v)``
  (2,693 of 2,744 reproduced exactly); run b's were exact.

:func:`warm_up_vector_math` calls each of those functions once, on one thread, before any
parallel call. It is idempotent, and every network is built through
`cardiolens.train.networks.make_network` or `cardiolens.segment.module.make_unet`, which call it.
"""

from __future__ import annotations

#: The unary functions of ATen's ``cpu/vml.h`` (MKL VML calls where PyTorch has MKL), called once each, on one thread.
VML_FUNCTIONS = ("abs", "acos", "asin", "atan", "cos", "erf", "erfc", "exp", "expm1", "log", "log10", "log1p",
                 "log2", "sin", "sqrt", "tan", "tanh", "trunc", "rsqrt", "reciprocal")

_warmed = False


def warm_up_vector_math() -> None:
    """Call every function of :data:`VML_FUNCTIONS` on float32 and float64 tensors of 8 values with
    one thread, so that MKL resolves each before any call on several threads (module docstring).
    Draws no random numbers; returns the thread count to what it was."""
    global _warmed
    if _warmed:
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for dtype in (torch.float32, torch.float64):
            x = torch.linspace(0.1, 0.9, 8, dtype=dtype)
            for name in VML_FUNCTIONS:
                getattr(torch, name)(x)
    finally:
        torch.set_num_threads(threads)
    _warmed = True

