"""The train stage (in progress): networks, DataModule, LightningModule and a resumable fold trainer;
the Snakemake rule, history/predictions tables and the accuracy targets of issue 6 follow."""
