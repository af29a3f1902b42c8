"""Entry points of the ingest stage with files at the edges (used by Snakemake and the CLI)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens import config as cfgmod
from cardiolens import provenance
from cardiolens.ingest import private
from cardiolens.ingest.stage import ingest_source, merge_sources
from cardiolens.privacy import key_fingerprint
from cardiolens.tables import read_provenance, read_table, write_table
from cardiolens.tables.registry import PATIENTS, RECORDINGS, REJECTED

log = logging.getLogger(__name__)

TABLES = {"recordings": RECORDINGS, "patients": PATIENTS, "rejected": REJECTED}


def source_slice(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The configuration an ingested source depends on (the key itself is never included)."""
    return {
        "source": cfgmod.source_by_name(config, name),
        # Worker count and reuse do not change any output, so they are left out (changing them reruns nothing).
        "ingest": {k: v for k, v in config["ingest"].items() if k not in ("threads", "reuse")},
        "privacy": {"key_env": config["privacy"]["key_env"]},
    }


def run_source(config: dict[str, Any], name: str, out_dir: str, rule: str = "ingest_source") -> dict[str, Path]:
    """Ingest source ``name`` into ``out_dir`` (data/ and the three tables).

    The tables and their provenance identify files by path key and sha256; the real paths go to
    ``<privacy.private_dir>/<name>/paths.csv`` (returned as ``out["paths"]``), outside results/.
    """
    key = cfgmod.pseudonym_key(config)
    source = cfgmod.source_by_name(config, name)
    res = ingest_source(source, key, out_dir, workers=config["ingest"]["threads"], max_age=config["ingest"]["max_age_years"],
                        reuse_store=config["ingest"]["reuse"])
    cslice = source_slice(config, name)
    extra = {"files_found": res.n_files, "key_fingerprint": key_fingerprint(key)}
    out = {}
    for table_name, df in (("recordings", res.recordings), ("patients", res.patients), ("rejected", res.rejected)):
        prov = provenance.build(rule, res.inputs, cslice, extra)
        out[table_name] = write_table(df, Path(out_dir) / f"{table_name}.parquet", TABLES[table_name], prov)
    out["paths"] = private.write_paths(config["privacy"]["private_dir"], name, res.paths)
    log.info("ingest %s: real paths of the %d path keys written to %s (for the data owner only)", name, len(res.paths),
             out["paths"])
    return out


def run_merge(source_dirs: list[str], out_dir: str, config_slice: dict[str, Any], rule: str = "ingest_merge") -> dict[str, Path]:
    """Merge per-source tables into ``out_dir``/{recordings,patients,rejected}.parquet."""
    parts: dict[str, list[pd.DataFrame]] = {k: [] for k in TABLES}
    inputs = []
    hashes: dict[tuple[str, str], str] = {}
    for d in source_dirs:
        for table_name, schema in TABLES.items():
            path = Path(d) / f"{table_name}.parquet"
            parts[table_name].append(read_table(path, schema))
            inputs.append(str(path))
        prov = read_provenance(Path(d) / "recordings.parquet")
        root = str(Path(prov["config"]["slice"]["source"]["path"]))
        for entry in prov["inputs"]:
            if entry.get("root") == root:  # files of the source itself, by path key (as rejected.path)
                hashes[(prov["config"]["slice"]["source"]["name"], entry["path_key"])] = entry["sha256"]
    rec, pat, rej = merge_sources(parts["recordings"], parts["patients"], parts["rejected"])
    missing = rej["sha256"] == ""
    rej.loc[missing, "sha256"] = [hashes.get((s, p), "") for s, p in zip(rej.loc[missing, "source"], rej.loc[missing, "path"])]
    prov_inputs = provenance.describe_inputs(inputs)
    out = {}
    for table_name, df in (("recordings", rec), ("patients", pat), ("rejected", rej)):
        prov = provenance.build(rule, prov_inputs, config_slice, {"sources": [Path(d).name for d in source_dirs]})
        out[table_name] = write_table(df, Path(out_dir) / f"{table_name}.parquet", TABLES[table_name], prov)
    log.info("ingest: %d recordings, %d patients, %d rejected files", len(rec), len(pat), len(rej))
    return out
