"""Model bundles of trained folds and ``cardiolens predict`` (prediction on new recordings)."""
