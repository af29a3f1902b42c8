"""Snakemake adapter: generate the synthetic cohort."""

from pathlib import Path

from cardiolens.logs import log_to
from cardiolens.synth.generate import generate


def main(smk) -> None:
    with log_to(smk.log[0]):
        outdir = Path(smk.output.manifest).parent
        generate(smk.params.synthetic, smk.params.seed, outdir, workers=smk.threads)


main(snakemake)  # noqa: F821
