"""Kubernetes, offline: the Helm values (deploy/helm/values.yaml) give an instance config that
Dagster's own schemas accept; the run and step Jobs that dagster-k8s' K8sRunLauncher and
k8s_job_executor build from them, and the extra manifests, validate against the Kubernetes
API schemas (strict); GPUs go to the four stage steps and nowhere else; the Dockerfile and
the values agree. No cluster and no Helm binary are needed: the run launcher and the step
handler are dagster-k8s' own, with the Batch API replaced by a recorder."""

from __future__ import annotations

import copy
import json
import re
import shlex

import pytest
from dagster._core.errors import DagsterInvalidConfigError

from tests.conftest import REPO
from tiktok_assets import k8s
from tiktok_assets.definitions import defs as local_defs
from tiktok_assets.stages import GPU_STEP_K8S_CONFIG

GPU = "nvidia.com/gpu"


@pytest.fixture(scope="module")
def values():
    return k8s.load_values()


@pytest.fixture(scope="module")
def jobs(values):
    return k8s.render(values, video_id="feedfacecafebeef")


def _env(values) -> dict[str, str]:
    return {e["name"]: e["value"] for e in k8s.code_location(values)["env"]}


def _gpu_steps() -> set[str]:
    job = k8s.defs.resolve_job_def(k8s.JOB)
    return {n.name for n in job.graph.nodes if getattr(n.definition, "pool", None) == "gpu"}


