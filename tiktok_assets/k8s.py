"""The pipeline on Kubernetes, deployed with Dagster's official Helm chart
(``deploy/helm/values.yaml``, ``docs/deploy.md``).

The code location serves ``defs`` of this module: every asset, the ``analyze_video_k8s`` job
and the pool guard sensor, with the ``k8s_job_executor`` as the default executor, so a run
(one video partition) is a Kubernetes Job whose steps are Jobs of their own. The four GPU
stage steps carry ``dagster-k8s/config`` (``stages.GPU_STEP_K8S_CONFIG``: one
``nvidia.com/gpu``, the GPU nodes' toleration) and hold the `gpu` pool; ingest, decode,
join and report steps ask for no GPU. Steps of one run land on different nodes, so the data
lives in a bucket (``TIKTOK_PARQUET_URL``, ``TIKTOK_MEDIA_URL``).

``render`` shows what a set of Helm values makes of one run, offline: the instance
``dagster.yaml`` the chart writes for those values (checked against Dagster's instance
schema and dagster-k8s' launcher schema), then the run Job and every step Job, built by
dagster-k8s' own ``K8sRunLauncher`` and ``k8s_job_executor`` step handler with the
Kubernetes API replaced by a recorder (no cluster is contacted). ``validate`` checks
manifests against the Kubernetes API's OpenAPI schemas (kubernetes-validate).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job
from dagster_k8s import k8s_job_executor

from tiktok_assets.definitions import all_assets, build_resources
from tiktok_assets.partitions import videos
from tiktok_assets.pool_guard import gpu_pool_guard

JOB = "analyze_video_k8s"
RELEASE = "dagster"  # the Helm release name the docs install as
K8S_VERSION = "1.33.0"  # the Kubernetes API the manifests are validated against
ROOT = Path(__file__).resolve().parent.parent
VALUES = ROOT / "deploy" / "helm" / "values.yaml"
EXTRA_MANIFESTS = ROOT / "deploy" / "k8s" / "tiktok-analyzer.yaml"

# Steps other than the GPU stages (ingest, decode, audio, join, report): CPU pods. The
# executor merges this under each step's own `dagster-k8s/config` tag.
CPU_STEP_K8S_CONFIG: dict[str, Any] = {
    "container_config": {
        "resources": {"requests": {"cpu": "2", "memory": "6Gi"}, "limits": {"memory": "12Gi"}}
    }
}

EXECUTOR_CONFIG: dict[str, Any] = {
    "step_k8s_config": CPU_STEP_K8S_CONFIG,
    # a run's steps form a chain per video (decode -> stages -> join -> report); two at
    # once lets audio and frames decode side by side
    "max_concurrent": 2,
    "retries": {"enabled": {}},
}
k8s_executor = k8s_job_executor.configured(EXECUTOR_CONFIG, name="k8s_steps")

analyze_video_k8s = define_asset_job(
    JOB,
    selection=AssetSelection.all(),
    partitions_def=videos,
    executor_def=k8s_executor,
    description="Every asset of one video; each step a Kubernetes Job (GPU stages ask for a GPU).",
)

defs = Definitions(
    assets=all_assets(),
    jobs=[analyze_video_k8s],
    sensors=[gpu_pool_guard],
    executor=k8s_executor,  # materializations and backfills from the UI run the same way
    resources=build_resources(),
)


# ---------------------------------------------------------------------------------------
# offline rendering


def load_values(path: str | Path = VALUES) -> dict[str, Any]:
    """The Helm values file as a dict."""
    return yaml.safe_load(Path(path).read_text())


def _names(refs: list[Any] | None) -> list[str]:
    """``[{name: x}, ...]`` (the chart's form) -> ``[x, ...]`` (dagster-k8s' form)."""
    return [r["name"] if isinstance(r, Mapping) else r for r in refs or [] if r]


def _snake(key: str) -> str:
    """A Helm value's name as the instance config spells it: ``jobSpecConfig`` ->
    ``job_spec_config``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _pick(
    src: Mapping[str, Any], keys: tuple[str, ...], keep: Any = lambda v: v is not None
) -> dict[str, Any]:
    """``src``'s ``keys`` that are set (``keep``), renamed with ``_snake``."""
    return {_snake(k): src[k] for k in keys if keep(src.get(k))}


