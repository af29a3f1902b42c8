"""Attribution: CAMs against hand-computed values, metrics on analytic maps, layouts of every method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from cardiolens.attribute import metrics as M
from cardiolens.attribute.cam import grad_cam, grad_cam_pp, normalise, upsample
from cardiolens.attribute.layers import LayerNameError, resolve_layers
from cardiolens.attribute.methods import METHODS, attribute_batch, for_attribution
from cardiolens.attribute.sanity import (degenerate, degenerate_extent, map_extent, randomised, rank_correlation,
                                        sanity_verdict)
from cardiolens.prepare.samples import ROI_BITS


class Tiny(nn.Module):
    """A = x (layer 'feat', one channel, 2x2); logits = W @ flatten(A): dY_c/dA = W_c by position."""

    def __init__(self):
        super().__init__()
        self.feat = nn.Identity()
        self.head = nn.Linear(4, 2, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, -1.0, 2.0, 0.0], [0.0, 1.0, 1.0, 1.0]]))

    def forward(self, x):
        return self.head(self.feat(x).flatten(1))


X = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]], [[[0.0, 1.0], [1.0, 0.0]]]])
TARGET = torch.tensor([0, 1])


def test_grad_cam_equals_hand_computed_values():
    # Sample 0, class 0: g = [[1, -1], [2, 0]], w = mean(g) = 0.5, map = ReLU(0.5 A).
    # Sample 1, class 1: g = [[0, 1], [1, 1]], w = 0.75, map = 0.75 A.
    net = Tiny()
    cam = grad_cam(net, net.feat, X, TARGET)
    assert cam.shape == (2, 1, 2, 2)
    torch.testing.assert_close(cam[0, 0], torch.tensor([[0.5, 1.0], [1.5, 2.0]]))
    torch.testing.assert_close(cam[1, 0], torch.tensor([[0.0, 0.75], [0.75, 0.0]]))


def test_grad_cam_pp_equals_the_papers_formula_by_hand():
    # Chattopadhyay et al. 2018 eq. 19: alpha_ij = g^2 / (2 g^2 + sum_ab A_ab g_ij^3).
    # Sample 0: sum A = 10; alpha = 1/12 (g=1), -1/8 (g=-1, but ReLU(g)=0), 4/88 (g=2), 0 (g=0)
    #   w = 1/12 * 1 + 4/88 * 2 = 23/132; map = 23/132 * A.
    # Sample 1: sum A = 2; alpha = 1/4 where g = 1; w = 3/4; map = 3/4 * A.
    # (MONAI's GradCAMpp would use sum_ab A_ab g_ab^3 = 23 in the denominator: different.)
    net = Tiny()
    cam = grad_cam_pp(net, net.feat, X, TARGET)
    torch.testing.assert_close(cam[0, 0], 23 / 132 * X[0, 0])
    torch.testing.assert_close(cam[1, 0], 0.75 * X[1, 0])
    # Batched equals one at a time.
    one = torch.cat([grad_cam_pp(net, net.feat, X[i:i + 1], TARGET[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(cam, one)


def test_upsampling_is_bilinear_and_normalisation_per_sample():
    m = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    up = upsample(m, (4, 4))
    # align_corners=False bilinear: the first row is [0, 0.25, 0.75, 1].
    torch.testing.assert_close(up[0, 0, 0], torch.tensor([0.0, 0.25, 0.75, 1.0]))
    n = normalise(torch.stack([m[0], 2 * m[0] + 1, torch.full_like(m[0], 5.0)]))
    torch.testing.assert_close(n[0], m[0] / 3)
    torch.testing.assert_close(n[1], m[0] / 3)
    assert float(n[2].abs().max()) == 0.0


def _densenet(spatial_dims=2, channels=1):
    from cardiolens.train.networks import build_network

    torch.manual_seed(0)
    return build_network("densenet", spatial_dims, channels, 2, {"init_features": 8, "growth_rate": 8, "block_config": [2, 2]})


def test_layer_auto_and_wrong_name_lists_valid_names():
    net = _densenet()
    x = torch.zeros(1, 1, 32, 32)
    assert resolve_layers(net, "auto", x) == ["class_layers.relu"]
    assert resolve_layers(net, "features.denseblock2", x) == ["features.denseblock2"]
    with pytest.raises(LayerNameError, match="valid names: .*class_layers.relu"):
        resolve_layers(net, "features.nope", x)


def test_dual_input_gets_one_layer_and_one_map_per_input():
    from cardiolens.train.networks import build_dual

    torch.manual_seed(0)
    net = build_dual("densenet", 2, 1, 3, {"init_features": 8, "growth_rate": 8, "block_config": [2, 2]}, branch_features=16,
                     head=(8,), dropout=(0.1,))
    x = torch.randn(2, 2, 32, 32)
    layers = resolve_layers(net, "auto", x[:1])
    assert layers == ["ed.class_layers.relu", "es.class_layers.relu"]
    model = for_attribution(net)
    mods = dict(model.named_modules())
    cfg = {"integrated_gradients": {"steps": 4}, "occlusion": {"window": 8, "stride": 8}, "batch_size": 8}
    for method in METHODS:
        maps, raw = attribute_batch(model, x, torch.tensor([0, 2]), method, [mods[n] for n in layers], cfg)
        assert maps.shape == (2, 2, 32, 32), method
        assert float(maps.min()) >= 0 and float(maps.max()) <= 1
        if method in ("gradcam", "gradcampp"):
            assert raw.shape == (2, 2, 4, 4)  # 32 px / 2 (conv0) / 2 (pool0) / 2 (one transition), one per branch


@pytest.mark.parametrize("shape,dims,layout", [((1, 32, 32), 2, (1, 32, 32)), ((2, 32, 32), 2, (1, 32, 32)),
                                               ((1, 16, 32, 32), 3, (16, 32, 32))])
def test_every_method_gives_the_sample_layout(shape, dims, layout):
    net = _densenet(dims, shape[0])
    model = for_attribution(net)
    x = torch.randn(3, *shape)
    layer = dict(model.named_modules())[resolve_layers(model, "auto", x[:1])[0]]
    cfg = {"integrated_gradients": {"steps": 4, "baseline": "blur"}, "occlusion": {"window": 8, "stride": 8}, "batch_size": 8}
    for method in METHODS:
        maps, _ = attribute_batch(model, x, torch.tensor([0, 1, 1]), method, [layer], cfg)
        assert maps.shape == (3, *layout), method
        assert torch.isfinite(maps).all()


def test_roi_mass_pointing_dispersion_on_analytic_maps():
    m = np.zeros((1, 10, 10))
    m[0, 2, 3] = 3.0
    m[0, 7, 7] = 1.0
    region = np.zeros((1, 10, 10), bool)
    region[0, 6:9, 6:9] = True
    assert M.mass(m, region) == pytest.approx(0.25)
    assert M.pointing_hit(m, region, 0) is False
    # The maximum (2, 3) is at distance sqrt(4^2 + 3^2) = 5 from (6, 6).
    assert M.pointing_hit(m, region, 4.9) is False and M.pointing_hit(m, region, 5.0) is True
    assert M.pointing_hit(m, np.zeros_like(region), 3) is None
    assert M.pointing_hit(np.zeros_like(m), region, 3) is False
    assert M.entropy(np.ones((4, 4))) == pytest.approx(1.0)
    one = np.zeros(100)
    one[5] = 1
    assert M.entropy(one) == pytest.approx(0.0) and M.gini(one) == pytest.approx(0.99)
    assert M.gini(np.ones(50)) == pytest.approx(0.0)
    bits = np.zeros((1, 10, 10), np.uint8)
    bits[region] |= 1 << ROI_BITS["septum"]
    bits[0, :, 5:] |= 1 << ROI_BITS["event_window"]
    assert M.roi(bits, ["septum", "event_window"]).sum() == 9 and M.roi(bits, ["event_window"]).sum() == 50


def test_uniform_mass_is_the_hearts_share_of_what_is_not_black():
    # a 10 x 10 input zeroed but for rows 2..7 (60 locations), the heart the 4 x 4 block at 3..6:
    # a map spread evenly over the 60 has 16 / 60 inside; over the whole input it would be 16 / 100
    visible = np.zeros((1, 10, 10), bool)
    visible[0, 2:8] = True
    heart = np.zeros((1, 10, 10), bool)
    heart[0, 3:7, 3:7] = True
    assert M.uniform_mass(heart, visible) == pytest.approx(16 / 60)
    assert M.mass(visible.astype(float), heart) == pytest.approx(M.uniform_mass(heart, visible))
    assert M.uniform_mass(heart, np.ones_like(visible)) == pytest.approx(0.16)
    assert np.isnan(M.uniform_mass(np.zeros_like(heart), visible)) and np.isnan(M.uniform_mass(heart, np.zeros_like(visible)))
    # measure() takes the sample's visible locations into the map's layout: two channels of a
    # single-input model are OR-ed, as its ROI bits are
    from cardiolens.attribute.run import measure

    bits = np.zeros((2, 10, 10), np.uint8)
    bits[:, 3:7, 3:7] |= 1 << ROI_BITS["heart"]
    seen = np.zeros((2, 10, 10), bool)
    seen[0, 2:8] = True
    seen[1, :, 2:8] = True  # the union: rows 2..7 or columns 2..7, 60 + 60 - 36 = 84 locations
    row = measure(np.ones((1, 10, 10)), bits, {}, seen)
    assert row["mass_heart_uniform"] == pytest.approx(16 / 84) and row["mass_heart"] == pytest.approx(0.16)
    assert measure(np.ones((1, 10, 10)), bits, {})["mass_heart_uniform"] == pytest.approx(0.16)


def test_outside_heart_looks_at_the_hot_locations():
    heart = np.zeros((1, 20, 20), bool)
    heart[0, 8:12, 8:12] = True
    corner = np.zeros((1, 20, 20))
    corner[0, :4, :4] = 1.0          # 16 hot pixels, far from the heart
    mass_out, top, flag = M.outside_heart(corner, heart, 0.5, 2, top_fraction=0.04)
    assert mass_out == pytest.approx(1.0) and top == pytest.approx(1.0) and flag is True
    centre = np.full((1, 20, 20), 0.1)
    centre[0, 9:11, 9:11] = 1.0      # hot inside, a diffuse background: most *mass* is outside
    mass_out, top, flag = M.outside_heart(centre, heart, 0.5, 2, top_fraction=0.01)
    assert mass_out > 0.5 and top == 0.0 and flag is False
    assert M.outside_heart(centre, np.zeros_like(heart), 0.5, 2)[2] is None
    # a sparse map (3 positive locations, all in the heart; the top 10 % would be 40 of 400): its
    # zeros are not hot, so it is not flagged (counting them, 384 of the 400 lie outside the heart)
    sparse = np.zeros((1, 20, 20))
    sparse[0, 9, 9:12] = [1.0, 0.5, 0.2]
    mass_out, top, flag = M.outside_heart(sparse, heart, 0.5, 0, top_fraction=0.1)
    assert mass_out == 0.0 and top == 0.0 and flag is False


def test_deletion_and_insertion_auc_by_hand():
    # score = sum of the input; x = [1, 2, 3, 4], the map orders 4, 3, 2, 1; 4 steps.
    # deletion: 10, 6, 3, 1, 0 -> 0.25 (5 + 6 + 3 + 1 + 0) = 3.75
    # insertion: 0, 4, 7, 9, 10 -> 0.25 (0 + 4 + 7 + 9 + 5) = 6.25
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    dele, ins = M.deletion_insertion(lambda b: b.flatten(1).sum(1, keepdim=True), x, x[:, :1].clone(), torch.tensor([0]), 4)
    assert dele[0] == pytest.approx(3.75) and ins[0] == pytest.approx(6.25)


def test_randomisation_changes_weights_reproducibly_and_rank_correlation():
    net = _densenet()
    a, b = randomised(net, 1), randomised(net, 1)
    for (n, p), q, r in zip(net.state_dict().items(), a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(q, r)
        if n.endswith("conv0.weight"):
            assert not torch.equal(p, q)
    x = np.random.default_rng(0).random((2, 5, 5))
    rho = rank_correlation(x, np.stack([x[0], np.full((5, 5), 0.3)]))
    # a trained map against a constant randomised one: it changed with the weights, uncorrelated
    assert rho[0] == pytest.approx(1.0) and rho[1] == 0.0
    assert np.isnan(rank_correlation(np.full((1, 5, 5), 0.3), x[:1]))[0]  # a constant trained map has no ranking


def test_rank_correlation_ranks_only_the_locations_the_network_sees():
    # 4 x 4 maps, the input black but for its first row; both maps 0 on black (integrated
    # gradients from the black image). On the seen row the randomised map reverses the trained
    # one: rho -1. Over all 16 locations the 12 joint zeros (tied rank 6.5, deviation -2 from the
    # mean rank 8.5) dominate: sum of products 12 x 4 + (4.5 x 7.5 + 5.5 x 6.5 + 6.5 x 5.5 + 7.5 x 4.5)
    # = 187 over sum of squares 12 x 4 + (4.5^2 + 5.5^2 + 6.5^2 + 7.5^2) = 197: rho 0.949, a "failed" check.
    a, b, seen = np.zeros((3, 4, 4)), np.zeros((3, 4, 4)), np.zeros((3, 4, 4), bool)
    seen[:, 0] = True
    a[0, 0], b[0, 0] = [1, 2, 3, 4], [4, 3, 2, 1]
    a[1, 0], a[1, 1:] = 0.5, np.arange(12).reshape(3, 4)   # varies only where the input is black
    b[1, 0] = [1, 2, 3, 4]
    a[2, 0], a[2, 1, 0] = [1, 2, 3, 4], 9                  # the randomised map is 0 on the seen row
    b[2, 1, 0] = 1
    assert rank_correlation(a[:1], b[:1])[0] == pytest.approx(187 / 197)
    rho = rank_correlation(a, b, where=seen)
    assert rho[0] == pytest.approx(-1.0)
    assert np.isnan(rho[1])    # constant on what the network sees: it ranks nothing there
    assert rho[2] == 0.0       # changed with the weights, as a constant randomised map does
    with pytest.raises(ValueError, match="differ in shape"):
        rank_correlation(a, b, where=seen[:, :2])


def test_sanity_check_fails_when_the_maps_are_constant():
    # Constant, or nearly (span < 1e-6), in the trained model: degenerate, NaN; a varying trained
    # map against a constant randomised one changed with the weights: 0.
    x = np.random.default_rng(1).random((4, 6, 6))
    flat, tiny = np.zeros((6, 6)), 0.5 + 1e-8 * np.eye(6)
    assert degenerate(np.stack([x[0], flat, tiny, np.full((6, 6), np.nan)])).tolist() == [False, True, True, True]
    rho = rank_correlation(np.stack([flat, flat, x[2], tiny]), np.stack([flat, x[1], flat, x[3]]))
    assert np.isnan(rho[[0, 1, 3]]).all() and rho[2] == 0.0  # the former code gave 0 for all four: "passed"
    # The verdict: degenerate maps count as failures; the median is over the others.
    assert sanity_verdict(np.array([0.1, 0.2, np.nan]), 0.5) == (pytest.approx(0.15), True)  # median of 0.1, 0.2, inf: 0.2
    assert sanity_verdict(np.array([0.1, np.nan, np.nan]), 0.5) == (pytest.approx(0.1), False)
    assert sanity_verdict(np.array([0.9, 0.8]), 0.5) == (pytest.approx(0.85), False)
    assert sanity_verdict(np.array([]), 0.5) == (None, None)
    # End to end through the summary: a method whose maps are all-zero for both models fails.
    from cardiolens.attribute.stage import summarise

    n = 4
    table = pd.DataFrame({"study": "s", "method": np.repeat(["flat", "fine"], n), "target_kind": "predicted",
                          "correct": True, "label": "a", "marker": None, "outside_heart": False, "pointing_hit": True,
                          "mass_heart": 0.9, "deletion_auc": 0.2, "insertion_auc": 0.8})
    zeros = np.zeros((n, 6, 6))
    sanity = pd.DataFrame({"method": np.repeat(["flat", "fine"], n),
                           "spearman": np.r_[rank_correlation(zeros, zeros), rank_correlation(x, x[::-1])]})
    s = summarise(table, sanity, 0.5).set_index(["method", "group"])
    assert s.loc[("flat", "all"), "sanity_passed"] == False and pd.isna(s.loc[("flat", "all"), "sanity_spearman_median"])  # noqa: E712
    assert s.loc[("fine", "all"), "sanity_passed"] == True  # noqa: E712


def test_a_near_constant_map_is_degenerate_before_normalisation_and_fails_the_check():
    # Raw maps 3 + 1e-9 noise: normalised they span [0, 1] like any map, so a check on the
    # normalised maps (the former code) correlated them; their raw span (< 1e-9) is below
    # 1e-6 x max |value| (3), so they are degenerate, their correlation NaN and the check fails.
    rng = np.random.default_rng(2)
    raw, varied = 3.0 + 1e-9 * rng.random((4, 6, 6)), rng.random((4, 6, 6))
    norm = normalise(torch.from_numpy(raw)).numpy()
    flat = norm.reshape(4, -1)
    assert np.allclose(flat.max(1) - flat.min(1), 1.0) and not degenerate(norm).any()
    assert np.isfinite(rank_correlation(norm, varied)).all()  # what the former check saw
    span, max_abs = map_extent(raw)
    assert (span < 1e-9).all() and max_abs == pytest.approx(np.full(4, 3.0))
    flags = degenerate_extent(span, max_abs)
    assert flags.all() and degenerate(raw).all() and not degenerate(varied).any()
    rho = rank_correlation(norm, varied, flags, degenerate(varied))
    assert np.isnan(rho).all() and sanity_verdict(rho, 0.5) == (None, False)
    # relative, not absolute: a map of scale 1e-8 that varies over its whole range has a ranking
    assert not degenerate(1e-8 * varied).any()
    # zero span, or all zero (a Grad-CAM map after the ReLU), or non-finite: degenerate
    assert degenerate_extent(np.array([0.0, 0.0, 1.0, np.nan]), np.array([5.0, 0.0, 1.0, 1.0])).tolist() == [True, True, False, True]


def test_sanity_check_flags_a_model_whose_maps_are_constant_up_to_float_round_off():
    # Tiny with class weights W0 = (2, 2, 2, 2 + 2^-22), W1 = (1, 1, 1, 1): the saliency of the
    # log-odds z0 - z1 is |W0 - W1| = (1, 1, 1, 1 + 2^-22) for every input (float32 round-off
    # level: span 2.4e-7 < 1e-6 x 1). Normalised it is (0, 0, 0, 1), which the former check ranked.
    from cardiolens.attribute.run import FoldAttribution, sanity_check

    net = Tiny()
    with torch.no_grad():
        net.head.weight.copy_(torch.tensor([[2.0, 2.0, 2.0, 2.0 + 2.0**-22], [1.0, 1.0, 1.0, 1.0]]))
    fa = FoldAttribution(net, "classification", ["a", "b"], {"methods": ["saliency"], "layer": "feat"}, X[:1])
    a = fa.attribution(X, TARGET, "saliency")
    assert a.maps[0].flatten().tolist() == [0.0, 0.0, 0.0, 1.0]
    assert a.span.tolist() == [2.0**-22] * 2 and a.max_abs.tolist() == [1 + 2.0**-22] * 2
    out = sanity_check(fa, X, seed=0)
    assert out["method"].tolist() == ["saliency"] * 2 and out["spearman"].isna().all()
    assert sanity_verdict(out["spearman"].to_numpy(), 0.5) == (None, False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none)")
def test_methods_on_the_gpu_match_the_cpu():
    net = _densenet()
    x = torch.randn(4, 1, 32, 32)
    target = torch.tensor([0, 1, 0, 1])
    cfg = {"integrated_gradients": {"steps": 8}, "occlusion": {"window": 8, "stride": 8}, "batch_size": 8}
    for device in ("cpu", "cuda"):
        model = for_attribution(net).to(device)
        layer = dict(model.named_modules())["class_layers.relu"]
        maps = {m: attribute_batch(model, x.to(device), target.to(device), m, [layer], cfg)[0].cpu() for m in METHODS}
        dele, ins = M.deletion_insertion(lambda b: model(b).softmax(1), x.to(device), maps["gradcam"].to(device), target.to(device), 4)
        if device == "cpu":
            ref, ref_auc = maps, (dele, ins)
    for m in METHODS:
        torch.testing.assert_close(maps[m], ref[m], atol=2e-3, rtol=1e-3)
    np.testing.assert_allclose(dele, ref_auc[0], atol=1e-4)
    np.testing.assert_allclose(ins, ref_auc[1], atol=1e-4)


def test_log_odds_target_by_hand():
    from cardiolens.attribute.methods import LogOdds

    z = torch.tensor([[1.0, 2.0, 4.0], [3.0, -1.0, 0.5]])
    lo = LogOdds(nn.Identity())(z)
    expected = torch.tensor([[1 - np.log(np.e**2 + np.e**4), 2 - np.log(np.e**1 + np.e**4), 4 - np.log(np.e**1 + np.e**2)],
                             [3 - np.log(np.e**-1 + np.e**0.5), -1 - np.log(np.e**3 + np.e**0.5), 0.5 - np.log(np.e**3 + np.e**-1)]],
                            dtype=torch.float32)
    torch.testing.assert_close(lo, expected)
    two = LogOdds(nn.Identity())(torch.tensor([[0.3, 1.5]]))
    torch.testing.assert_close(two, torch.tensor([[-1.2, 1.2]]))  # binary: z_A - z_B


def test_the_stage_gives_black_nothing_and_the_chance_level_of_what_is_not_black(tmp_path):
    """attribute_samples end to end on two (1, 8, 8) samples in float16 .npy shards: the visible locations
    come from the prepared arrays (not the ROI shard, not the normalised input), integrated
    gradients from the black baseline leave every black location at exactly 0, and
    mass_heart_uniform is the heart's share of the non-black locations by hand."""
    from cardiolens.attribute.run import FoldAttribution
    from cardiolens.attribute.stage import attribute_samples, black_input
    from cardiolens.train.dataset import SampleDataset

    arrays = np.zeros((2, 1, 8, 8), np.float16)  # as prepare writes its shards
    arrays[0, 0, 2:6, 2:6] = np.linspace(0.2, 1.0, 16).reshape(4, 4)  # 16 visible locations
    arrays[1, 0, 1:7, 1:7] = 0.5                                      # 36 visible locations
    bits = np.zeros((2, 1, 8, 8), np.uint8)
    bits[:, 0, 3:5, 3:5] = 1 << ROI_BITS["heart"]                     # a 4-location heart in both
    np.save(tmp_path / "arrays.npy", arrays)
    np.save(tmp_path / "rois.npy", bits)
    rows = pd.DataFrame({"sample_id": ["s0", "s1"], "array_path": [str(tmp_path / "arrays.npy")] * 2, "array_index": [0, 1],
                         "roi_path": [str(tmp_path / "rois.npy")] * 2, "label": ["a", "b"]})
    mean, sd = np.full((1, 8, 8), 0.3, np.float32), 0.5  # black is -0.6 after normalisation, not 0
    ds = SampleDataset(rows, ["a", "b"], mean, sd)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    cfg = {"methods": ["integrated_gradients"], "integrated_gradients": {"baseline": "black", "steps": 8}, "layer": "auto",
           "faithfulness_steps": 4}
    fa = FoldAttribution(net, "classification", ["a", "b"], cfg, ds[0][0][None], black_input(mean, sd, False))
    table = attribute_samples(fa, ds, rows, "frames", False, 2, "cpu", tmp_path / "out")
    maps = np.load(tmp_path / "out" / "maps.npy").astype(np.float32)
    assert maps.shape == (2, 1, 8, 8)
    assert (maps[arrays == 0] == 0).all() and (maps > 0).any()
    assert table["mass_heart_uniform"].tolist() == pytest.approx([4 / 16, 4 / 36])
    # The sanity check ranks the same non-black locations: its correlations are those of the
    # trained and the randomised model's maps over arrays != 0 (16 and 36 locations), computed here
    from scipy import stats

    from cardiolens.attribute.run import sanity_check
    from cardiolens.attribute.sanity import randomised
    from cardiolens.attribute.stage import visible_input

    seen = visible_input(rows)
    assert [int(v.sum()) for v in seen] == [16, 36]
    x = torch.stack([ds[i][0] for i in range(2)])
    out = sanity_check(fa, x, 0, seen)
    target = fa.score_fn(x).argmax(dim=1)
    trained = fa.attribution(x, target, "integrated_gradients").maps.numpy()
    rand = fa.attribution(x, target, "integrated_gradients", for_attribution(randomised(fa.model, 0))).maps.numpy()
    expected = [stats.spearmanr(trained[i][seen[i]], rand[i][seen[i]]).statistic for i in range(2)]
    assert np.isfinite(expected).all() and out["spearman"].tolist() == pytest.approx(expected)
