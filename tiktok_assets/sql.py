"""DuckDB over the Parquet tables: one view per analyzer (``speech_rate``, ...) over every
video, and ``matrix``, the joined per-second matrix of all videos
(``cross_analyzer_intelligence``). ``tiktok-analyzer sql`` opens it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

# The README's example queries (tested against a real run).
EXAMPLES = {
    "cuts and speaking pace per video": (
        "select video_id, count(*) as seconds, sum(cut_analysis__cuts) as cuts, "
        "round(avg(speech_rate__wpm), 1) as mean_wpm from matrix group by video_id "
        "order by cuts desc"
    ),
    "seconds talking to the camera per video": (
        "select video_id, count(*) filter (where eye_tracking__looking_at_camera "
        "and speech_rate__words > 0) as talking_to_camera_s from matrix group by video_id"
    ),
    "every product or brand seen, with its second": (
        "select video_id, second, p.label, p.source, p.score "
        "from product_detection, unnest(products) as t(p) order by video_id, second"
    ),
}
MATRIX = "cross_analyzer_intelligence"


def connect(parquet_root: str | Path) -> Any:
    """An in-memory DuckDB connection with a view per table folder under
    ``parquet_root`` (hive-partitioned by video_id) and ``matrix``. ``parquet_root`` is a
    local folder or a bucket URL (``s3://bucket/prefix``, the ``TIKTOK_PARQUET_URL`` of a
    multi-machine deployment): DuckDB then reads through the same fsspec filesystem the
    pipeline writes with (``register_filesystem``; no DuckDB extension to download)."""
    import duckdb

    from io_managers.parquet import is_remote

    con = duckdb.connect()
    if is_remote(parquet_root):
        import fsspec

        fs, base = fsspec.core.url_to_fs(str(parquet_root))
        con.register_filesystem(fs)
        scheme = str(parquet_root).split("://", 1)[0]
        folders = sorted(
            p.rsplit("/", 1)[-1] for p in fs.ls(base, detail=False) if fs.isdir(p)
        ) if fs.exists(base) else []  # fmt: skip
        tables = [
            (name, f"{scheme}://{base}/{name}/video_id=*/*.parquet")
            for name in folders
            if fs.glob(f"{base}/{name}/video_id=*/*.parquet")
        ]
    else:
        root = Path(parquet_root)
        tables = [
            (folder.name, str(folder / "video_id=*" / "*.parquet"))
            for folder in sorted(p for p in root.glob("*") if p.is_dir())
            if any(folder.glob("video_id=*/*.parquet"))
        ]
    for folder, glob in tables:
        name = "matrix" if folder == MATRIX else folder
        glob = glob.replace("'", "''")
        con.sql(
            f"create view \"{name}\" as select * from read_parquet('{glob}', "
            "hive_partitioning=true, union_by_name=true)"
        )
    return con


def views(con: Any) -> list[str]:
    """The views ``connect`` made."""
    return [
        r[0] for r in con.sql("select view_name from duckdb_views() where not internal").fetchall()
    ]


def shell(con: Any, query: str | None = None, out: TextIO = sys.stdout) -> int:
    """Run ``query`` and print its result, or read queries from stdin (one per line, or
    ended with ``;``) until end of input or ``.quit``."""

    def run(q: str) -> None:
        rel = con.sql(q)
        if rel is not None:
            print(rel, file=out)

    if query:
        run(query)
        return 0
    names = ", ".join(views(con)) or "none (no results yet)"
    print(f"views: {names}; example queries in the README; .quit to leave",
          file=out)  # fmt: skip
    buf = ""
    for line in sys.stdin:
        if line.strip() in (".quit", ".exit"):
            break
        buf += line
        if buf.strip().endswith(";") or sys.stdin.isatty():
            try:
                run(buf)
            except Exception as exc:  # a bad query is reported, the shell goes on
                print(f"error: {exc}", file=out)
            buf = ""
    if buf.strip():
        run(buf)
    return 0
