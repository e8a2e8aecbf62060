"""The one partitioning of the pipeline: a dynamic partition per video."""

from dagster import DynamicPartitionsDefinition

videos = DynamicPartitionsDefinition(name="videos")