def instance_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``dagster.yaml`` the chart's instance ConfigMap holds for these values (the
    chart's templates ``configmap-instance.yaml`` and ``helpers/instance/*.tpl``, for the
    settings this deployment uses: PostgreSQL storage, K8sRunLauncher, the queued run
    coordinator, run monitoring, retention, concurrency)."""
    pg = values["postgresql"]
    postgres = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg.get("postgresqlParams") or {},
        }
    }
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    glob = values.get("global", {})
    rl: dict[str, Any] = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or "default",
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": glob.get("serviceAccountName") or RELEASE,
        "dagster_home": glob.get("dagsterHome", "/opt/dagster/dagster_home"),
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": glob.get(
            "postgresqlSecretName", f"{RELEASE}-postgresql-secret"
        ),
    }
    if launcher.get("image"):
        img = launcher["image"]
        rl["job_image"] = f"{img['repository']}:{img['tag']}"
    for key, src in (("env_config_maps", "envConfigMaps"), ("env_secrets", "envSecrets")):
        if _names(launcher.get(src)):
            rl[key] = _names(launcher.get(src))
    optional = ("envVars", "volumeMounts", "volumes", "labels", "resources", "schedulerName",
                "securityContext")  # fmt: skip
    rl.update(_pick(launcher, optional, keep=bool))
    if launcher.get("failPodOnRunFailure"):
        rl["fail_pod_on_run_failure"] = True
    run_k8s = launcher.get("runK8sConfig") or {}
    if run_k8s:
        rl["run_k8s_config"] = _pick(run_k8s, tuple(run_k8s), keep=bool)

    cfg: dict[str, Any] = {
        "scheduler": {"module": "dagster.core.scheduler", "class": "DagsterDaemonScheduler"},
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": rl},
        "telemetry": {"enabled": bool(values.get("telemetry", {}).get("enabled", False))},
    }
    for key, module, cls in (
        ("run_storage", "dagster_postgres.run_storage", "PostgresRunStorage"),
        ("event_log_storage", "dagster_postgres.event_log", "PostgresEventLogStorage"),
        ("schedule_storage", "dagster_postgres.schedule_storage", "PostgresScheduleStorage"),
    ):
        cfg[key] = {"module": module, "class": cls, "config": postgres}
    daemon = values.get("dagsterDaemon", {})
    coord = daemon.get("runCoordinator", {})
    if daemon.get("enabled") and coord.get("enabled"):
        q = coord.get("config", {}).get("queuedRunCoordinator") or {}
        keys = ("maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds",
                "dequeueNumWorkers", "dequeueUseThreads")  # fmt: skip
        qcfg = _pick(q, keys)
        cfg["run_coordinator"] = {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": qcfg,
        }
    mon = daemon.get("runMonitoring", {})
    if daemon.get("enabled") and mon.get("enabled"):
        cfg["run_monitoring"] = {
            "enabled": True,
            "start_timeout_seconds": mon["startTimeoutSeconds"],
            "poll_interval_seconds": mon["pollIntervalSeconds"],
            "free_slots_after_run_end_seconds": mon["freeSlotsAfterRunEndSeconds"],
        }
        if mon.get("maxResumeRunAttempts") is not None:
            cfg["run_monitoring"]["max_resume_run_attempts"] = mon["maxResumeRunAttempts"]
    ret = values.get("retention", {})
    if ret.get("enabled"):
        cfg["retention"] = {
            _snake(k): {"purge_after_days": ret[k]["purgeAfterDays"]}
            for k in ("sensor", "schedule", "autoMaterialize")
            if ret.get(k)
        }
    conc = values.get("concurrency", {})
    if conc.get("enabled"):
        pools, runs = conc.get("pools", {}), conc.get("runs", {})
        block: dict[str, Any] = {}
        p = _pick(pools, ("defaultLimit", "granularity", "opGranularityRunBuffer"))
        if p:
            block["pools"] = p
        r = _pick(runs, ("maxConcurrentRuns",))
        r.update(_pick(runs, ("tagConcurrencyLimits",), keep=bool))
        if r:
            block["runs"] = r
        cfg["concurrency"] = block
    return cfg


def code_location(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values' ``tiktok-analyzer`` user deployment."""
    deployments = values["dagster-user-deployments"]["deployments"]
    return next(d for d in deployments if "tiktok_assets.k8s" in d.get("dagsterApiGrpcArgs", []))


