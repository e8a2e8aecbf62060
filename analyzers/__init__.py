"""Per-second video analyzers. No dagster import anywhere in this package."""
