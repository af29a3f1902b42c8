"""Attribution-speed benchmark: Captum Grad-CAM vs MONAI GradCAM, batched vs one-at-a-time Grad-CAM++.

Same model, same batch, same run:

1. Grad-CAM maps per second, each producing the same thing - ReLU, bilinear upsampling to the
   input, per-sample [0, 1] min-max normalisation, the class given per sample:
   - cardiolens (Captum ``LayerGradCam``, backpropagating only down to the layer), batched;
   - MONAI ``GradCAM`` with a min-max postprocessing (MONAI's default normaliser inverts maps),
     one call per sample because MONAI's ``class_idx`` is one class for the whole batch.
   The maps of both are compared (max abs difference printed). Target ratio cardiolens/MONAI
   >= 1.5.
2. Grad-CAM++ (cardiolens, the paper's formula) batched vs one sample at a time: maps/s and the
   max abs difference between the two (must be ~0: batching must not change a map).

The model is the septal-flash study's configured network in ``config/config.yaml`` (GapCNN with
its 16 x 8 last grid on 64x64 M-modes) or ``--network densenet`` (the small DenseNet the study
used before), random weights - speed does not depend on training - on the CPU or ``--device cuda``.

    python benchmarks/bench_attribute.py [--batch 32] [--size 64] [--repeats 5] [--device cpu] [--threads 2]
                                         [--network gapcnn|densenet|...] [--init-features 16]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cardiolens.attribute.cam import grad_cam, grad_cam_pp, normalise, upsample
from cardiolens.attribute.layers import resolve_layers
from cardiolens.attribute.methods import for_attribution
from cardiolens.config import load_config
from cardiolens.train.networks import build_network

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def best_of(fn, repeats: int, device: str) -> float:
    """Fastest wall time of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    study = load_config(CONFIG)["studies"]["septal_flash"]["train"]
    ap.add_argument("--network", default=study["network"], help="network name (default: the septal-flash study's, with its network_params)")
    ap.add_argument("--init-features", type=int, default=16, help="init_features of --network densenet")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from monai.visualize import GradCAM

    if args.network == study["network"]:
        params = dict(study["network_params"] or {})
    elif args.network == "densenet":
        params = {"init_features": args.init_features, "growth_rate": 16, "block_config": [4, 4, 4]}
    else:
        params = {}
    net = build_network(args.network, 2, 1, 2, params, (args.size, args.size)).to(args.device)
    model = for_attribution(net)
    x = torch.randn(args.batch, 1, args.size, args.size, device=args.device)
    target = torch.arange(args.batch, device=args.device) % 2
    name = resolve_layers(model, "auto", x[:1])[0]
    layer = dict(model.named_modules())[name]
    size = (args.size, args.size)

    ones = torch.ones_like(target)

    def ours(t=ones):
        return normalise(upsample(grad_cam(model, layer, x, t), size)).detach()

    def minmax(m):
        return normalise(torch.as_tensor(m)).numpy() if not isinstance(m, torch.Tensor) else normalise(m)

    cam = GradCAM(nn_module=model, target_layers=name, postprocessing=minmax)

    def monai_maps():
        return cam(x, class_idx=1).detach()

    def monai_per_sample():
        return torch.cat([cam(x[i:i + 1], class_idx=int(target[i])) for i in range(len(x))]).detach()

    t_ours = best_of(ours, args.repeats, args.device)
    t_monai = best_of(monai_maps, args.repeats, args.device)
    t_ours_pc = best_of(lambda: ours(target), args.repeats, args.device)
    t_monai_pc = best_of(monai_per_sample, args.repeats, args.device)
    diff = float((ours() - monai_maps()).abs().max())
    diff_pc = float((ours(target) - monai_per_sample()).abs().max())
    n = args.batch
    print(f"model: {args.network} {params} ({sum(p.numel() for p in net.parameters())} parameters), layer {name}, batch {n}, "
          f"{args.size}x{args.size}, device {args.device}, threads {args.threads}")
    print(f"Grad-CAM   cardiolens/Captum, one class   {n / t_ours:9.1f} maps/s")
    print(f"Grad-CAM   MONAI GradCAM, one class       {n / t_monai:9.1f} maps/s")
    print(f"Grad-CAM   ratio cardiolens / MONAI        {t_monai / t_ours:9.2f}  (target >= 1.5); max |difference| {diff:.2e}")
    print(f"Grad-CAM   class per sample: cardiolens {n / t_ours_pc:.1f} maps/s, MONAI (one call each) {n / t_monai_pc:.1f} "
          f"maps/s, ratio {t_monai_pc / t_ours_pc:.2f}; max |difference| {diff_pc:.2e}")

    def pp_batched():
        return grad_cam_pp(model, layer, x, target).detach()

    def pp_single():
        return torch.cat([grad_cam_pp(model, layer, x[i:i + 1], target[i:i + 1]) for i in range(n)]).detach()

    t_b = best_of(pp_batched, args.repeats, args.device)
    t_s = best_of(pp_single, args.repeats, args.device)
    diff_pp = float((pp_batched() - pp_single()).abs().max())
    print(f"Grad-CAM++ batched                        {n / t_b:9.1f} maps/s")
    print(f"Grad-CAM++ one at a time                  {n / t_s:9.1f} maps/s")
    print(f"Grad-CAM++ ratio batched / one at a time  {t_s / t_b:9.2f}; max |difference| {diff_pp:.2e}")


if __name__ == "__main__":
    main()
