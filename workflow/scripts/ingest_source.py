"""Snakemake adapter: ingest one input source."""

from pathlib import Path

from cardiolens.ingest.run import run_source
from cardiolens.logs import log_to


def main(smk) -> None:
    with log_to(smk.log[0]):
        config = {**smk.config, "ingest": {**smk.config["ingest"], "threads": smk.threads}}
        run_source(config, smk.wildcards.source, str(Path(smk.output.recordings).parent), rule=smk.rule)


main(snakemake)  # noqa: F821
