"""Regional image quality (study 4): gCNR without small-sample bias, its permutation null, and
histogram matching over the whole ultrasound sector."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from cardiolens import labels as L
from cardiolens.ingest.sector import sector_from_frames
from cardiolens.stats.quality import contrast, gaussian_match, gcnr, gcnr_permutation, regional_quality, silverman_bandwidth


def grey(rng: np.random.Generator, n: int) -> np.ndarray:
    """n 8-bit grey levels of one speckle-like distribution (N(127, 32) rounded and clipped)."""
    return np.clip(np.round(rng.normal(127, 32, n)), 0, 255)


def test_gcnr_of_two_samples_of_one_distribution_is_near_zero_and_inside_the_null():
    # Truth 0. The former 256-bin histogram gave 0.35 at 200 pixels; the kernel estimate ~0.05.
    rng = np.random.default_rng(21)
    draws = [gcnr_permutation(grey(rng, 200), grey(rng, 3000), 200, seed=i) for i in range(20)]
    g = np.array([d.gcnr for d in draws])
    p = np.array([d.p_value for d in draws])
    assert np.median(g) < 0.2 and np.median(g) == pytest.approx(0.05, abs=0.03)
    assert (p > 0.05).sum() >= 17  # a valid test rejects ~1 in 20
    # the observed gCNR of a true null lies at or below its null's 95th percentile ~19 times in 20
    null95 = np.array([d.null95 for d in draws])
    assert (g <= null95).sum() >= 17 and np.median(g) < np.median(null95)


def test_gcnr_of_two_gaussians_one_sd_apart_is_the_analytic_overlap():
    # gCNR = 1 - OVL; two unit-variance Gaussians d apart: OVL = 2 Phi(-d/2), gCNR = 2 Phi(d/2) - 1 = 0.383 at d = 1
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 20_000), rng.normal(1, 1, 20_000)
    assert 2 * norm.cdf(0.5) - 1 == pytest.approx(0.3829, abs=1e-4)
    assert gcnr(a, b) == pytest.approx(2 * norm.cdf(0.5) - 1, abs=0.03)
    t = gcnr_permutation(a, b, 19, seed=0)
    assert t.gcnr == gcnr(a, b) and t.p_value == pytest.approx(1 / 20) and t.null95 < 0.05


def test_gcnr_limits_permutation_formula_and_determinism():
    disjoint = gcnr_permutation(np.full(30, 150.0), np.full(40, 100.0), 99, seed=3)
    assert disjoint.gcnr == 1.0 and disjoint.p_value == pytest.approx(1 / 100)  # no reshuffle separates them fully
    same = gcnr_permutation(np.arange(100.0), np.arange(100.0), 99, seed=3)
    assert same.gcnr == 0.0 and same.p_value == 1.0  # every null value >= 0
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(0.5, 1, 80)
    assert gcnr_permutation(x, y, 50, seed=7) == gcnr_permutation(x, y, 50, seed=7)
    assert np.isnan(gcnr_permutation(x, y, 0).p_value)
    # Silverman: 0.9 min(SD, IQR/1.34) n^(-1/5); SD of 0..4 (ddof 1) 1.581, IQR 2 / 1.34 = 1.493
    assert silverman_bandwidth(np.arange(5.0)) == pytest.approx(0.9 * (2 / 1.34) * 5 ** -0.2)
    with pytest.raises(ValueError, match="at least 2 values"):
        gcnr(np.array([1.0]), np.arange(5.0))


def test_the_null_of_a_large_pooled_sample_is_scored_on_seeded_subsamples(monkeypatch):
    # 1,500 region + 15,000 lumen pixels = 16,500 > 4,000: each null draw takes 4,000 distinct pooled
    # pixels in the groups' proportions, 4,000 x 1,500 / 16,500 = 363.6 -> 364 and 3,636
    import cardiolens.stats.quality as Q

    rng = np.random.default_rng(3)
    region, lumen = grey(rng, 1500), grey(rng, 15_000)
    seen = []
    real = Q._gcnr_rows

    def spy(pooled, a, b, grid):
        seen.append((len(pooled), a.shape, b.shape, all(len(np.unique(np.r_[x, y])) == x.size + y.size for x, y in zip(a, b))))
        return real(pooled, a, b, grid)

    monkeypatch.setattr(Q, "_gcnr_rows", spy)
    t = gcnr_permutation(region, lumen, 60, seed=2)
    assert seen[0] == (16_500, (1, 1500), (1, 15_000), True)  # the observed gCNR: every pixel
    assert [s[1:] for s in seen[1:]] == [((50, 364), (50, 3636), True), ((10, 364), (10, 3636), True)]
    monkeypatch.undo()
    assert t.gcnr == gcnr(region, lumen) and t == gcnr_permutation(region, lumen, 60, seed=2)  # seeded
    assert t.p_value > 0.05 and t.gcnr <= t.null95  # one distribution: inside the (conservative) null
    # at or below 4,000 pooled pixels nothing is subsampled
    a, b = grey(rng, 300), grey(rng, 3000)
    assert gcnr_permutation(a, b, 40, seed=2) == gcnr_permutation(a, b, 40, seed=2, null_max_pixels=10**9)


def test_gaussian_matching_over_an_explicit_sector_includes_zero_pixels():
    img = np.zeros((40, 40))
    img[5:35, 5:35] = np.arange(900).reshape(30, 30)  # sector: 900 distinct grey levels, one of them 0
    sector = np.zeros((40, 40), bool)
    sector[5:35, 5:35] = True
    g = gaussian_match(img, sector)
    assert g[0, 0] == 0 and g[5, 5] > 0  # the zero-valued pixel inside the sector is matched (lowest rank)
    assert g[sector].mean() == pytest.approx(127, abs=0.01) and g[sector].std() == pytest.approx(32, rel=0.02)
    assert np.array_equal(gaussian_match(img + 1.0 * sector, sector), g)
    with pytest.raises(ValueError, match="boolean mask"):
        gaussian_match(img, sector.astype(np.uint8))


def quality_phantom() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, mask, sector): the wall-and-cavity mask of the region test in test_stats.py, a
    rectangular sector around it, a lumen that is mostly 0 (blood below the dynamic range)."""
    rng = np.random.default_rng(5)
    mask = np.zeros((90, 60), np.uint8)
    mask[10:80, 20:40] = L.LV_CAVITY
    mask[10:80, 14:20] = L.MYOCARDIUM
    mask[10:80, 40:46] = L.MYOCARDIUM
    mask[80:88, 20:40] = L.LEFT_ATRIUM
    sector = np.zeros(mask.shape, bool)
    sector[2:89, 4:56] = True
    img = np.where(sector, rng.integers(20, 120, mask.shape), 0).astype(np.float64)
    img[mask == L.MYOCARDIUM] = rng.integers(60, 220, int((mask == L.MYOCARDIUM).sum()))
    lumen = mask == L.LV_CAVITY
    img[lumen] = np.where(rng.random(int(lumen.sum())) < 0.7, 0, rng.integers(1, 30, int(lumen.sum())))
    return img, mask, sector


