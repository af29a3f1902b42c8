"""The attribute stage with files at the edges: one job per study and fold, then a merge per study.

Per fold (``results/attribute/<study>/fold<k>/``): ``maps.npy`` (float16, (N, *map layout),
[0, 1] per map, row ``map_index``), ``raw_maps.npy`` (layer-resolution CAMs, row
``raw_index``), ``attribution.parquet`` and ``sanity.parquet``. Per study: the folds' tables
concatenated, ``summary.parquet`` and the figures.

The explained weights are the fold's ``checkpoints/best.ckpt``, checked against the weights hash
its predictions table recorded: attributions of other weights than the evaluated ones stop
the job.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens import provenance
from cardiolens.tables import read_table, write_table
from cardiolens.tables.registry import ATTRIBUTION, ATTRIBUTION_SUMMARY, RECORDINGS, SAMPLES, SANITY, SPLITS

log = logging.getLogger(__name__)


def attribute_slice(config: dict[str, Any], study: str) -> dict[str, Any]:
    """Configuration an attribution job depends on: its own block plus what rebuilds the model."""
    from cardiolens.train.stage import train_slice

    return {**train_slice(config, study), "attribute": config["studies"][study]["attribute"]}


def save_array(arr: np.ndarray, path: Path) -> None:
    """np.save to a temporary name, then rename: a half-written file never looks complete."""
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, arr)
    os.replace(tmp, path)


def markers(recordings: pd.DataFrame) -> dict[str, bool | None]:
    """recording_id -> whether its ground truth records the synthetic shortcut marker (None: unknown)."""
    out: dict[str, bool | None] = {}
    for rid, path in zip(recordings["recording_id"], recordings["truth_path"]):
        present = None
        if isinstance(path, str) and path and Path(path).suffix == ".json" and Path(path).is_file():
            truth = json.loads(Path(path).read_text())
            present = bool(truth["marker"].get("present", False)) if isinstance(truth.get("marker"), dict) else None
        out[rid] = present
    return out


def attribution_device(train_cfg: dict[str, Any]) -> str:
    """cuda when a GPU is present and the study does not pin training to the CPU, else cpu.

    CPU attributions are bit-reproducible; on a GPU, cuDNN's backward kernels may differ in the
    last bits between runs."""
    import torch

    return "cuda" if torch.cuda.is_available() and train_cfg.get("accelerator", "auto") != "cpu" else "cpu"


def load_model(ckpt: Path, train_cfg: dict[str, Any], shape: tuple[int, ...], n_outputs: int, representation: str):
    import torch

    from cardiolens.train.networks import make_network

    net = make_network({**train_cfg, "pretrained": None}, shape, n_outputs, representation)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    net.load_state_dict({k[len("net."):]: v for k, v in state.items() if k.startswith("net.")})
    return net.eval()


def run_attribution(samples_path: str, splits_path: str, normalisation_path: str, predictions_path: str, recordings_path: str,
                    cslice: dict[str, Any], fold: int, out_dir: str, rule: str = "attribute_fold") -> None:
    import torch

    from cardiolens.attribute.run import FoldAttribution, sanity_check
    from cardiolens.train.dataset import SampleDataset, target_names
    from cardiolens.train.stage import weights_sha256

    cfg, train_cfg = cslice["attribute"], {**cslice["train"], "targets": cslice.get("targets")}
    task = train_cfg.get("task", "classification")
    samples = read_table(samples_path, SAMPLES)
    samples = samples[samples["variant"].isin(train_cfg["variants"])]
    names = target_names(samples, train_cfg)
    splits = read_table(splits_path, SPLITS)
    roles = splits[(splits["fold"] == fold) & splits["role"].isin(cfg["roles"])][["patient_key", "role"]]
    rows = samples.merge(roles, on="patient_key").sort_values("sample_id").reset_index(drop=True)
    ckpt = Path(predictions_path).parent / "checkpoints" / "best.ckpt"
    preds = pd.read_parquet(predictions_path, columns=["checkpoint_sha256"])
    sha = weights_sha256(ckpt)
    if len(preds) and sha != preds["checkpoint_sha256"].iloc[0]:
        raise RuntimeError(f"{ckpt}: weights sha256 {sha[:12]} differ from the evaluated ones in {predictions_path} "
                           f"({preds['checkpoint_sha256'].iloc[0][:12]}); rerun training of fold {fold}")
    representation = samples["representation"].iloc[0]
    shape = tuple(int(s) for s in samples["shape"].iloc[0])
    model = load_model(ckpt, train_cfg, shape, len(names), representation)
    with np.load(normalisation_path) as z:
        mean = z[f"fold{fold}_mean"] if f"fold{fold}_mean" in z.files else None
        sd = float(z[f"fold{fold}_sd"]) if f"fold{fold}_sd" in z.files else 1.0
    clip = representation == "clip"
    torch.manual_seed(cslice["seed"] + fold)
    ds = SampleDataset(rows, names if task == "classification" else None, mean, sd, None, cslice["seed"], clip)
    black = black_input(mean, sd, clip)
    example = ds[0][0][None] if len(ds) else torch.zeros((1, 1, *shape) if clip else (1, *shape))
    device = attribution_device(train_cfg)
    fa = FoldAttribution(model.to(device), task, names, cfg, example.to(device), None if black is None else black.to(device))
    log.info("attribute %s fold %d on %s: %d samples of roles %s, methods %s, layers %s", cslice["study"], fold, device,
             len(rows), cfg["roles"], cfg["methods"], fa.layer_names)
    out = Path(out_dir)
    table = attribute_samples(fa, ds, rows, representation, bool(train_cfg.get("dual_input")), cfg["batch_size"], device, out)
    meta = rows.set_index("sample_id")
    recordings = read_table(recordings_path, RECORDINGS)
    mk = markers(recordings[recordings["recording_id"].isin(rows["recording_id"])])
    if len(table):
        m = meta.loc[table["sample_id"]]
        table = table.assign(study=cslice["study"], fold=fold, role=m["role"].values, recording_id=m["recording_id"].values,
                             patient_key=m["patient_key"].values, label=m["label"].values, map_path=str(out / "maps.npy"),
                             map_axes=["input," + a.split(",", 1)[1] if not clip else a for a in m["axes"]],
                             spacing=list(m["spacing"].values), pointing_roi="&".join(cfg["pointing_roi"]),
                             marker=[mk.get(r) for r in m["recording_id"]], checkpoint_sha256=sha)
    # Sanity check on a fixed, seeded subset of the samples.
    n = min(cfg["sanity"]["samples"], len(ds))
    sanity = pd.DataFrame(columns=SANITY.names)
    if n:
        pick = np.sort(np.random.default_rng([cslice["seed"], fold, 7]).permutation(len(ds))[:n])
        x = torch.stack([ds[int(i)][0] for i in pick]).to(device)
        sanity = sanity_check(fa, x, cslice["seed"] + fold, visible_input(rows.iloc[pick]))
        sanity = sanity.assign(study=cslice["study"], fold=fold, sample_id=np.tile(rows["sample_id"].values[pick], len(cfg["methods"])),
                               randomisation="full", checkpoint_sha256=sha)
        for method, g in sanity.groupby("method", sort=True):
            log.info("sanity %s fold %d %s: median Spearman trained vs randomised %.3f, %d of %d map pairs degenerate (constant)",
                     cslice["study"], fold, method, g["spearman"].median(), int(g["spearman"].isna().sum()), len(g))
    # The checkpoint is recorded by its weights hash (extra), not its file hash: Lightning writes
    # absolute paths into the file, so the same weights in two run folders hash differently.
    inputs = provenance.describe_inputs([samples_path, splits_path, normalisation_path, predictions_path, recordings_path,
                                         out / "maps.npy", out / "raw_maps.npy"])
    extra = {"checkpoint": str(ckpt), "checkpoint_weights_sha256": sha, "layers": fa.layer_names}
    write_table(sanity.reindex(columns=SANITY.names), out / "sanity.parquet", SANITY, provenance.build(rule, inputs, cslice, extra))
    write_table(table.reindex(columns=ATTRIBUTION.names), out / "attribution.parquet", ATTRIBUTION,
                provenance.build(rule, inputs, cslice, extra))



def black_input(mean: np.ndarray | None, sd: float, clip: bool):
    """The all-black input after mean-image normalisation (the baseline of path methods), shaped
    like one sample (a channel axis added for clips), a tensor; None without mean-image subtraction."""
    import torch

    if mean is None or not mean.size:
        return None
    black = torch.as_tensor(-np.asarray(mean, np.float32) / sd)
    return black[None] if clip else black


def shard_rows(rows: pd.DataFrame, column: str) -> list[np.ndarray]:
    """The arrays of ``rows`` in the shards named by ``column`` (``array_path``, ``roi_path``) at
    their ``array_index``, one per row, each shard memory-mapped once."""
    shards: dict[str, np.ndarray] = {}
    out = []
    for path, idx in zip(rows[column], rows["array_index"]):
        if path not in shards:
            shards[path] = np.load(path, mmap_mode="r")
        out.append(np.asarray(shards[path][int(idx)]))
    return out


def visible_input(rows: pd.DataFrame) -> list[np.ndarray]:
    """Per row, True where its prepared array is not black: exactly 0, what ``background_mm``
    writes, and also any pixel of the image that is 0 (air, a clipped blood pool)."""
    return [a != 0 for a in shard_rows(rows, "array_path")]


def attribute_samples(fa, ds, rows: pd.DataFrame, representation: str, dual_input: bool,
                      batch_size: int, device, out: Path) -> pd.DataFrame:
    """Attribute every sample of ``ds`` (rows of the samples table, with their ROI shards) with
    ``fa`` (a :class:`~cardiolens.attribute.run.FoldAttribution`), write ``maps.npy`` and
    ``raw_maps.npy`` under ``out`` and return the attribution rows of
    :func:`~cardiolens.attribute.run.run_fold` (the caller adds study, fold and provenance)."""
    from torch.utils.data import DataLoader

    from cardiolens.attribute.run import run_fold

    rois = shard_rows(rows, "roi_path")
    visible = visible_input(rows)
    loader = ((x.to(device), y.to(device)) for x, y in DataLoader(ds, batch_size=batch_size, shuffle=False))
    table, maps, raw = run_fold(fa, loader, rows, rois, representation, dual_input, visible)
    out.mkdir(parents=True, exist_ok=True)
    save_array(maps, out / "maps.npy")
    save_array(raw, out / "raw_maps.npy")
    return table


def summarise(table: pd.DataFrame, sanity: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per method and target kind: rates and means for all maps, correct/incorrect, each class,
    and marker / no-marker samples (synthetic ground truth). The sanity columns are the method's
    :func:`~cardiolens.attribute.sanity.sanity_verdict` over all folds: degenerate (constant) maps
    count as failures, so a method whose maps are all constant fails."""
    from cardiolens.attribute.sanity import sanity_verdict

    verdicts = {m: sanity_verdict(pd.to_numeric(g["spearman"], errors="coerce").to_numpy(float), threshold)
                for m, g in sanity.groupby("method", sort=True)} if len(sanity) else {}
    out = []
    for (study, method, kind), g in table.groupby(["study", "method", "target_kind"], sort=True):
        groups = [("all", g)]
        if g["correct"].notna().any():
            groups += [("correct", g[g["correct"] == True]), ("incorrect", g[g["correct"] == False])]  # noqa: E712
        groups += [(f"class={c}", g[g["label"] == c]) for c in sorted(g["label"].unique())]
        if g["marker"].notna().any():
            groups += [("marker", g[g["marker"] == True]), ("no_marker", g[g["marker"] == False])]  # noqa: E712
        for name, s in groups:
            oh, ph = s["outside_heart"].dropna(), s["pointing_hit"].dropna()
            rho, passed = verdicts.get(method, (None, None))
            out.append({"study": study, "method": method, "target_kind": kind, "group": name, "n": len(s),
                        "outside_heart_rate": float(oh.mean()) if len(oh) else None,
                        "pointing_hit_rate": float(ph.mean()) if len(ph) else None,
                        "mass_heart_mean": float(s["mass_heart"].mean()) if s["mass_heart"].notna().any() else None,
                        "mass_heart_sd": float(s["mass_heart"].std()) if s["mass_heart"].notna().sum() > 1 else None,
                        "deletion_auc_mean": float(s["deletion_auc"].mean()) if len(s) else None,
                        "insertion_auc_mean": float(s["insertion_auc"].mean()) if len(s) else None,
                        "sanity_spearman_median": rho, "sanity_passed": passed})
    return pd.DataFrame(out, columns=ATTRIBUTION_SUMMARY.names)


