rule split_study:
    """Patient-level splits of one study, with the leakage audit and the balance report."""
    input:
        samples=rules.prepare_study.output.samples,
        patients=rules.ingest_merge.output.patients,
        recordings=RECORDINGS,
    output:
        splits="results/split/{study}/splits.parquet",
        leakage="results/split/{study}/leakage.parquet",
        balance="results/split/{study}/balance.parquet",
        normalisation="results/split/{study}/normalisation.npz",
    log:
        "results/logs/split_study/{study}.log",
    benchmark:
        "results/benchmarks/split_study/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        gpu=0,
    params:
        code=stage_code_hash("split"),
        slice=lambda wildcards: split_params(wildcards.study),
    script:
        "../scripts/split_study.py"
