"""Dagster resources: model store (models.py), GPU/memory guard (gpu.py over device.py),
media store (media_store.py). Import the modules directly; this package imports nothing so
that resources.device stays usable without Dagster."""
