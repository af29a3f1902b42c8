"""Snakemake adapter: the configuration and provenance page of the report."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.stats.pages import provenance_page


def main(smk) -> None:
    with log_to(smk.log[0]):
        provenance_page(Path(smk.output.page), dict(smk.config), list(smk.input.tables))


main(snakemake)  # noqa: F821
