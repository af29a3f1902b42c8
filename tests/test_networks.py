"""Networks by name (2D and 3D), the dual-input model, and local pretrained weights."""

from __future__ import annotations

import pytest
import torch

from cardiolens.train.networks import build_dual, build_network, load_pretrained, receptive_field

SMALL = {"init_features": 8, "growth_rate": 8, "block_config": [2, 2]}


CASES = [("densenet", SMALL, 2), ("densenet", SMALL, 3), ("gapcnn", {}, 2), ("gapcnn", {"channels": [4, 8], "strides": [2, 2]}, 3), ("resnet10", {}, 2), ("resnet10", {}, 3), ("densenet121", {}, 2)]


@pytest.mark.parametrize("name, params, dims", CASES)
def test_networks_by_name_in_2d_and_3d(name, params, dims):
    shape = (2, 1, 32, 32) if dims == 2 else (2, 1, 8, 32, 32)
    net = build_network(name, dims, 1, 3, params).eval()
    with torch.no_grad():
        assert net(torch.zeros(shape)).shape == (2, 3)


def test_efficientnet_2d():
    net = build_network("efficientnet-b0", 2, 2, 2).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 2, 64, 64)).shape == (1, 2)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown network 'vgg16'; valid names: \['densenet121'"):
        build_network("vgg16", 2, 1, 2)


def test_network_params_of_another_network_are_named_and_null_keeps_the_defaults():
    """A --configfile that switches the septal-flash study from gapcnn to densenet121 inherits
    config.yaml's GapCNN strides (Snakemake merges nested keys): the error names them and the fix."""
    with pytest.raises(ValueError, match=r"'densenet121' does not take the network_params \{'strides'.*null"):
        build_network("densenet121", 2, 1, 2, {"strides": [1, 2, 1, 2, 1, [1, 2]]})
    net = build_network("gapcnn", 2, 1, 2, None)
    assert [b.conv.stride for b in net.features] == [(1, 1), (2, 2), (1, 1), (2, 2), (1, 1), (2, 2)]  # GapCNN's own


def test_vgg_like_branch_is_a_plain_convolution_stack():
    net = build_network("vgg", 2, 1, 7, {"channels": [4, 8, 16], "strides": [2, 2, 2]}, spatial_shape=(32, 32)).eval()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16] and all(c.stride == (2, 2) for c in convs)
    linear = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(16 * 4 * 4, 7)]  # 32 px / 2**3 = 4
    with torch.no_grad():
        assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 7)
    with pytest.raises(ValueError, match="spatial shape"):
        build_network("vgg", 2, 1, 7)


def test_receptive_field_of_a_convolution_chain():
    # 3x3 convolutions grow the field by 2 x the jump before them: 1+2, +4, +4, +8, +8, +16 (jump 8).
    assert receptive_field(3, (1, 2, 1, 2, 1, 2)) == (29, 8)
    assert receptive_field(3, (2, 2)) == (7, 4) and receptive_field(7, (1,)) == (7, 1)


def test_gapcnn_cells_see_only_their_receptive_field():
    """A last-layer cell of the default septal-flash GapCNN (strides 1,2,1,2,1,(1,2): 16 x 8 cells on 64 px)
    depends on the 29 x 29 input pixels around it and on nothing else (its gradient's support)."""
    torch.manual_seed(0)
    net = build_network("gapcnn", 2, 1, 2, {"strides": [1, 2, 1, 2, 1, [1, 2]]}).eval()
    x = torch.randn(1, 1, 64, 64, requires_grad=True)
    feats = net.features(x)
    assert feats.shape == (1, 128, 16, 8)
    feats[0, :, 8, 4].sum().backward()
    rows, cols = torch.nonzero(x.grad[0, 0]).unbind(1)
    # cell (8, 4): jumps (4, 8), first pixel centre of the cell 8*4 = 32 and 4*8 = 32, field 29 = 32 +- 14
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (18, 46, 18, 46)


def test_gapcnn_grad_cam_is_the_class_activation_map():
    """Global average pooling + one linear layer: Grad-CAM of ``features`` equals Zhou et al.'s CAM,
    ReLU(sum_k w_ck A_k) / (h w) with w the linear layer's weights (Selvaraju et al. 2017, sec. 3.1)."""
    from cardiolens.attribute.cam import grad_cam

    torch.manual_seed(1)
    net = build_network("gapcnn", 2, 1, 3, {"channels": [4, 6], "strides": [2, 2]}).eval()
    x = torch.randn(2, 1, 16, 16)
    target = torch.tensor([2, 0])
    got = grad_cam(net, net.features, x, target)
    a = net.features(x).detach()
    w = net.out.weight.detach()[target]  # (B, K)
    expected = torch.relu((w[:, :, None, None] * a).sum(1, keepdim=True)) / (4 * 4)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_dual_input_splits_channels_and_uses_the_paper_head():
    torch.manual_seed(0)
    net = build_dual("densenet", 2, 1, 3, SMALL, branch_features=16).eval()
    head = [m for m in net.head if isinstance(m, (torch.nn.Linear, torch.nn.Dropout))]
    assert [m.out_features for m in head if isinstance(m, torch.nn.Linear)] == [256, 128, 64, 3]
    assert [m.p for m in head if isinstance(m, torch.nn.Dropout)] == [0.25, 0.35, 0.40]
    x = torch.rand(2, 2, 32, 32)
    with torch.no_grad():
        out = net(x)
        swapped = net(torch.cat([x[:, 1:], x[:, :1]], dim=1))
    assert out.shape == (2, 3) and not torch.allclose(out, swapped)  # the branches are distinct
    with pytest.raises(ValueError, match="expects 2 channels"):
        net(torch.rand(1, 3, 32, 32))


def test_pretrained_weights_load_and_mismatches_are_named(tmp_path):
    src = build_network("densenet", 2, 1, 5, SMALL)
    torch.save(src.state_dict(), tmp_path / "w.pt")
    dst = load_pretrained(build_network("densenet", 2, 1, 2, SMALL), tmp_path / "w.pt")  # new head: transfer
    for (k, a), (_, b) in list(zip(src.state_dict().items(), dst.state_dict().items()))[:-2]:
        assert torch.equal(a, b), k
    with pytest.raises(FileNotFoundError, match="pretrained weights not found"):
        load_pretrained(dst, tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="shape mismatches"):
        load_pretrained(build_network("densenet", 2, 3, 2, SMALL), tmp_path / "w.pt")  # 3 input channels
