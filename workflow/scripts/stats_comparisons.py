"""Snakemake adapter: declared model comparisons."""

from cardiolens.logs import log_to
from cardiolens.stats.stage import run_comparisons


def main(smk) -> None:
    with log_to(smk.log[0]):
        files = {}
        for c in smk.params.comparisons:
            for study in (c["a"], c["b"]):
                files[study] = {level: smk.input[f"{study}_{level}"] for level in ("sample", "patient")}
        run_comparisons(smk.params.comparisons, files, smk.output.table, smk.params.roles, rule=smk.rule,
                        confidence=smk.params.confidence)


main(snakemake)  # noqa: F821
