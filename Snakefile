# cardiolens: reproducible, explainable deep learning for cardiac imaging studies.
# Stages so far: synth (when cohort.source is synthetic) -> ingest -> prepare -> split -> train -> attribute -> stats
# (snakemake --report results/report.html builds the report). See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/attribute.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/stats.smk"


rule all:
    default_target: True
    input:
        all_targets(),
