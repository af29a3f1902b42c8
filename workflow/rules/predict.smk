# `cardiolens predict`: a model bundle (predict.bundle) applied to new recordings. The run's
# configuration (written by the command) holds one study with the bundle's settings; ingest and
# prepare are the rules above, the targets are these rules' outputs (all_targets): predictions,
# attribution, and the scores of the recordings that carry a label of the bundle's classes.


rule predict_study:
    """Predictions of the bundle's network for every sample of the new recordings (role test)."""
    input:
        samples=rules.prepare_study.output.samples,
        manifest=f"{PREDICT_BUNDLE}/manifest.json" if PREDICT_BUNDLE else [],
    output:
        predictions="results/predict/{study}/predictions.parquet",
        patients="results/predict/{study}/patient_predictions.parquet",
    log:
        "results/logs/predict_study/{study}.log",
    benchmark:
        "results/benchmarks/predict_study/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
    params:
        code=stage_code_hash("predict", "train"),
        bundle=PREDICT_BUNDLE,
    script:
        "../scripts/predict_study.py"


rule predict_attribute:
    """Captum maps of the bundle's network on the predicted samples, measured against their ROIs."""
    input:
        samples=rules.prepare_study.output.samples,
        predictions=rules.predict_study.output.predictions,
        recordings=RECORDINGS,
        manifest=f"{PREDICT_BUNDLE}/manifest.json" if PREDICT_BUNDLE else [],
    output:
        table="results/predict/{study}/attribution.parquet",
        maps="results/predict/{study}/maps.npy",
        raw="results/predict/{study}/raw_maps.npy",
    log:
        "results/logs/predict_attribute/{study}.log",
    benchmark:
        "results/benchmarks/predict_attribute/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
    params:
        code=stage_code_hash("predict", "attribute", "train"),
        bundle=PREDICT_BUNDLE,
    script:
        "../scripts/predict_attribute.py"


rule predict_scores:
    """Performance of the bundle on the new recordings that carry a label of its classes
    (external validation): the stats stage's metrics with CIs that count patients, and the
    confusion matrix; unlabelled recordings and other classes are counted, not scored.
    """
    input:
        predictions=rules.predict_study.output.predictions,
        patients=rules.predict_study.output.patients,
    output:
        performance="results/predict/{study}/performance.parquet",
        confusion="results/predict/{study}/confusion.parquet",
    log:
        "results/logs/predict_scores/{study}.log",
    benchmark:
        "results/benchmarks/predict_scores/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
        gpu=0,
    params:
        code=stage_code_hash("predict", "stats"),
        slice=lambda wildcards: stats_params(wildcards.study),
    script:
        "../scripts/predict_scores.py"
