rule stats_study:
    """Performance with patient-bootstrap CIs, confusion, subgroups, Table 1, attribution group
    comparisons and (study 4) regional image quality of one study; figures from those tables.
    """
    input:
        predictions=rules.train_merge.output.predictions,
        patient_predictions=rules.train_merge.output.patients,
        patients="results/ingest/patients.parquet",
        recordings=RECORDINGS,
        samples=rules.prepare_study.output.samples,
        attribution=lambda wildcards: (
            f"results/attribute/{wildcards.study}/attribution.parquet"
            if config["studies"][wildcards.study]["attribute"]["enabled"]
            else []
        ),
    output:
        performance="results/stats/{study}/performance.parquet",
        confusion="results/stats/{study}/confusion.parquet",
        subgroups="results/stats/{study}/subgroups.parquet",
        cohort="results/stats/{study}/cohort.parquet",
        page=report(
            "results/stats/{study}/tables.html",
            caption="../report/stats_tables.rst",
            category="Tables",
            subcategory="{study}",
        ),
        figures=report(
            directory("results/stats/{study}/figures"),
            patterns=["{name}.png"],
            caption="../report/stats_figures.rst",
            category="Study statistics",
            subcategory="{study}",
        ),
    log:
        "results/logs/stats_study/{study}.log",
    benchmark:
        "results/benchmarks/stats_study/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
        gpu=0,
    params:
        code=stage_code_hash(
            "stats",
            "plotting.py",
            "prepare/clips.py",
            "prepare/landmarks.py",
            "ingest/sector.py",
        ),
        slice=lambda wildcards: stats_params(wildcards.study),
    script:
        "../scripts/stats_study.py"


rule stats_motion:
    """Per patient: how each A4C segment moved and where the network looked (base/apex saliency);
    the motion measures compared between classes; figures and a page with the group table.
    """
    input:
        motion="results/measure/{study}/motion.parquet",
        attribution=lambda wildcards: (
            f"results/attribute/{wildcards.study}/attribution.parquet"
            if config["studies"][wildcards.study]["attribute"]["enabled"]
            else []
        ),
    output:
        patients="results/stats/{study}/motion_patients.parquet",
        groups="results/stats/{study}/motion_groups.parquet",
        page=report(
            "results/stats/{study}/motion.html",
            caption="../report/stats_motion.rst",
            category="Motion",
            subcategory="{study}",
        ),
        figures=report(
            directory("results/stats/{study}/motion_figures"),
            patterns=["{name}.png"],
            caption="../report/stats_motion_figures.rst",
            category="Motion",
            subcategory="{study}",
        ),
    log:
        "results/logs/stats_motion/{study}.log",
    benchmark:
        "results/benchmarks/stats_motion/{study}.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    params:
        code=stage_code_hash("stats", "plotting.py", "measure/wall.py"),
        slice=lambda wildcards: motion_stats_params(wildcards.study),
    script:
        "../scripts/stats_motion.py"


rule stats_comparisons:
    """Declared paired model comparisons (stats.comparisons): McNemar and DeLong."""
    input:
        unpack(comparison_inputs),
    output:
        table="results/stats/comparisons.parquet",
    log:
        "results/logs/stats_comparisons.log",
    benchmark:
        "results/benchmarks/stats_comparisons.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    params:
        code=stage_code_hash(
            "stats", "plotting.py", "prepare/clips.py", "prepare/landmarks.py"
        ),
        comparisons=config["stats"]["comparisons"],
        roles=config["stats"]["roles"],
        confidence=config["stats"]["bootstrap"]["confidence"],
    script:
        "../scripts/stats_comparisons.py"


rule stats_provenance:
    """The configuration and the provenance of every table, as a page of the report."""
    input:
        tables=provenance_tables,
    output:
        page=report(
            "results/stats/provenance.html",
            caption="../report/provenance.rst",
            category="Configuration and provenance",
        ),
    log:
        "results/logs/stats_provenance.log",
    benchmark:
        "results/benchmarks/stats_provenance.tsv"
    conda:
        "../../envs/cardiolens.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
        gpu=0,
    params:
        code=stage_code_hash(
            "stats", "plotting.py", "prepare/clips.py", "prepare/landmarks.py"
        ),
    script:
        "../scripts/stats_provenance.py"
