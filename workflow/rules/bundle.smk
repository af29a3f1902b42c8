rule bundle_fold:
    """A trained fold as a self-contained, relocatable model bundle (weights, configuration,
    normalisation, metrics, model card, manifest); `cardiolens predict` applies it."""
    input:
        samples=rules.prepare_study.output.samples,
        splits=rules.split_study.output.splits,
        normalisation=rules.split_study.output.normalisation,
        history=rules.train_fold.output.history,
        predictions=rules.train_fold.output.predictions,
    output:
        bundle=directory("results/train/{study}/fold{fold}/bundle"),
    log:
        "results/logs/bundle_fold/{study}/fold{fold}.log",
    benchmark:
        "results/benchmarks/bundle_fold/{study}/fold{fold}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    params:
        code=stage_code_hash("predict", "prepare", "train"),
        slice=lambda wildcards: bundle_params(wildcards.study),
    script:
        "../scripts/bundle_fold.py"
