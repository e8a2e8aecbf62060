"""A full materialization of a generated 6 s vertical clip on a test instance."""

import duckdb
import pyarrow.parquet as pq
import pytest

from analyzers.core import all_analyzers
from tests.conftest import REPO
from tests.dagster.helpers import instance_at, run_video
from tiktok_assets.intelligence import latest_metadata

SECTIONS = ("summary", "insights", "timeline", "transcript", "details", "provenance")
ARTIFACTS = REPO / ".cache" / "test-artifacts" / "report"


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


def test_every_analyzer_passes_its_contract_check(run):
    """The `contract` asset check ran for every analyzer asset of the partition and passed
    (one row per second, required columns non-null, values in the declared ranges)."""
    _, _, result, _ = run
    evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == set(all_analyzers())
    for name, e in evaluations.items():
        assert e.check_name == "contract" and e.passed, (name, e.metadata)
        assert e.metadata["rows"].value == 6 and e.target_materialization_data is not None


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
    # the summary and the insights come first, then the timeline, the transcript, the
    # folded detail and the provenance; every picture inside the page, nothing fetched
    order = [page.index(f'<section id="{s}">') for s in SECTIONS]
    assert order == sorted(order) and page.index("<img") > order[1]
    assert "<td>hook_score</td>" in page and "<td>cut_on_beat</td>" in page
    assert page.count('src="data:image/png;base64,') == page.count("<img") >= 20
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert {p.name for p in (data / "reports" / key).iterdir()} == {
        "index.html",
        "provenance.json",  # runs and notes, to render the page again without Dagster
    }
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


def _shifted(value, offset: float):
    """A matrix cell with every time in it (cut_at, beats, words' start/end) moved."""
    if isinstance(value, float):
        return value + offset
    if isinstance(value, list):
        return [_shifted(v, offset) for v in value]
    if isinstance(value, dict):
        return {k: v + offset if k in ("start", "end") and v is not None else v
                for k, v in value.items()}  # fmt: skip
    return value


def _tiled(matrix, times: int):
    """The run's 6 s matrix repeated ``times`` times: a 6*times-second matrix with the real
    columns and values (cuts, beats and words moved to their new seconds)."""
    import pyarrow as pa

    timed = {"cut_analysis__cut_at", "audio_analysis__beats", "speech_transcription__words"}
    rows = []
    for k in range(times):
        for r in matrix.to_pylist():
            r = dict(r, second=r["second"] + k * matrix.num_rows)
            for col in timed & set(r):
                r[col] = _shifted(r[col], float(k * matrix.num_rows))
            rows.append(r)
    return pa.Table.from_pylist(rows, schema=matrix.schema)


def _open_in_chromium(page_path, shot_path) -> dict:
    """Open the page in headless Chromium: console errors, failed requests, the visible
    sections, images that did not decode; a full-page screenshot at ``shot_path``."""
    import shutil

    from playwright.sync_api import sync_playwright

    problems: dict = {"console": [], "failed": [], "broken_images": None, "sections": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on(
            "console", lambda m: problems["console"].append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: problems["console"].append(str(e)))
        page.on("requestfailed", lambda r: problems["failed"].append(r.url))
        page.goto(page_path.as_uri(), wait_until="load")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        problems["broken_images"] = page.evaluate(
            "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length"
        )
        problems["sections"] = page.evaluate(
            "[...document.querySelectorAll('section')].filter(s => s.offsetHeight > 0).map(s => s.id)"
        )
        problems["images"] = page.evaluate("document.images.length")
        page.screenshot(path=str(shot_path), full_page=True)
        browser.close()
    return problems


@pytest.mark.skipif(
    __import__("shutil").which("chromium") is None,
    reason="needs Debian's chromium (make test installs it)",
)
def test_report_renders_in_headless_chromium(run, tmp_path):
    """The run's report, and one for 60 s (the run's matrix tiled ten times, its key frames
    and plots), open in Chromium with every section shown, every picture decoded, no
    console error and no request; the 60 s page stays under 5 MB. Screenshots are kept
    in .cache/test-artifacts/report/."""
    import pyarrow.parquet as pq

    from resources.media_store import MediaStore
    from tiktok_assets.report import media_keyframes, write_report

    _, key, _, data = run
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found = _open_in_chromium(data / "reports" / key / "index.html", ARTIFACTS / "report-6s.png")
    assert found["console"] == [] and found["failed"] == [] and found["broken_images"] == 0
    assert [s for s in found["sections"] if s != "descriptions"] == list(SECTIONS)

    matrix = pq.read_table(
        data / "parquet" / "cross_analyzer_intelligence" / f"video_id={key}" / "part-0.parquet",
        partitioning=None,
    )
    long = _tiled(matrix, 10)
    frames = media_keyframes(MediaStore(root=str(data)).load_media(key))
    runs = {n: latest_metadata(run[0], n, key) for n in all_analyzers()}
    page = write_report(long, runs, tmp_path / "long", "sixty-seconds",
                        keyframes=lambda t: frames(t % 6.0))  # fmt: skip
    size = page.stat().st_size
    assert size < 5 * 1024 * 1024, f"{size / 1e6:.1f} MB for a 60 s video"
    html = page.read_text()
    found = _open_in_chromium(page, ARTIFACTS / "report-60s.png")
    assert found["console"] == [] and found["failed"] == [] and found["broken_images"] == 0
    assert [s for s in found["sections"] if s != "descriptions"] == list(SECTIONS)
    assert found["images"] == html.count("<img")


def test_retention_command_attributes_a_drop_at_the_cut(run, tmp_path, monkeypatch):
    """A retention export with a steady decay and a cliff of 20 points during second 3,
    where the clip cuts (3.0 s): the command names that cut as the cause, keeps the table
    beside the report and re-renders the report with the retention section."""
    import json

    from tiktok_assets.cli import main

    _, key, _, data = run
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    curve = [100 - 2 * s - (20 if s >= 4 else 0) for s in range(7)]
    csv = tmp_path / "retention.csv"
    csv.write_text("Time,Audience retention (%)\n" + "".join(
        f"0:{s:02d},{v}%\n" for s, v in enumerate(curve)))  # fmt: skip
    assert main(["--data", str(data), "retention", key, str(csv)]) == 0
    saved = json.loads((data / "reports" / key / "retention.json").read_text())
    drops = [r for r in saved["seconds"] if r["is_drop"]]
    assert len(drops) == 1 and drops[0]["second"] == 3 and drops[0]["drop_pp"] == 22.0
    assert drops[0]["cause"].startswith("cut at 3.0") and drops[0]["lag_s"] == 0
    page = (data / "reports" / key / "index.html").read_text()
    assert page.index('<section id="timeline">') < page.index('<section id="retention">')
    assert "cut at 3.0" in page and "<td>3</td>" in page
    assert "\n3,0.94,22.0,True," in (data / "reports" / key / "retention.csv").read_text()
    assert main(["--data", str(data), "retention", "nope-0000000000", str(csv)]) == 2
