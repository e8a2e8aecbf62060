"""The four GPU-pool stage assets, generated from the analyzer and signal registries.

One ``@multi_asset`` per stage with one output per registered analyzer, plus one per
expensive signal (``Signal.asset``: shot structure, transcript, sound events) in the
stage of its first reader, so the asset graph shows ``speech_rate <- transcript <-
audio_track``. The stage op loads one video's media and, inside its GPU lease and one
``Models`` scope, runs the selected analyzers through the one runner
(``analyzers.core.runner``): each required signal is read from the signal store or
computed once and persisted there, so any process reading it later gets the same
value. The scope is closed (every model released) before the lease ends. An analyzer
that raises does not lose the others: its error is recorded, the rest finish, then the
op fails naming the failures so a retry picks up exactly what is missing.
"""

import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    AssetSpec,
    Failure,
    Field,
    MetadataValue,
    Nothing,
    Output,
    Permissive,
    multi_asset,
)

from analyzers.core import Analyzer, Models, Signal
from analyzers.core.models import cuda_attention_defaults
from analyzers.core.registry import all_signals, by_stage, stage_signals
from analyzers.core.runner import Runner, run_all
from resources.gpu import GpuResource
from resources.media_store import MediaStore
from resources.models import ModelStore
from resources.settings import Settings
from tiktok_assets.measure import GpuSampler, cuda_allocated_mb, log_event, nvml_reader, progress
from tiktok_assets.partitions import videos
from tiktok_assets.pool_guard import POOL, mark_worker
from tiktok_assets.workers import model_cache, warm_stats

MEDIA = {
    "frames": ["segment_frames"],
    "audio": ["audio_track"],
    "both": ["segment_frames", "audio_track"],
}


def _spec(cls: type[Analyzer] | type[Signal], stage: str) -> AssetSpec:
    kind = "signal" if issubclass(cls, Signal) else "parquet"
    return AssetSpec(
        key=cls.name,
        group_name=stage,
        description=(cls.__doc__ or cls.name).strip(),
        code_version=cls.version,
        kinds={kind},
        metadata={"version": cls.version, "model": cls.model, "modality": cls.modality},
    )


def lineage(requires: tuple[str, ...], modality: str) -> set[str]:
    """What an asset reading ``requires`` depends on in the graph: the nearest visible
    signals, and the decoded media the rest read."""
    signals = all_signals()
    out = set(MEDIA[modality])
    todo = list(requires)
    while todo:
        name = todo.pop()
        if signals[name].asset:
            out.add(name)
        else:
            out.update(MEDIA[signals[name].modality])
            todo += list(signals[name].requires)
    return out


def _signal_meta(info: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "key": info["key"],
        "source": info["source"],
        "path": MetadataValue.path(info["path"]),
        "wall_time_s": info["wall_time_s"],
        "weights_mode": info["weights_mode"],
        "config": MetadataValue.json(info["config"]),
    }
    meta.update(info.get("summary", {}))
    return meta


CONTRACT_CHECK = "contract"


def contract_check(cls: type[Analyzer], table: pa.Table, n_seconds: int) -> AssetCheckResult:
    """The ``contract`` check of one analyzer's table (``analyzers.core.schema.check_table``
    with the analyzer's declared ``ranges`` and ``required`` columns)."""
    from analyzers.core.schema import check_table

    found = check_table(table, n_seconds=n_seconds, ranges=cls.ranges, required=cls.required)
    return AssetCheckResult(
        asset_key=AssetKey(cls.name),
        check_name=CONTRACT_CHECK,
        passed=found["passed"],
        metadata={
            "rows": table.num_rows,
            "n_seconds": n_seconds,
            "problems": MetadataValue.md("\n".join(f"- {p}" for p in found["problems"]) or "none"),
            "observed_ranges": MetadataValue.json(found["checked"]),
        },
    )


