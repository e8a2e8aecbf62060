"""The four GPU-pool stage assets, generated from the analyzer registry.

One ``@multi_asset`` per stage with one AssetSpec per registered analyzer. The stage op
loads one video's media once and runs its selected analyzers one after another (load,
analyze, validate, unload), holding the ``gpu`` pool slot for the whole stage. An
analyzer that raises does not lose the others: its error is recorded, the rest finish,
then the op fails naming the failures so a retry picks up exactly what is missing.
"""

import logging
import os
import time
import tomllib
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    AssetSpec,
    Failure,
    Field,
    MetadataValue,
    Output,
    Permissive,
    multi_asset,
)

from analyzers.core import Analyzer, validate
from analyzers.core.registry import by_stage
from resources.gpu import GpuResource
from resources.media_store import MediaStore
from resources.models import ModelStore
from tiktok_assets.ingest import media_dep_keys
from tiktok_assets.measure import GpuSampler, log_event, nvml_reader, progress
from tiktok_assets.partitions import videos
from tiktok_assets.pool_guard import POOL, mark_worker


def file_overrides() -> dict[str, dict[str, Any]]:
    """Per-analyzer Config overrides from the TOML file named by TIKTOK_ANALYZER_CONFIG
    (``[color_analysis]`` then ``k = 3``)."""
    path = os.environ.get("TIKTOK_ANALYZER_CONFIG")
    if not path:
        return {}
    return tomllib.loads(Path(path).read_text())


def _spec(cls: type[Analyzer], stage: str) -> AssetSpec:
    return AssetSpec(
        key=cls.name,
        group_name=stage,
        description=(cls.__doc__ or cls.name).strip(),
        code_version=cls.version,
        kinds={"parquet"},
        metadata={"analyzer_version": cls.version, "model": cls.model, "modality": cls.modality},
    )


def _run_one(
    cls: type[Analyzer],
    overrides: Mapping[str, Any],
    media: Any,
    device: str,
    model_store: ModelStore,
) -> tuple[Any, dict[str, Any]]:
    t0 = time.perf_counter()
    config = cls.make_config(overrides)
    analyzer = cls()
    analyzer.load(device, model_store)
    t_load = time.perf_counter() - t0
    try:
        raw = analyzer.analyze(media, config)
    finally:
        mode = analyzer.weights_mode
        analyzer.unload()
    table = validate(
        raw,
        analyzer=cls.name,
        output_schema=cls.output_schema,
        video_id=media.video_id,
        n_seconds=media.n_seconds,
    )
    wall = time.perf_counter() - t0
    return table, {
        "rows": table.num_rows,
        "seconds": media.n_seconds,
        "model": cls.model,
        "weights_mode": mode,
        "device": device,
        "analyzer_version": cls.version,
        "wall_time_s": round(wall, 3),
        "load_time_s": round(t_load, 3),
        "x_realtime": round(media.duration_s / wall, 2) if wall > 0 else None,
        "config": MetadataValue.json({k: getattr(config, k) for k in config.__dataclass_fields__}),
    }


def build_stage_asset(
    stage: str, classes: list[type[Analyzer]], upstream: list[str]
) -> AssetsDefinition:
    """The multi-asset of one stage. ``upstream``: asset keys every spec depends on (the
    decoded media, and the previous stage's analyzers so stages keep their order)."""
    outs = {
        cls.name: AssetOut.from_spec(_spec(cls, stage), dagster_type=Any, is_required=False)
        for cls in classes
    }
    by_name = {cls.name: cls for cls in classes}

    @multi_asset(
        name=stage,
        outs=outs,
        deps=upstream,
        partitions_def=videos,
        can_subset=True,
        pool=POOL,
        config_schema={"analyzers": Field(Permissive(), is_required=False, default_value={})},
        description=f"{stage}: {', '.join(by_name)} (holds the `{POOL}` pool slot)",
    )
    def _stage(
        context: AssetExecutionContext,
        media_store: MediaStore,
        model_store: ModelStore,
        gpu: GpuResource,
    ) -> Iterator[Output[Any]]:
        key = context.partition_key
        mark_worker(context.instance, context.run_id)  # for the reaper
        selected = [n for n in by_name if AssetKey(n) in context.selected_asset_keys]
        overrides = file_overrides()
        for name, values in (
            (context.op_execution_context.op_config or {}).get("analyzers", {}).items()
        ):
            overrides.setdefault(name, {}).update(values)
        media = media_store.load_media(key)
        failures: dict[str, str] = {}
        progress(context, f"{stage}: {len(selected)} analyzer(s) on {media.n_seconds} s")
        with gpu.stage(owner=f"{context.run_id} {stage} {key}") as dev:
            progress(None, f"{stage}: on {dev.device} (lease {dev.lease})")
            reader = nvml_reader(dev.device)
            for name in selected:
                try:
                    with GpuSampler(reader) as sampler:
                        table, meta = _run_one(
                            by_name[name], overrides.get(name, {}), media, dev.device, model_store
                        )
                except Exception as exc:
                    failures[name] = f"{type(exc).__name__}: {exc}"
                    context.log.error(f"{name} failed on {key}:\n{traceback.format_exc()}")
                    progress(None, f"  {name}: FAILED ({failures[name]})")
                    log_event(
                        context,
                        "analyzer_failed",
                        level=logging.ERROR,
                        analyzer=name,
                        error=failures[name],
                    )
                    continue
                meta["peak_memory_mb"] = round(dev.current_peak_mb(), 1)
                meta["memory_kind"] = dev.memory_kind
                meta["device_lease"] = dev.lease
                meta.update(sampler.summary())
                log_event(
                    context,
                    "analyzer_done",
                    analyzer=name,
                    **{k: v for k, v in meta.items() if isinstance(v, str | int | float)},
                )
                progress(
                    None,
                    f"  {name}: {meta['rows']} rows, {meta['wall_time_s']:.2f} s, "
                    f"weights={meta['weights_mode']}",
                )
                yield Output(table, output_name=name, metadata=meta)
        if failures:
            raise Failure(
                description=f"{stage}: {len(failures)} analyzer(s) failed: "
                + "; ".join(f"{k}: {v}" for k, v in failures.items()),
                metadata={k: MetadataValue.text(v) for k, v in failures.items()},
            )

    return _stage


def build_stage_assets() -> list[AssetsDefinition]:
    """One multi-asset per stage that has registered analyzers, each after the one before."""
    out: list[AssetsDefinition] = []
    upstream = media_dep_keys()
    for stage, classes in by_stage().items():
        out.append(build_stage_asset(stage, classes, list(upstream)))
        upstream = [*media_dep_keys(), *(cls.name for cls in classes)]
    return out
