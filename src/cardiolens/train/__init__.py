"""The train stage (in progress): networks first; the DataModule, LightningModule and rules follow."""
