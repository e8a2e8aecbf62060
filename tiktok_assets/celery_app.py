"""The pipeline on Celery (dagster-celery): each step of a run is a Celery task; GPU stage
steps go to the ``gpu`` queue, every other step (ingest, decode, join, report) to ``cpu``.

Workers (one or more per machine, each on the queues its hardware serves)::

    celery -A tiktok_assets.celery_app worker -Q gpu --pool solo -c 1   # one per GPU
    celery -A tiktok_assets.celery_app worker -Q cpu -c 4

Broker and result backend: ``TIKTOK_CELERY_BROKER`` (default Redis on 127.0.0.1; a
RabbitMQ URL such as ``pyamqp://guest@127.0.0.1//`` works the same) and
``TIKTOK_CELERY_BACKEND`` (default: the broker when it is Redis, else ``rpc://``). The run
itself is launched with the ``analyze_video_celery`` job of ``defs`` (its executor submits
the steps); workers and launcher must share the Dagster instance (PostgreSQL across
machines) and the data (``TIKTOK_MEDIA_URL`` / ``TIKTOK_PARQUET_URL`` across machines).
The `gpu` concurrency pool still holds: a stage step claims its pool slot in the worker.
"""

from __future__ import annotations

import os

from dagster import AssetSelection, Definitions, define_asset_job
from dagster_celery import celery_executor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task
from kombu import Exchange, Queue

from resources.settings import env_settings
from tiktok_assets.definitions import all_assets, build_resources
from tiktok_assets.partitions import videos

GPU_QUEUE, CPU_QUEUE = "gpu", "cpu"
QUEUE_TAG = "dagster-celery/queue"
JOB = "analyze_video_celery"


def broker() -> str:
    return env_settings().celery_broker


def backend() -> str:
    url = broker()
    return env_settings().celery_backend or (url if url.startswith("redis") else "rpc://")


# the executor reads both from the environment when a run starts (not when this module
# was imported: Dagster caches the loaded job); these are the defaults it then sees
os.environ.setdefault("TIKTOK_CELERY_BROKER", broker())
os.environ.setdefault("TIKTOK_CELERY_BACKEND", backend())


# steps with no queue tag (everything but the GPU stages) go to the cpu queue
CONFIG_SOURCE = {"task_default_queue": CPU_QUEUE, "worker_prefetch_multiplier": 1}

app = make_app({"broker": broker(), "backend": backend()})
app.conf.update(CONFIG_SOURCE)
# The executor sends a step to queue Q with routing key "Q.execute_plan" through exchange Q
# (which Celery creates as a direct exchange bound with key "Q"). Bind the workers' queues
# with that exact key too: RabbitMQ routes either way, Redis' virtual exchange only on an
# exact match, so without it a Redis worker would never see a step.
app.conf.task_queues = [
    Queue(q, Exchange(q, type="direct"), routing_key=f"{q}.execute_plan")
    for q in (GPU_QUEUE, CPU_QUEUE)
]
execute_plan = create_task(app)

analyze_video_celery = define_asset_job(
    JOB,
    selection=AssetSelection.all(),
    partitions_def=videos,
    executor_def=celery_executor.configured(
        {
            "broker": {"env": "TIKTOK_CELERY_BROKER"},
            "backend": {"env": "TIKTOK_CELERY_BACKEND"},
            "config_source": CONFIG_SOURCE,
        }
    ),
    description="Every asset of one video, each step a Celery task (GPU stages on `gpu`).",
)

defs = Definitions(assets=all_assets(), jobs=[analyze_video_celery], resources=build_resources())


def reconstructable_job():
    """The job as workers load it (module + attribute), for ``dagster.execute_job``."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repo = ReconstructableRepository.for_module(__name__, "defs")
    return repo.get_reconstructable_job(JOB)