# Where a stage step runs on each multi-machine executor: on Celery the `gpu` queue's
# workers; on Kubernetes (k8s_job_executor) a pod asking for one GPU, tolerating the GPU
# nodes' taint. Every other step asks for no GPU. Override per deployment through the
# executor's `per_step_k8s_config` (see deploy/helm/values.yaml and docs/deploy.md).
GPU_STEP_K8S_CONFIG: dict[str, Any] = {
    "container_config": {
        "resources": {
            "requests": {"cpu": "4", "memory": "24Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "48Gi", "nvidia.com/gpu": "1"},
        }
    },
    "pod_spec_config": {
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    },
}
STAGE_OP_TAGS: dict[str, Any] = {
    "dagster-celery/queue": "gpu",
    "dagster-k8s/config": GPU_STEP_K8S_CONFIG,
}


def build_stage_asset(
    stage: str,
    classes: list[type[Analyzer]],
    signal_names: list[str],
    upstream: list[str],
) -> AssetsDefinition:
    """The multi-asset of one stage. ``signal_names``: visible signals it computes;
    ``upstream``: the previous stage's assets (stages keep their order on the GPU)."""
    signals = all_signals()
    outs: dict[str, AssetOut] = {
        name: AssetOut.from_spec(
            _spec(signals[name], stage), dagster_type=Nothing, is_required=False
        )
        for name in signal_names
    }
    outs.update(
        {
            cls.name: AssetOut.from_spec(_spec(cls, stage), dagster_type=Any, is_required=False)
            for cls in classes
        }
    )
    # signals carry only their true lineage; the analyzers also wait for the stage before
    # (which orders the ops: one stage's models on the GPU at a time, heavy first)
    internal = {
        name: {AssetKey(k) for k in lineage(signals[name].requires, signals[name].modality)}
        for name in signal_names
    }
    internal.update(
        {
            cls.name: {AssetKey(k) for k in lineage(cls.requires, cls.modality)}
            | {AssetKey(k) for k in upstream}
            for cls in classes
        }
    )
    deps = sorted({k.to_user_string() for ks in internal.values() for k in ks} - set(outs))
    by_name = {cls.name: cls for cls in classes}

    @multi_asset(
        name=stage,
        outs=outs,
        deps=deps,
        internal_asset_deps=internal,
        partitions_def=videos,
        can_subset=True,
        pool=POOL,
        op_tags=STAGE_OP_TAGS,
        config_schema={"analyzers": Field(Permissive(), is_required=False, default_value={})},
        description=f"{stage}: {', '.join([*signal_names, *by_name])} (holds the `{POOL}` pool slot)",
        check_specs=[
            AssetCheckSpec(
                CONTRACT_CHECK,
                asset=cls.name,
                description="one row per second, key and required columns non-null, "
                "values inside the analyzer's declared ranges",
            )
            for cls in classes
        ],
    )
    def _stage(
        context: AssetExecutionContext,
        media_store: MediaStore,
        model_store: ModelStore,
        gpu: GpuResource,
        settings: Settings,
    ) -> Iterator[Output[Any]]:
        key = context.partition_key
        mark_worker(context.instance, context.run_id)  # for the reaper
        selected = [n for n in outs if AssetKey(n) in context.selected_asset_keys]
        op_config = (context.op_execution_context.op_config or {}).get("analyzers", {})
        wrong = sorted(set(op_config) & set(signals))
        if wrong:
            raise Failure(
                f"{wrong} are signals: set them for the whole run (resources.settings.config."
                "analysis, or the TOML file), not per stage, so every reader agrees"
            )
        overrides = settings.overrides(op_config)
        media = media_store.load_media(key)
        failures: dict[str, str] = {}
        progress(context, f"{stage}: {len(selected)} asset(s) on {media.n_seconds} s")
        with gpu.stage(owner=f"{context.run_id} {stage} {key}") as dev:
            progress(None, f"{stage}: on {dev.device} (lease {dev.lease})")
            reader = nvml_reader(dev.device)
            start_mb = cuda_allocated_mb(dev.device)
            cuda_attention_defaults(settings.cudnn_attention)
            with Models(model_store, dev.device, cache=model_cache(dev.device)) as models:
                runner = Runner(
                    media,
                    models,
                    overrides,
                    media_store.signal_store(),
                    lambda m: progress(None, m),
                )
                # the stage's visible signals start first (its critical path), then its
                # analyzers, on `threads` threads at once (outcomes come back in order)
                threads = settings.stage_threads_on(dev.device)
                outcomes = run_all(
                    runner,
                    [by_name[n] for n in selected if n not in signals],
                    threads,
                    signals=[n for n in selected if n in signals],
                )
                if threads > 1:
                    progress(None, f"{stage}: analyzers on {threads} threads")
                for name in selected:
                    try:
                        with GpuSampler(reader) as sampler:
                            if name in signals:
                                runner.signal(name)
                                meta = _signal_meta(runner.signal_info[name])
                                value = None
                            else:
                                cls, outcome = next(outcomes)
                                assert cls.name == name
                                if isinstance(outcome, Exception):
                                    raise outcome
                                value, meta = outcome.table, outcome.meta
                                meta["config"] = MetadataValue.json(meta["config"])
                                meta["signals"] = MetadataValue.json(meta["signals"])
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
                    meta.update(warm_stats())
                    log_event(
                        context,
                        "signal_done" if name in signals else "analyzer_done",
                        analyzer=name,
                        **{k: v for k, v in meta.items() if isinstance(v, str | int | float)},
                    )
                    if value is not None:
                        progress(
                            None,
                            f"  {name}: {meta['rows']} rows, {meta['wall_time_s']:.2f} s, "
                            f"weights={meta['weights_mode']}",
                        )
                    yield Output(value, output_name=name, metadata=meta)
                    check_key = AssetCheckKey(AssetKey(name), CONTRACT_CHECK)
                    if value is not None and check_key in context.selected_asset_check_keys:
                        yield contract_check(by_name[name], value, media.n_seconds)
            end_mb = cuda_allocated_mb(dev.device)
            log_event(
                context, "stage_done", stage=stage, cuda_start_mb=start_mb, cuda_end_mb=end_mb
            )
        if failures:
            raise Failure(
                description=f"{stage}: {len(failures)} asset(s) failed: "
                + "; ".join(f"{k}: {v}" for k, v in failures.items()),
                metadata={k: MetadataValue.text(v) for k, v in failures.items()},
            )

    return _stage


def build_stage_assets() -> list[AssetsDefinition]:
    """One multi-asset per stage that has registered analyzers, each after the one before
    (every asset of a stage depends on the previous stage's: the staged GPU order)."""
    out: list[AssetsDefinition] = []
    upstream: list[str] = ["video_metadata"]
    for stage, classes in by_stage().items():
        names = stage_signals(stage)
        out.append(build_stage_asset(stage, classes, names, upstream))
        upstream = [*names, *(cls.name for cls in classes)]
    return out
