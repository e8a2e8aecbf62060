"""The Dagster layer: wiring only, no model code."""
