"""Per-card features: the table of features, the per-card steps, the window kernel and memories."""
