"""Model-parameter randomisation test (Adebayo et al., NeurIPS 2018, "Sanity checks for saliency maps").

A method that explains the *model* must give different maps when the trained weights are
replaced by random ones. Every parameterised layer of a copy of the model is re-initialised
(``reset_parameters``, the layers' own initialisers, under a fixed seed: the paper's full
randomisation) and the maps of both models are compared per sample by Spearman rank
correlation (scipy). High correlation means the map reflects the input (edges, intensity), not
what the network learned. A constant map has no ranking: its correlation is taken as 0.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import stats
from torch import nn


def randomised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every layer that has ``reset_parameters`` re-initialised (BN running
    statistics reset too), deterministic for ``seed``."""
    out = copy.deepcopy(model)
    devices = {p.device for p in out.parameters()}
    with torch.random.fork_rng(devices=[d for d in devices if d.type == "cuda"]):
        torch.manual_seed(seed)
        for m in out.modules():
            if hasattr(m, "reset_parameters") and callable(m.reset_parameters):
                m.reset_parameters()
            if hasattr(m, "reset_running_stats"):
                m.reset_running_stats()
    return out.eval()


def rank_correlation(a: NDArray, b: NDArray) -> NDArray:
    """Spearman correlation per row of two (N, ...) map stacks; 0 where a map is constant."""
    out = np.zeros(len(a))
    for i, (x, y) in enumerate(zip(a.reshape(len(a), -1), b.reshape(len(b), -1))):
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            out[i] = stats.spearmanr(x, y).statistic
    return out