def test_instance_config_passes_dagsters_schemas(values):
    cfg = k8s.check_instance_config(values)
    assert cfg["run_launcher"]["class"] == "K8sRunLauncher"
    assert cfg["run_coordinator"]["class"] == "QueuedRunCoordinator"
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        assert cfg[storage]["module"].startswith("dagster_postgres")
    # the `gpu` pool's limit is the number of GPUs, in the instance and in the pool guard
    gpus = int(_env(values)["TIKTOK_GPU_SLOTS"])
    assert cfg["concurrency"]["pools"] == {"default_limit": gpus, "granularity": "op"}
    assert cfg["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    # and the check has teeth: a launcher setting of the wrong shape or type is refused
    bad = copy.deepcopy(values)
    bad["runLauncher"]["config"]["k8sRunLauncher"]["envVars"] = {"TIKTOK_WEIGHTS": "real"}
    with pytest.raises(ValueError, match="env_vars"):
        k8s.check_instance_config(bad)
    bad = copy.deepcopy(values)
    bad["dagsterDaemon"]["runMonitoring"]["pollIntervalSeconds"] = "often"
    with pytest.raises(DagsterInvalidConfigError):
        k8s.check_instance_config(bad)


def test_rendered_manifests_validate_against_the_kubernetes_schemas(jobs):
    docs = [*jobs, *k8s.extra_manifests()]
    # one run Job + one Job per step; the ConfigMap, Secret, model volume and pull Job
    assert [d["kind"] for d in docs].count("Job") == 1 + len(_steps(jobs)) + 1
    assert len(_steps(jobs)) == 10
    assert {d["kind"] for d in docs} == {"Job", "ConfigMap", "Secret", "PersistentVolumeClaim"}
    assert k8s.validate(docs) == []
    # a field Kubernetes does not know, or a wrong type, is caught
    bad = copy.deepcopy(docs[0])
    bad["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    worse = copy.deepcopy(docs[0])
    worse["spec"]["backoffLimit"] = "none"
    problems = k8s.validate([bad, worse])
    assert len(problems) == 2 and "resource" in problems[0] and "backoffLimit" in problems[1]


def _steps(jobs) -> dict[str, dict]:
    return {
        j["metadata"]["labels"]["dagster/op"]: j
        for j in jobs
        if j["metadata"]["labels"].get("app.kubernetes.io/component") == "step_worker"
    }


def _container(job) -> dict:
    (c,) = job["spec"]["template"]["spec"]["containers"]
    return c


def test_gpus_go_to_the_stage_steps_only(jobs):
    steps = _steps(jobs)
    gpu_steps = _gpu_steps()
    assert gpu_steps == {"stage1_heavy", "stage2_medium", "stage3_light", "stage4_fast"}
    assert set(steps) >= gpu_steps | {"video_file", "segment_frames", "audio_track", "video_report"}
    want = GPU_STEP_K8S_CONFIG["container_config"]["resources"]
    for name, job in steps.items():
        res = _container(job)["resources"]
        pod = job["spec"]["template"]["spec"]
        if name in gpu_steps:
            assert res["limits"][GPU] == res["requests"][GPU] == "1", name
            assert res == want, name
            assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        else:
            assert GPU not in res.get("limits", {}) and GPU not in res.get("requests", {}), name
            assert res == k8s.CPU_STEP_K8S_CONFIG["container_config"]["resources"], name
            assert not pod.get("tolerations"), name
        assert _container(job)["args"][:3] == ["dagster", "api", "execute_step"]
    (run,) = [
        j for j in jobs if j["metadata"]["labels"]["app.kubernetes.io/component"] == "run_worker"
    ]
    assert GPU not in str(_container(run)["resources"])
    assert _container(run)["args"][:3] == ["dagster", "api", "execute_run"]


def test_every_pod_gets_the_code_locations_image_env_bucket_and_models(values, jobs):
    image = k8s.image(values)
    env = _env(values)
    for job in jobs:
        c = _container(job)
        pod = job["spec"]["template"]["spec"]
        assert c["image"] == image
        got = {e["name"]: e.get("value") for e in c["env"]}
        assert {k: got.get(k) for k in env} == env
        assert got["DAGSTER_HOME"] == values["global"]["dagsterHome"]
        sources = {s.get("configMapRef", s.get("secretRef", {})).get("name") for s in c["envFrom"]}
        assert {"tiktok-analyzer-env", "tiktok-analyzer-s3"} <= sources
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        assert mounts["models"]["mountPath"] == env["TIKTOK_MODEL_HOME"]
        assert mounts["models"]["readOnly"] is True
        assert mounts["data"]["mountPath"] == env["TIKTOK_DATA"]
        vols = {v["name"]: v for v in pod["volumes"]}
        assert vols["models"]["persistentVolumeClaim"]["claimName"] == "tiktok-models"
    # the bucket the steps share is the one the ConfigMap names
    cm = next(d for d in k8s.extra_manifests() if d["kind"] == "ConfigMap")
    assert cm["data"]["TIKTOK_PARQUET_URL"].startswith("s3://")
    assert cm["data"]["TIKTOK_MEDIA_URL"].startswith("s3://")
    pvc = next(d for d in k8s.extra_manifests() if d["kind"] == "PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == "tiktok-models"


def test_the_k8s_code_location_serves_the_same_assets(values):
    assert k8s.defs.resolve_asset_graph().get_all_asset_keys() == (
        local_defs.resolve_asset_graph().get_all_asset_keys()
    )
    job = k8s.defs.resolve_job_def(k8s.JOB)
    assert job.executor_def.name == "k8s_steps"
    assert job.partitions_def is not None
    assert [s.name for s in k8s.defs.sensors] == ["gpu_pool_guard"]
    args = k8s.code_location(values)["dagsterApiGrpcArgs"]
    assert args == ["-m", "tiktok_assets.k8s", "-a", "defs"]


def test_dockerfile_matches_the_values(values):
    """No Docker daemon here, so the image is not built in the suite: its contract is
    checked instead (CUDA base, the lock installed the way CI does, model home as a volume
    where the values mount it, the command the chart's code location runs)."""
    text = (REPO / "Dockerfile").read_text()
    lines = [ln.strip() for ln in re.sub(r"\\\n", " ", text).splitlines()]
    base = re.search(r"ARG CUDA_IMAGE=(\S+)", text).group(1)
    assert base.startswith("nvidia/cuda:") and "runtime" in base
    assert any(ln.startswith("FROM ${CUDA_IMAGE}") for ln in lines)
    assert any("make venv" in ln and "VENV=/opt/venv" in ln for ln in lines)
    assert "requirements.lock" in (REPO / "Makefile").read_text()
    env = _env(values)
    assert f'VOLUME ["{env["TIKTOK_MODEL_HOME"]}"]' in text
    assert f"TIKTOK_MODEL_HOME={env['TIKTOK_MODEL_HOME']}" in text
    cmd = next(ln for ln in lines if ln.startswith("CMD"))
    assert " ".join(k8s.code_location(values)["dagsterApiGrpcArgs"]) in " ".join(
        json.loads(cmd[3:])
    )
    assert f'"{k8s.code_location(values)["port"]}"' in cmd
    for ln in lines:
        if ln.startswith("COPY") and "--from" not in ln:
            for src in shlex.split(ln)[1:-1]:
                assert (REPO / src).exists(), src
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", "data", ".git"} <= set(ignored)


def test_render_command_prints_valid_manifests(capsys):
    assert k8s.main() == 0
    out, err = capsys.readouterr()
    assert out.count("kind: Job") == 12
    assert "15 manifests, Kubernetes 1.33.0 schemas: all valid" in err