def container_context(values: Mapping[str, Any]) -> dict[str, Any]:
    """What the code server reports as its container context when the deployment has
    ``includeConfigInLaunchedRuns`` (the chart's ``dagsterUserDeployments.k8sContainerContext``
    template): run and step pods get the deployment's env, secrets and volumes."""
    dep = code_location(values)
    k8s: dict[str, Any] = {
        "image_pull_policy": dep["image"]["pullPolicy"],
        "env_config_maps": [f"{RELEASE}-{dep['name']}-user-env", *_names(dep.get("envConfigMaps"))],
    }
    if _names(dep.get("envSecrets")):
        k8s["env_secrets"] = _names(dep["envSecrets"])
    for key, src in (("volume_mounts", "volumeMounts"), ("volumes", "volumes")):
        if dep.get(src):
            k8s[key] = dep[src]
    if dep.get("labels"):
        k8s["labels"] = dep["labels"]
    if isinstance(dep.get("env"), list):
        k8s["env"] = dep["env"]
    return {"k8s": k8s}


def image(values: Mapping[str, Any]) -> str:
    img = code_location(values)["image"]
    return f"{img['repository']}:{img['tag']}"


_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: offline, user: {token: none}}]
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
current-context: offline
"""


class _RecordingBatchApi:
    """Stands in for the Kubernetes Batch API: keeps every Job it is asked to create."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, Any]] = []

    def create_namespaced_job(self, body: Any, namespace: str, **_: Any) -> Any:
        self.jobs.append((namespace, body))
        return body


