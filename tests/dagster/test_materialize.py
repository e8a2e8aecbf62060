"""A full materialization of a generated 6 s vertical clip on a test instance."""

import duckdb
import pyarrow.parquet as pq
import pytest

from analyzers.core import all_analyzers
from tests.conftest import REPO
from tests.dagster.helpers import instance_at, run_video
from tiktok_assets.intelligence import latest_metadata


@pytest.fixture(scope="module")
def run(small_clip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mat")
    data = tmp / "data"
    with instance_at(tmp / "home") as instance:
        key, result = run_video(small_clip, instance, data)
        yield instance, key, result, data


def test_run_succeeds_and_every_analyzer_has_one_row_per_second(run):
    _instance, key, result, data = run
    assert result.success
    for name in all_analyzers():
        path = data / "parquet" / name / f"video_id={key}" / "part-0.parquet"
        table = pq.read_table(path, partitioning=None)
        assert table.column("second").to_pylist() == list(range(6)), name
        assert set(table.column("video_id").to_pylist()) == {key}


def test_materialization_metadata(run):
    instance, key, _, _ = run
    for name in all_analyzers():
        meta = latest_metadata(instance, name, key)
        for field in (
            "rows",
            "seconds",
            "model",
            "weights_mode",
            "wall_time_s",
            "peak_memory_mb",
            "device",
            "path",
            "schema",
        ):
            assert field in meta, (name, field)
        assert meta["rows"] == 6
    frames = latest_metadata(instance, "segment_frames", key)
    assert frames["decoded_frames"] == 180 and frames["seconds"] == 6
    intel = latest_metadata(instance, "cross_analyzer_intelligence", key)
    found = {i["name"]: i for i in intel["insights_json"]}
    assert intel["insights"].count("\n") == 1 + len(found) and "| hook_score |" in intel["insights"]
    # every analyzer ran: the hook has all its components; no product model is real here,
    # but the count is a number; the clip's one cut (3.0 s) is the cut-on-beat input
    assert found["hook_score"]["value"] is not None
    assert None not in found["hook_score"]["details"]["components"].values()
    assert found["product_screen_time"]["value"] is not None
    assert intel["summary"].startswith("6 s long, ")  # the VLM ran on random weights: left out
    beat = found["cut_on_beat"]
    assert beat["value"] in (0.0, 1.0) or "no beats" in beat["reason"]


def test_matrix_report_and_duckdb(run):
    _, key, _, data = run
    matrix = pq.read_table(
        data / "parquet" / "cross_analyzer_intelligence" / f"video_id={key}" / "part-0.parquet",
        partitioning=None,
    )
    assert matrix.num_rows == 6
    for name, cls in all_analyzers().items():
        for col in cls.output_schema.names:
            assert f"{name}__{col}" in matrix.column_names
    # the clip cuts from the test pattern to blue at 3.0 s
    cut_at = matrix.column("cut_analysis__cut_at").to_pylist()
    assert [t for row in cut_at for t in row] == pytest.approx([3.0], abs=1 / 30)
    page = (data / "reports" / key / "index.html").read_text()
    # the summary and the insights come first, before the per-analyzer detail
    assert page.index("<h2>Summary</h2>") < page.index("<h2>Insights</h2>") < page.index("<img")
    assert "<td>hook_score</td>" in page and "<td>cut_on_beat</td>" in page
    assert (data / "reports" / key / "color_analysis.png").stat().st_size > 1000
    # one query over every analyzer's Parquet: one row per second per analyzer
    counts = dict(
        duckdb.sql(
            f"select split_part(filename, '/', -3) as asset, count(*) "
            f"from read_parquet('{data}/parquet/*/video_id={key}/*.parquet', "
            "hive_partitioning=true, union_by_name=true, filename=true) group by 1"
        ).fetchall()
    )
    assert counts == {name: 6 for name in [*all_analyzers(), "cross_analyzer_intelligence"]}


def test_rematerializing_replaces_only_its_partition(run, silent_clip):
    instance, key, _, data = run
    other, result = run_video(silent_clip, instance, data)
    assert result.success and other != key
    for name in all_analyzers():
        assert (data / "parquet" / name / f"video_id={key}" / "part-0.parquet").exists()
        assert (data / "parquet" / name / f"video_id={other}" / "part-0.parquet").exists()
    audio = pq.read_table(
        data / "parquet" / "audio_analysis" / f"video_id={other}" / "part-0.parquet",
        partitioning=None,
    )
    assert audio.column("has_audio").to_pylist() == [False] * 3


def test_sql_views_and_the_readme_examples(run):
    """`tiktok-analyzer sql`: a view per analyzer and `matrix`, one row per second per
    video; the README's three example queries run and give the run's numbers."""
    import subprocess
    import sys

    from tiktok_assets.sql import EXAMPLES, connect, views

    _, key, _, data = run
    con = connect(data / "parquet")
    assert {*all_analyzers(), "matrix"} <= set(views(con))
    assert con.sql(f"select count(*) from matrix where video_id = '{key}'").fetchall() == [(6,)]
    results = {name: con.sql(q).fetchall() for name, q in EXAMPLES.items()}
    cuts = {r[0]: r for r in results["cuts and speaking pace per video"]}
    assert cuts[key][1:3] == (6, 1)  # 6 seconds, the one cut at 3.0 s
    assert key in {r[0] for r in results["seconds talking to the camera per video"]}
    assert all(r[0] == key for r in results["every product or brand seen, with its second"])
    readme = (REPO / "README.md").read_text()
    for q in EXAMPLES.values():
        assert q in " ".join(readme.split()), "README shows the tested queries"
    out = subprocess.run(
        [sys.executable, "-m", "tiktok_assets.cli", "--data", str(data), "sql",
         f"select count(*) * 1000 + 7 as n from matrix where video_id = '{key}'"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "6007" in out.stdout  # 6 rows, printed as a table
    typed = subprocess.run(  # queries typed in, one ending in ';', a bad one, then .quit
        [sys.executable, "-m", "tiktok_assets.cli", "--data", str(data), "sql"],
        input="select 40 +\n 2 as answer;\nselect nope;\n.quit\nselect 99;\n",
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert typed.returncode == 0 and "views: " in typed.stdout and "matrix" in typed.stdout
    assert "42" in typed.stdout and "error: " in typed.stdout and "99" not in typed.stdout
