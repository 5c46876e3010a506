"""Synchronization by pose: SynNet (model, heatmaps, data, train, evaluate, matcher), training-free
baselines, and the ``align`` stage. Modules are imported on use; nothing heavy loads here."""
