"""Short-axis cine-MR model: a contracting LV ring with an RV crescent in a torso, bSSFP contrast.

Per slice (base to apex) the LV is a disc of endocardial radius R_endo(z, t) inside an
epicardial boundary R_epi(z, theta, t). Wall thickness varies with the angle theta (asymmetric
septal hypertrophy in HCM); the myocardium is incompressible per angle, so
R_epi(t)^2 - R_endo(t)^2 = R_epi(0)^2 - R_endo(0)^2 and the wall thickens as the cavity shrinks.
Radial fractional shortening is chosen from the target ejection fraction,
fs = 1 - sqrt(1 - EF) (cavity area ~ R^2, slice positions fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cardiolens import labels as L
from cardiolens.synth.cycle import CycleTiming, contraction

SUPERSAMPLE = 2


@dataclass(frozen=True)
class CmrHeart:
    """End-diastolic LV/RV geometry in mm, in the image plane (x right, y down)."""

    cx: float
    cy: float
    r_endo_base: float    # ED endocardial radius at the basal slice
    h_sep: float          # ED septal wall thickness
    h_lat: float          # ED lateral/free wall thickness
    lv_length: float      # base slice to apex distance
    ef: float             # target ejection fraction
    rv_width: float
    septal_angle: float   # direction (rad) from the LV centre to the septum / RV

    @property
    def fs(self) -> float:
        return 1.0 - np.sqrt(1.0 - self.ef)

    def r_endo(self, z: float) -> float:
        s = min(max(z / self.lv_length, 0.0), 0.98)
        return self.r_endo_base * np.sqrt(1.0 - s**2)

    def thickness(self, theta: NDArray[np.float64], z: float) -> NDArray[np.float64]:
        w = (0.5 * (1.0 + np.cos(theta - self.septal_angle))) ** 2
        taper = 1.0 - 0.15 * min(max(z / self.lv_length, 0.0), 1.0)
        return (self.h_lat + (self.h_sep - self.h_lat) * w) * taper


def _shape_at(heart: CmrHeart, z: float, c: float, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.uint8]:
    dx, dy = x - heart.cx, y - heart.cy
    r = np.hypot(dx, dy)
    theta = np.arctan2(dy, dx)
    re0 = heart.r_endo(z)
    rp0 = re0 + heart.thickness(theta, z)
    re = re0 * (1.0 - heart.fs * c)
    rp = np.sqrt(re**2 + rp0**2 - re0**2)
    out = np.zeros(x.shape, dtype=np.uint8)
    myo = (r >= re) & (r < rp)
    ang = np.abs(np.angle(np.exp(1j * (theta - heart.septal_angle))))
    out[myo] = L.MYOCARDIUM
    out[myo & (ang < np.radians(50))] = L.SEPTUM
    out[r < re] = L.LV_CAVITY
    # RV: a crescent hugging the septum: inside an ellipse shifted towards the septum, outside
    # the LV epicardium, contracting by a quarter of its width.
    rp_sep = re0 + heart.h_sep
    rvw = heart.rv_width * (1.0 - 0.25 * c) * np.sqrt(max(1.0 - (z / (0.9 * heart.lv_length)) ** 2, 0.0))
    if rvw > 1.0:
        ca, sa = np.cos(heart.septal_angle), np.sin(heart.septal_angle)
        along = dx * ca + dy * sa            # towards the septum/RV
        across = -dx * sa + dy * ca
        half = 0.5 * (rp_sep + rvw + 0.6 * rp_sep)   # outer ellipse from -0.6 rp_sep to rp_sep + rvw
        centre = rp_sep + rvw - half
        outer = ((along - centre) / half) ** 2 + (across / (1.25 * (re0 + heart.h_lat) + 3.0)) ** 2 < 1.0
        out[outer & (r >= rp + 1.0) & (along > 0.1 * rp_sep)] = L.RV_CAVITY
    return out


def labels_and_signal(
    heart: CmrHeart, z: float, phi: float, timing: CycleTiming, rows: int, cols: int, spacing: float
) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    """Label map (rows, cols) sampled at pixel centres and noise-free bSSFP signal (supersampled)."""
    c = float(contraction(np.array([phi]), timing)[0])
    y = (np.arange(rows) + 0.5) * spacing
    x = (np.arange(cols) + 0.5) * spacing
    yy, xx = np.meshgrid(y, x, indexing="ij")
    lab = _shape_at(heart, z, c, xx, yy)
    k = SUPERSAMPLE
    ys = (np.arange(rows * k) + 0.5) * spacing / k
    xs = (np.arange(cols * k) + 0.5) * spacing / k
    yys, xxs = np.meshgrid(ys, xs, indexing="ij")
    fine = _shape_at(heart, z, c, xxs, yys)
    sig = torso(xxs, yys, rows * spacing, cols * spacing)
    sig = np.where(np.isin(fine, (L.LV_CAVITY, L.RV_CAVITY)), 1.0, sig)
    sig = np.where(np.isin(fine, (L.MYOCARDIUM, L.SEPTUM)), 0.28, sig)
    sig = sig.reshape(rows, k, cols, k).mean(axis=(1, 3))
    return lab, sig


def torso(x: NDArray[np.float64], y: NDArray[np.float64], h: float, w: float) -> NDArray[np.float64]:
    """Static torso background: fat rim, muscle/tissue, two lungs, liver (bSSFP-like values)."""
    cx, cy = w / 2, h / 2
    body = ((x - cx) / (0.47 * w)) ** 2 + ((y - cy) / (0.40 * h)) ** 2
    sig = np.where(body < 1.0, 0.85, 0.0)                   # subcutaneous fat
    sig = np.where(body < 0.82, 0.42, sig)                   # muscle / mediastinum
    lung_l = ((x - 0.27 * w) / (0.14 * w)) ** 2 + ((y - 0.45 * h) / (0.22 * h)) ** 2 < 1.0
    lung_r = ((x - 0.78 * w) / (0.12 * w)) ** 2 + ((y - 0.40 * h) / (0.2 * h)) ** 2 < 1.0
    sig = np.where(lung_l | lung_r, 0.05, sig)
    liver = ((x - 0.35 * w) / (0.2 * w)) ** 2 + ((y - 0.78 * h) / (0.12 * h)) ** 2 < 1.0
    return np.where(liver & (body < 0.82), 0.38, sig)
