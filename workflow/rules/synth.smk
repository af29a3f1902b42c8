rule synth_cohort:
    """Generate the synthetic DICOM cohort (cardiolens synth) when cohort.source is synthetic."""
    output:
        dicom=directory(f"{config['cohort']['synthetic']['outdir']}/dicom"),
        truth=directory(f"{config['cohort']['synthetic']['outdir']}/truth"),
        clinical=f"{config['cohort']['synthetic']['outdir']}/clinical.csv",
        manifest=f"{config['cohort']['synthetic']['outdir']}/manifest.json",
    log:
        "results/logs/synth_cohort.log",
    benchmark:
        "results/benchmarks/synth_cohort.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=0,
    params:
        code=stage_code_hash("synth", "ingest/truth.py", "labels.py", shared=False),
        synthetic=config["cohort"]["synthetic"],
        seed=config["seed"],
    script:
        "../scripts/synth_cohort.py"
