"""Dagster resources: model store, GPU/memory guard, media store."""

from resources.gpu import GpuResource
from resources.media_store import MediaStore
from resources.models import ModelStore

__all__ = ["GpuResource", "MediaStore", "ModelStore"]
