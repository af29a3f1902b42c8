rule attribute_fold:
    """Captum maps of one fold's best checkpoint, measured against the ROIs, plus the sanity check."""
    input:
        samples=rules.prepare_study.output.samples,
        splits=rules.split_study.output.splits,
        normalisation=rules.split_study.output.normalisation,
        predictions=rules.train_fold.output.predictions,
        recordings=RECORDINGS,
    output:
        table="results/attribute/{study}/fold{fold}/attribution.parquet",
        sanity="results/attribute/{study}/fold{fold}/sanity.parquet",
        maps="results/attribute/{study}/fold{fold}/maps.npy",
        raw="results/attribute/{study}/fold{fold}/raw_maps.npy",
    log:
        "results/logs/attribute_fold/{study}/fold{fold}.log",
    benchmark:
        "results/benchmarks/attribute_fold/{study}/fold{fold}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    # One thread: most of a job is start-up and small batches, so two jobs side by side use two
    # cores better than one job with two threads (default run: docs/benchmarks.md).
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=lambda wildcards: train_gpus(wildcards.study),
    params:
        code=stage_code_hash("attribute", "train"),
        slice=lambda wildcards: attribute_params(wildcards.study),
    script:
        "../scripts/attribute_fold.py"


rule attribute_merge:
    """All folds of one study: attribution and sanity tables, summary, galleries."""
    input:
        samples=rules.prepare_study.output.samples,
        folds=lambda wildcards: expand(
            "results/attribute/{study}/fold{fold}/{f}",
            study=wildcards.study,
            fold=folds_of(config, wildcards.study),
            f=["attribution.parquet", "sanity.parquet", "maps.npy", "raw_maps.npy"],
        ),
    output:
        table="results/attribute/{study}/attribution.parquet",
        sanity="results/attribute/{study}/sanity.parquet",
        summary="results/attribute/{study}/summary.parquet",
        figures=report(
            directory("results/attribute/{study}/figures"),
            patterns=["{name}.png"],
            caption="../report/attribute_figures.rst",
            category="Attribution",
            subcategory="{study}",
        ),
    log:
        "results/logs/attribute_merge/{study}.log",
    benchmark:
        "results/benchmarks/attribute_merge/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    params:
        code=stage_code_hash("attribute", "plotting.py"),
        slice=lambda wildcards: attribute_params(wildcards.study),
    script:
        "../scripts/attribute_merge.py"
