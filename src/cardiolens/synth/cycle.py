"""Cardiac-cycle timing of the synthetic recordings.

The phase ``phi`` runs over [0, 1) from one R peak to the next; end-diastole (ED) is the R peak.
Event times follow textbook physiology: mitral valve closure (MVC) ~30 ms after the R peak,
isovolumic contraction until aortic valve opening (AVO), ejection for the left-ventricular
ejection time of Weissler et al. (Circulation 1968: LVET = 413 - 1.7 HR ms), end-systole (ES)
at aortic valve closure, isovolumic relaxation (~80 ms) until mitral valve opening (MVO), rapid
filling, diastasis and atrial contraction in the last ~15 % of the cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class CycleTiming:
    """Event phases as fractions of the RR interval."""

    rr_ms: float
    mvc: float
    avo: float
    es: float
    mvo: float

    @classmethod
    def from_heart_rate(cls, heart_rate_bpm: float, ivc_ms: float = 50.0) -> "CycleTiming":
        rr = 60_000.0 / heart_rate_bpm
        lvet = 413.0 - 1.7 * heart_rate_bpm
        mvc = 30.0 / rr
        avo = mvc + ivc_ms / rr
        es = avo + lvet / rr
        mvo = es + 80.0 / rr
        if mvo > 0.78:
            raise ValueError(f"heart rate {heart_rate_bpm} bpm with IVC {ivc_ms} ms leaves no diastole")
        return cls(rr_ms=rr, mvc=mvc, avo=avo, es=es, mvo=mvo)


def _ramp(x: FloatArray) -> FloatArray:
    """Smooth 0 -> 1 over x in [0, 1] (raised cosine)."""
    x = np.clip(x, 0.0, 1.0)
    return 0.5 * (1.0 - np.cos(np.pi * x))


def contraction(phi: FloatArray, t: CycleTiming) -> FloatArray:
    """Fraction of peak systolic deformation at phase ``phi`` (any shape), in [0, 1].

    0 at ED and through isovolumic contraction, 1 at ES and through isovolumic relaxation,
    0.3 after rapid filling, 0.2 before the atrial kick, 0 again at 0.97 of the cycle.
    """
    phi = np.mod(np.asarray(phi, dtype=np.float64), 1.0)
    rapid = min(0.15, 0.83 - t.mvo)  # short diastole at high heart rates shortens rapid filling
    rapid_end = t.mvo + rapid
    kick = 0.85
    out = np.zeros_like(phi)
    out = np.where((phi >= t.avo) & (phi < t.es), _ramp((phi - t.avo) / (t.es - t.avo)), out)
    out = np.where((phi >= t.es) & (phi < t.mvo), 1.0, out)
    out = np.where((phi >= t.mvo) & (phi < rapid_end), 1.0 - 0.7 * _ramp((phi - t.mvo) / rapid), out)
    out = np.where((phi >= rapid_end) & (phi < kick), 0.3 - 0.1 * (phi - rapid_end) / (kick - rapid_end), out)
    out = np.where((phi >= kick) & (phi < 0.97), 0.2 * (1.0 - _ramp((phi - kick) / 0.12)), out)
    return out


def flash_profile(phi: FloatArray, t: CycleTiming) -> FloatArray:
    """Septal flash time course: a half sine filling isovolumic contraction (MVC to AVO), peak 1.

    Septal flash is the fast inward-outward septal motion of left bundle branch block inside
    isovolumic contraction (Parsai et al., Eur Heart J 2009).
    """
    phi = np.mod(np.asarray(phi, dtype=np.float64), 1.0)
    x = (phi - t.mvc) / (t.avo - t.mvc)
    return np.where((x >= 0) & (x <= 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0)
