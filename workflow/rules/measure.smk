rule measure_motion:
    """Regional motion of one study's echo recordings: A4C segments tracked over one cycle."""
    input:
        recordings=RECORDINGS,
        data=expand("results/ingest/{source}/data", source=list(SOURCES)),
    output:
        motion="results/measure/{study}/motion.parquet",
    log:
        "results/logs/measure_motion/{study}.log",
    benchmark:
        "results/benchmarks/measure_motion/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: lambda wildcards: config["studies"][wildcards.study]["motion"]["threads"]
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=0,
    params:
        code=stage_code_hash(
            "measure",
            "prepare/landmarks.py",
            "prepare/resample.py",
            "prepare/select.py",
        ),
        slice=lambda wildcards: motion_params(wildcards.study),
    script:
        "../scripts/measure_motion.py"
