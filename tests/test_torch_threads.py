"""MKL's vector math warmed up on one thread before a job's first parallel sqrt (cardiolens.torch_threads)."""

from __future__ import annotations

import subprocess
import sys

import torch

from cardiolens.torch_threads import VML_FUNCTIONS, warm_up_vector_math

# A fresh process: 64 threads, the warm-up, then the process's first parallel sqrt of 262,144
# floats, against the correctly rounded root. Without the warm-up 10 of 150 such processes had a
# chunk computed with a 12-bit approximation (relative error ~1e-4); MKL's high-accuracy sqrt is
# within one unit in the last place (relative 1.2e-7).
FIRST_SQRT = """
import numpy as np, torch
from cardiolens.torch_threads import warm_up_vector_math
torch.set_num_threads(64)
warm_up_vector_math()
v = torch.linspace(1e-9, 1e-6, 64 * 4096)
root = v.sqrt().numpy().astype(np.float64)
exact = np.sqrt(v.numpy().astype(np.float64))
print(float(np.max(np.abs(root - exact) / exact)))
"""


def test_warm_up_keeps_the_thread_count_and_the_random_stream():
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    warm_up_vector_math()
    warm_up_vector_math()  # idempotent
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)
    assert {"sqrt", "exp", "log", "tanh", "erf"} <= set(VML_FUNCTIONS)
    assert all(callable(getattr(torch, f)) for f in VML_FUNCTIONS)


def test_first_parallel_sqrt_after_the_warm_up_is_exact_on_every_thread():
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", FIRST_SQRT], capture_output=True, text=True, check=True)
        assert float(out.stdout.strip().splitlines()[-1]) < 1.2e-7, out.stdout
