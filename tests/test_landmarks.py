"""The septal landmarks from a mask (cardiolens.prepare.landmarks), on shapes with known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from cardiolens.labels import LEFT_ATRIUM, LV_CAVITY, MYOCARDIUM
from cardiolens.prepare.landmarks import LandmarkError, long_axis, principal_long_axis, septal_contour_from_mask


def ellipse(theta_deg: float, a_mm: float = 30.0, b_mm: float = 15.0, spacing: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """An LV cavity ellipse (semi-axes a along the long axis, b across) centred at (40, 40) mm, its
    long axis tilted by theta from the image's vertical; returns the mask and the apex direction."""
    n = int(80 / spacing)
    y, x = (np.mgrid[0:n, 0:n] * spacing)
    t = np.radians(theta_deg)
    u = np.array([np.sin(t), -np.cos(t)])  # apex direction (x, y): towards the transducer (smaller y)
    d = np.stack([x - 40.0, y - 40.0], axis=-1)
    along, across = d @ u, d @ np.array([-u[1], u[0]])
    mask = np.where((along / a_mm) ** 2 + (across / b_mm) ** 2 <= 1, LV_CAVITY, 0).astype(np.uint8)
    return mask, u


@pytest.mark.parametrize("theta", [0.0, 12.0, -20.0])
def test_principal_axis_of_an_ellipse(theta):
    # The end caps of 5 % of the span (h = 0.1 a = 3 mm) have their centroid 3/5 h from the tip
    # (a cap of a smooth end is parabolic: width ~ sqrt(depth)), so apex and base lie 0.94 a from the centre.
    mask, u = ellipse(theta)
    apex, base = principal_long_axis(mask, (0.25, 0.25))
    centre = np.array([40.0, 40.0])
    assert np.linalg.norm(apex - (centre + 0.94 * 30 * u)) < 0.2
    assert np.linalg.norm(base - (centre - 0.94 * 30 * u)) < 0.2


def test_the_axis_ignores_the_atrium_and_a_ragged_apex_pixel():
    mask, u = ellipse(0.0)
    ref = principal_long_axis(mask, (0.25, 0.25))
    mask[mask == 0] = MYOCARDIUM
    mask[280:, :] = np.where(mask[280:, :] == MYOCARDIUM, LEFT_ATRIUM, mask[280:, :])  # an atrium below the base
    mask[39, 175] = LV_CAVITY  # one stray cavity pixel above the apex (x 40, y 10 mm), 3.75 mm to its side
    apex, base = principal_long_axis(mask, (0.25, 0.25))
    assert np.linalg.norm(apex - ref[0]) < 0.2 and np.linalg.norm(base - ref[1]) < 0.05
    old_apex, _ = long_axis(mask, (0.25, 0.25))  # the top-pixel apex jumps to the stray pixel
    assert np.allclose(old_apex, [43.75, 9.75])


def test_contour_is_the_sub_pixel_border_of_a_straight_septum():
    # Cavity columns 20-59 of rows 20-179 at 0.5 mm: the septal (left) border is the pixel edge at
    # column 19.5, x = 9.75 mm; a smoothed step crosses 0.5 exactly at its edge. A hole on the axis
    # (a papillary muscle) does not stop the walk.
    mask = np.zeros((200, 100), dtype=np.uint8)
    mask[20:180, 20:60] = LV_CAVITY
    mask[95:100, 38:42] = MYOCARDIUM
    contour = septal_contour_from_mask(mask, (0.5, 0.5))
    assert contour.shape == (62, 2)
    assert np.abs(contour[3:60, 0] - 9.75).max() < 0.01
    assert contour[0, 1] > contour[-1, 1]  # base (bottom) first


def test_a_cavity_too_small_is_refused_with_its_reason():
    mask = np.zeros((50, 50), dtype=np.uint8)
    mask[10:13, 10:15] = LV_CAVITY
    with pytest.raises(LandmarkError, match="15 pixels"):
        septal_contour_from_mask(mask, (1.0, 1.0))


def test_a_curved_cavity_that_leaves_the_straight_axis_still_gives_its_septal_border():
    # An arc-shaped cavity (a band 8 mm wide along a circle of radius 60 mm, bowing to the left):
    # the straight axis from base to apex runs outside it mid-way, yet every level finds the band,
    # and the contour lies on its septal (left, outer) edge, 64 mm from the circle's centre, within
    # 0.15 mm (0.6 pixel).
    spacing = 0.25
    y, x = np.mgrid[0:480, 0:400] * spacing
    r = np.hypot(x - 90.0, y - 60.0)  # centre (90, 60) mm: the band bows to the left
    mask = np.where((np.abs(r - 60.0) <= 4.0) & (x <= 90.0 - 20.0), LV_CAVITY, 0).astype(np.uint8)
    contour = septal_contour_from_mask(mask, (spacing, spacing))
    d = np.hypot(contour[:, 0] - 90.0, contour[:, 1] - 60.0)
    assert np.abs(d[3:58] - 64.0).max() < 0.15