def shortcut_warnings(summary: pd.DataFrame, rate: float = 0.5) -> list[str]:
    """Plain-language lines: groups whose maps mostly look outside the heart (job log and results summary)."""
    lines = []
    for _, r in summary[summary["group"].isin(["all", "marker", "correct"])].iterrows():
        if r["outside_heart_rate"] is not None and pd.notna(r["outside_heart_rate"]) and r["outside_heart_rate"] >= rate:
            lines.append(f"{r['study']} {r['method']} ({r['target_kind']}), group {r['group']}: "
                         f"{r['outside_heart_rate']:.0%} of {r['n']} maps attend outside the heart - possible shortcut")
    return lines


def merge(fold_dirs: list[str], samples_path: str, out_dir: str, cslice: dict[str, Any], rule: str = "attribute_merge") -> None:
    from cardiolens.attribute.figures import galleries

    out = Path(out_dir)
    table = pd.concat([read_table(Path(d) / "attribution.parquet", ATTRIBUTION) for d in fold_dirs], ignore_index=True)
    sanity = pd.concat([read_table(Path(d) / "sanity.parquet", SANITY) for d in fold_dirs], ignore_index=True)
    cfg = cslice["attribute"]
    summary = summarise(table, sanity, cfg["sanity"]["threshold"])
    for line in shortcut_warnings(summary, cfg["outside_heart"]["threshold"]):
        log.info(line)  # a finding, carried to results/summary.parquet's warnings and printed at the end of the run
    for _, r in summary[summary["group"] == "all"].iterrows():
        log.info("%s %s (%s): n %d, outside-heart %.2f, pointing %.2f, deletion %.3f, insertion %.3f, sanity rho %.3f",
                 r["study"], r["method"], r["target_kind"], r["n"], *(float("nan") if r[k] is None else r[k] for k in
                 ("outside_heart_rate", "pointing_hit_rate", "deletion_auc_mean", "insertion_auc_mean", "sanity_spearman_median")))
    inputs = provenance.describe_inputs([samples_path] + [str(Path(d) / f) for d in fold_dirs
                                                          for f in ("attribution.parquet", "sanity.parquet", "maps.npy", "raw_maps.npy")])
    figures = galleries(table, read_table(samples_path, SAMPLES), out / "figures", cfg)
    extra = {"figures": [str(f) for f in figures]}
    write_table(table.reindex(columns=ATTRIBUTION.names), out / "attribution.parquet", ATTRIBUTION,
                provenance.build(rule, inputs, cslice, extra))
    write_table(sanity.reindex(columns=SANITY.names), out / "sanity.parquet", SANITY, provenance.build(rule, inputs, cslice))
    write_table(summary, out / "summary.parquet", ATTRIBUTION_SUMMARY, provenance.build(rule, inputs, cslice, extra))
