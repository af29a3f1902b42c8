"""Snakemake adapter: the results summary and the report's front page."""

from cardiolens.logs import log_to
from cardiolens.summary import run_summary


def main(smk) -> None:
    with log_to(smk.log[0]):
        studies = smk.params.studies
        kinds = ("performance", "attribution", "maps", "balance", "splits", "indices_performance", "combined_performance")
        files = {s: {k: (smk.input.get(f"{s}__{k}") or None) for k in kinds} for s in studies}
        run_summary(studies, files, smk.params.role, smk.output.table, smk.output.page, smk.input.intro, rule=smk.rule,
                    rejected_path=smk.input.rejected)


main(snakemake)  # noqa: F821