def test_grey_level_offset_inside_the_sector_leaves_cr_cnr_gcnr_unchanged():
    # The former matching took the sector as pixels > 0: +1 brought the 0-valued lumen pixels in and
    # moved the metrics (mean CR 17.8 -> 5.0 dB here). Over an explicit sector it is a rank-preserving no-op.
    img, mask, sector = quality_phantom()
    before = regional_quality(img, mask, (1.0, 1.0), sector, n_permutations=20)
    after = regional_quality(img + sector, mask, (1.0, 1.0), sector, n_permutations=20)
    cols = ["cr_db", "cnr", "gcnr", "gcnr_p", "gcnr_null95"]
    assert before[cols].notna().all().all() and (before["cr_db"] > 3).all()
    np.testing.assert_allclose(after[cols].to_numpy(float), before[cols].to_numpy(float), rtol=0, atol=1e-9)
    assert np.allclose(before["gcnr_p"], 1 / 21)  # wall vs mostly-black lumen: far above chance


def test_sector_from_frames_is_the_fan_without_the_marker_and_with_the_black_lumen():
    from cardiolens.synth.echo_render import Scanner, draw_marker, sector_mask

    sc = Scanner(96, 96, 1.4, 75.0, 20.0)
    fan = sector_mask(sc)
    rng = np.random.default_rng(2)
    frames = np.where(fan, rng.integers(1, 255, (3, 96, 96)), 0).astype(np.uint8)
    frames[:, 40:60, 40:55] = 0  # a lumen black in every frame
    frames[1:, 60:70, 20:30] = 0  # a dropout in all but one frame
    draw_marker(frames, (4, 14, 4, 14))  # burnt-in annotation outside the sector
    got = sector_from_frames(frames)
    assert got[40:60, 40:55].all() and got[60:70, 20:30].all() and not got[4:14, 4:14].any()
    assert (got & fan).sum() / (got | fan).sum() > 0.98  # IoU with the true fan (its edge pixels and apex notch)
    assert sector_from_frames(np.full((5, 6), 7)).all()  # no zero pixel: the whole image
    with pytest.raises(ValueError, match="every pixel"):
        sector_from_frames(np.zeros((4, 4)))


def test_contrast_of_constant_sets():
    c = contrast(np.full(100, 150.0), np.full(100, 100.0), n_permutations=0)
    assert c["gcnr"] == 1.0 and c["cr_db"] == pytest.approx(20 * np.log10(1.5)) and c["cnr"] == np.inf
    same = contrast(np.arange(100.0), np.arange(100.0), n_permutations=0)
    assert same["gcnr"] == 0.0 and same["cnr"] == 0.0 and same["cr_db"] == 0.0