@contextmanager
def _offline_instance(values: Mapping[str, Any]) -> Iterator[tuple[DagsterInstance, Path]]:
    """A throwaway SQLite instance whose run launcher is the values' K8sRunLauncher, pointed
    at a kubeconfig that names no reachable cluster."""
    cfg = instance_config(values)
    with tempfile.TemporaryDirectory(prefix="tiktok-k8s-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(_KUBECONFIG)
        launcher = dict(cfg["run_launcher"])
        launcher["config"] = {
            **launcher["config"],
            "load_incluster_config": False,
            "kubeconfig_file": str(kubeconfig),
        }
        instance = DagsterInstance.local_temp(tmp, overrides={"run_launcher": launcher})
        try:
            yield instance, kubeconfig
        finally:
            instance.dispose()


def check_instance_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the instance ``dagster.yaml`` for these values with Dagster's own schema
    (and each configurable class' schema); raise on the first problem. Returns it."""
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_k8s import K8sRunLauncher

    cfg = instance_config(values)
    with tempfile.TemporaryDirectory(prefix="tiktok-instance-") as tmp:
        (Path(tmp) / "dagster.yaml").write_text(yaml.safe_dump(cfg))
        dagster_instance_config(tmp)  # raises DagsterInvalidConfigError
    for section, cls in (
        ("run_launcher", K8sRunLauncher),
        ("run_coordinator", QueuedRunCoordinator),
    ):
        if section in cfg:
            result = process_config(
                resolve_to_config_type(cls.config_type()), cfg[section]["config"]
            )
            if not result.success:
                raise ValueError(f"{section}: {[e.message for e in result.errors or []]}")
    return cfg


def render(values: Mapping[str, Any], video_id: str = "0123456789abcdef") -> list[dict[str, Any]]:
    """The Kubernetes Jobs one run of ``analyze_video_k8s`` creates under these values: the
    run Job (K8sRunLauncher.launch_run) and one Job per step (the k8s_job_executor's step
    handler), as the API server would receive them. Nothing is sent anywhere."""
    from dagster import DagsterRun
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.code_pointer import CodePointer
    from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
    from dagster._core.execution.api import create_execution_plan
    from dagster._core.execution.context.system import PlanData, PlanOrchestrationContext
    from dagster._core.execution.context_creation_job import create_context_free_log_manager
    from dagster._core.execution.retries import RetryMode
    from dagster._core.executor.init import InitExecutorContext
    from dagster._core.executor.step_delegating import StepHandlerContext
    from dagster._core.launcher import LaunchRunContext
    from dagster._grpc.types import ExecuteStepArgs
    from kubernetes.client import ApiClient

    check_instance_config(values)
    repo = ReconstructableRepository(
        CodePointer.from_module("tiktok_assets.k8s", "defs", working_directory=None),
        container_image=image(values),
        executable_path="/opt/venv/bin/python",
        entry_point=["dagster"],
        container_context=container_context(values),
    )
    recon = ReconstructableJob(repo, JOB)
    job_def = defs.resolve_job_def(JOB)
    tags = {"dagster/partition": video_id}
    with _offline_instance(values) as (instance, kubeconfig):
        run: DagsterRun = instance.create_run_for_job(
            job_def=job_def, tags=tags, job_code_origin=recon.get_python_origin()
        )
        launcher = instance.run_launcher
        recorder = _RecordingBatchApi()
        launcher._api_client.batch_api = recorder
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))

        exec_cfg = process_config(
            resolve_to_config_type(k8s_job_executor.config_schema.config_type),
            {**EXECUTOR_CONFIG, "kubeconfig_file": str(kubeconfig)},
        )
        if not exec_cfg.success:
            raise ValueError(f"executor config: {exec_cfg.errors}")
        executor = k8s_job_executor.executor_creation_fn(  # type: ignore[misc]
            InitExecutorContext(
                job=recon,
                executor_def=k8s_job_executor,
                executor_config=exec_cfg.value,  # type: ignore[arg-type]
                instance=instance,
            )
        )
        handler = executor._step_handler
        handler._api_client.batch_api = recorder
        plan = create_execution_plan(recon, tags=tags)
        plan_context = PlanOrchestrationContext(
            plan_data=PlanData(
                job=recon,
                dagster_run=run,
                instance=instance,
                execution_plan=plan,
                raise_on_error=True,
                retry_mode=RetryMode.DISABLED,
            ),
            log_manager=create_context_free_log_manager(instance, run),
            executor=executor,
            output_capture=None,
        )
        for step in plan.get_steps_to_execute_in_topo_order():
            args = ExecuteStepArgs(
                recon.get_python_origin(), run.run_id, [step.key], print_serialized_events=False
            )
            ctx = StepHandlerContext(
                instance=instance,
                plan_context=plan_context,
                steps=plan.steps,  # type: ignore[arg-type]
                execute_step_args=args,
                dagster_run=run,
            )
            list(handler.launch_step(ctx))
        client = ApiClient()
        return [client.sanitize_for_serialization(body) for _, body in recorder.jobs]


def extra_manifests(path: Path = EXTRA_MANIFESTS) -> list[dict[str, Any]]:
    """The objects the chart does not make (env ConfigMap, S3 Secret, model volume and the
    Job that fills it)."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def validate(manifests: list[dict[str, Any]], version: str = K8S_VERSION) -> list[str]:
    """Problems of each manifest against the Kubernetes ``version`` API schemas (strict:
    unknown fields count), as ``Kind/name: message``; empty when all are valid."""
    import kubernetes_validate

    problems = []
    for m in manifests:
        name = f"{m.get('kind')}/{m.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(m, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {exc.message} at {'/'.join(map(str, exc.path))}")
    return problems


def main(values_path: str | None = None, video_id: str = "0123456789abcdef") -> int:
    """``tiktok-analyzer k8s render``: print the manifests as YAML documents and whether
    they validate."""
    import logging
    import sys

    logging.getLogger("dagster").setLevel(logging.WARNING)  # the offline run's engine events
    values = load_values(values_path or VALUES)
    docs = [*render(values, video_id), *extra_manifests()]
    print(yaml.safe_dump_all(docs, sort_keys=False))
    problems = validate(docs)
    for p in problems:
        print(f"invalid: {p}", file=sys.stderr)
    print(
        f"# {len(docs)} manifests, Kubernetes {K8S_VERSION} schemas: "
        + ("all valid" if not problems else f"{len(problems)} invalid"),
        file=sys.stderr,
    )
    return 1 if problems else 0
