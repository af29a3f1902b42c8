"""Cardiac timing: events in physiological order, contraction and flash profiles by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cardiolens.synth.cycle import CycleTiming, contraction, flash_profile


def test_timing_at_60_bpm_by_hand():
    t = CycleTiming.from_heart_rate(60, ivc_ms=50)
    # RR 1000 ms; MVC 30 ms; AVO 80 ms; LVET 413 - 102 = 311 ms -> ES 391 ms; MVO 471 ms.
    assert t.rr_ms == pytest.approx(1000)
    assert (t.mvc, t.avo, t.es, t.mvo) == pytest.approx((0.030, 0.080, 0.391, 0.471))


def test_contraction_zero_at_ed_and_through_ivc_one_at_es():
    t = CycleTiming.from_heart_rate(60, ivc_ms=50)
    c = contraction(np.array([0.0, t.mvc, (t.mvc + t.avo) / 2, t.avo, t.es, (t.es + t.mvo) / 2, 0.98]), t)
    assert c == pytest.approx([0, 0, 0, 0, 1, 1, 0])
    mid = contraction(np.array([(t.avo + t.es) / 2]), t)[0]
    assert mid == pytest.approx(0.5)


def test_flash_is_a_half_sine_inside_ivc_only():
    t = CycleTiming.from_heart_rate(75, ivc_ms=120)
    phi = np.array([t.mvc - 0.01, t.mvc, (t.mvc + t.avo) / 2, t.mvc + 0.25 * (t.avo - t.mvc), t.avo + 0.01])
    assert flash_profile(phi, t) == pytest.approx([0, 0, 1, np.sin(np.pi / 4), 0], abs=1e-12)


def test_impossible_timing_is_refused():
    with pytest.raises(ValueError, match="no diastole"):
        CycleTiming.from_heart_rate(180, ivc_ms=150)
