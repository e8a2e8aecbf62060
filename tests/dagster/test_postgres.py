"""The same materialization on PostgreSQL storage (dagster.postgres.yaml, DAGSTER_PG_*)."""

import shutil
import uuid

import pytest
from dagster import AssetKey, DagsterInstance

from analyzers.core import all_analyzers
from tests.conftest import REPO
from tests.dagster.helpers import run_video

pytestmark = pytest.mark.postgres
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture
def pg_database():
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **PG)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers on 127.0.0.1:5432 ({exc})")
    admin.autocommit = True
    name = f"tiktok_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_materialization_on_postgres(pg_database, small_clip, tmp_path, monkeypatch):
    import psycopg2

    for k, v in {
        "HOST": PG["host"],
        "PORT": str(PG["port"]),
        "USER": PG["user"],
        "PASSWORD": "trust",
        "DB": pg_database,
    }.items():
        monkeypatch.setenv(f"DAGSTER_PG_{k}", v)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.postgres.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        key, result = run_video(small_clip, instance, tmp_path / "data")
        assert result.success
        for name in all_analyzers():
            assert key in instance.get_materialized_partitions(AssetKey(name)), name
        assert instance.event_log_storage.supports_global_concurrency_limits
    with psycopg2.connect(dbname=pg_database, **PG) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from runs where status = 'SUCCESS'")
        assert cur.fetchone()[0] == 1
        cur.execute("select count(*) from dynamic_partitions where partition = %s", (key,))
        assert cur.fetchone()[0] == 1
