"""Snakemake adapter: motion joined with the saliency and compared between classes (one study)."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.stats.stage import run_motion


def main(smk) -> None:
    with log_to(smk.log[0]):
        attribution = smk.input.attribution if smk.input.attribution else None
        run_motion(smk.input.motion, attribution, str(Path(smk.output.patients).parent), smk.params.slice, rule=smk.rule)


main(snakemake)  # noqa: F821
