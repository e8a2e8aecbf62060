"""The same materialization on PostgreSQL storage (dagster.postgres.yaml, DAGSTER_PG_*)."""

import shutil

import pytest
from dagster import AssetKey, DagsterInstance

from analyzers.core import all_analyzers
from tests.conftest import PG, REPO
from tests.dagster.helpers import run_video

pytestmark = pytest.mark.postgres


def test_materialization_on_postgres(pg_env, small_clip, tmp_path, monkeypatch):
    import psycopg2

    for k, v in pg_env.items():
        monkeypatch.setenv(k, v)
    pg_database = pg_env["DAGSTER_PG_DB"]
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
