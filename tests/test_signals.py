"""Signals and the runner: one config gives one answer to every reader; a persisted
value is keyed on everything it depends on; models live as long as their scope; and the
code keeps no module-level cache of media or models."""

from __future__ import annotations

import ast
import dataclasses
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from analyzers.core import FrameAnalyzer, Models, register
from analyzers.core.registry import all_analyzers, all_signals, unregister
from analyzers.core.runner import FileSignalStore, MemorySignalStore, Runner, run_analyzer
from analyzers.core.synth import make_clip
from tests.analyzers.test_cut_analysis import FPS, SEGMENTS, TRUE_CUTS
from tests.conftest import REPO, SMALL

CUT_READERS = ("cut_analysis", "scene_segmentation", "temporal_flow", "camera_analysis")
# the content value of the 3.5 s cut is 55 and of the others 61-66 (0-255 scale): with
# min_content 58 the 3.5 s cut goes, the rest stay
OVERRIDE = {"shots": {"min_content": 58.0}}
CUTS_WITH_OVERRIDE = [2.0, 7.5, 8.5]


@pytest.fixture(scope="module")
def cuts_media(media_dir: Path, decode):
    return decode(make_clip(media_dir / "cuts-sig.mp4", SEGMENTS, size=SMALL, fps=FPS), "cuts-0")


def _same(a, b) -> bool:
    return (
        a.cuts == b.cuts and a.transitions == b.transitions and np.array_equal(a.scores, b.scores)
    )


def _cut_seconds(rows: list[dict]) -> list[float]:
    return [t for r in rows for t in r["cut_at"]]


@pytest.mark.parametrize(
    ("settings", "want"),
    [({}, TRUE_CUTS), (OVERRIDE, CUTS_WITH_OVERRIDE)],
    ids=["default", "override"],
)
def test_every_cut_reader_reports_the_same_cuts(cuts_media, tmp_path, settings, want):
    """With the thresholds overridden (or not), cut_analysis, scene_segmentation,
    temporal_flow, camera_analysis and visual_effects read one shots value."""
    store = FileSignalStore(tmp_path)
    with Models() as models:
        runner = Runner(cuts_media, models, settings, store)
        out = {n: runner.run(all_analyzers()[n]) for n in (*CUT_READERS, "visual_effects")}
    keys = {n: o.meta["signals"]["shots"].split()[-1] for n, o in out.items()}
    assert len(set(keys.values())) == 1, keys
    cuts = out["cut_analysis"].table.to_pylist()
    assert _cut_seconds(cuts) == pytest.approx(want, abs=1.5 / FPS)
    scenes = out["scene_segmentation"].table.to_pylist()
    assert [r["shot_id"] for r in scenes] == [r["shot_id"] for r in cuts]
    times = np.array(_cut_seconds(cuts))
    density = [((times >= s - 1) & (times < s + 2)).sum() / 3 for s in range(len(cuts))]
    flow = out["temporal_flow"].table.column("cut_density").to_pylist()
    assert flow == pytest.approx(density, abs=1e-6)
    # camera analysis measures no motion across a cut: the second after each cut is still
    camera = out["camera_analysis"].table.to_pylist()
    assert all(camera[int(t)]["motion"] == "static" for t in want if t >= 7), camera


def test_a_signal_setting_given_to_an_analyzer_is_refused_with_where_it_belongs():
    with pytest.raises(ValueError, match="min_content is a setting of signal 'shots'"):
        all_analyzers()["cut_analysis"].make_config({"min_content": 40})


def test_a_persisted_signal_is_read_not_recomputed_and_keyed_on_its_config(cuts_media, tmp_path):
    store = FileSignalStore(tmp_path)
    with Models() as models:
        first = Runner(cuts_media, models, None, store)
        shots = first.signal("shots")
        assert first.signal_info["shots"]["source"] == "computed"
        again = Runner(cuts_media, models, None, store)
        assert _same(again.signal("shots"), shots)
        assert again.signal_info["shots"]["source"] == "read"
        assert "content_scores" not in again.signal_info  # inputs of a stored value: not needed
        other = Runner(cuts_media, models, OVERRIDE, store)
        assert other.signal_key("shots") != first.signal_key("shots")
        assert other.signal_key("content_scores") == first.signal_key("content_scores")
        assert other.signal("shots").cuts != shots.cuts
        # a re-decode (another frames_id) never reads the old value
        moved = dataclasses.replace(cuts_media, frames_id="another-decode")
        assert Runner(moved, models, None, store).signal_key("shots") != first.signal_key("shots")
        # an unreadable file counts as absent: recomputed and rewritten
        path = Path(store.path(cuts_media.video_id, "shots", first.signal_key("shots")))
        path.write_bytes(b"not a pickle")
        fixed = Runner(cuts_media, models, None, store)
        assert _same(fixed.signal("shots"), shots)
        assert fixed.signal_info["shots"]["source"] == "computed"


def test_signals_of_an_analyzer_are_only_those_it_declares(cuts_media):
    seen = {}

    @register
    class Peek(FrameAnalyzer):
        """Test only: records the signals it is given."""

        name = "peek_probe"
        stage = "stage4_fast"
        requires = ("frame_stats",)
        output_schema = pa.schema([("x", pa.int32())])

        def analyze(self, media, config, signals):
            seen.update(signals)
            return self.table(media, [{"second": s, "x": 1} for s in media.seconds()])

    try:
        run_analyzer(Peek, cuts_media)
    finally:
        unregister("peek_probe")
    assert set(seen) == {"frame_stats"}


def test_the_runner_unloads_and_the_scope_releases_models(cuts_media):
    """The CPU twin of the GPU memory test: ``unload`` runs even when ``analyze`` raises,
    and closing the scope drops every model it held."""
    calls: list[str] = []

    @register
    class Spy(FrameAnalyzer):
        """Test only: loads a 'model' through the scope, then fails or not."""

        name = "spy_probe"
        stage = "stage4_fast"
        output_schema = pa.schema([("x", pa.int32())])
        fail = False

        def load(self, device, models):
            super().load(device, models)
            self.net = models.get(("spy-net", device), lambda: np.zeros(1000))
            calls.append("load")

        def analyze(self, media, config, signals):
            if self.fail:
                raise RuntimeError("boom")
            return self.table(media, [{"second": s, "x": 1} for s in media.seconds()])

        def unload(self):
            super().unload()
            self.net = None
            calls.append("unload")

    try:
        with Models() as models:
            runner = Runner(cuts_media, models)
            runner.run(Spy)
            Spy.fail = True
            with pytest.raises(RuntimeError, match="boom"):
                runner.run(Spy)
            assert models.loaded == [("spy-net", "cpu")]  # one model, shared by both runs
        assert calls == ["load", "unload", "load", "unload"]
        assert models.loaded == [] and models.closed
        with pytest.raises(RuntimeError, match="closed"):
            models.get("x", object)
    finally:
        unregister("spy_probe")


def test_cuda_oom_halves_the_batch_and_retries(cuts_media):
    sizes: list[int] = []

    @register
    class Hungry(FrameAnalyzer):
        """Test only: runs out of CUDA memory above a batch of 8."""

        name = "hungry_probe"
        stage = "stage1_heavy"
        output_schema = pa.schema([("batch", pa.int32())])

        def analyze(self, media, config, signals):
            sizes.append(config.batch_size)
            if config.batch_size > 8:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.table(
                media, [{"second": s, "batch": config.batch_size} for s in media.seconds()]
            )

    try:
        out = run_analyzer(Hungry, cuts_media)
    finally:
        unregister("hungry_probe")
    assert sizes == [32, 16, 8]
    assert out.meta["oom_halvings"] == 2 and out.meta["config"]["batch_size"] == 8
    assert set(out.table.column("batch").to_pylist()) == {8}


def test_signal_registry_is_acyclic_and_every_requirement_is_registered():
    signals = all_signals()
    assert {"shots", "global_motion", "frame_stats", "transcript", "voice", "sound_events"} <= set(
        signals
    )
    order = list(signals)
    for name, cls in signals.items():
        assert all(order.index(d) < order.index(name) for d in cls.requires), name
    for name, cls in all_analyzers().items():
        assert set(cls.requires) <= set(signals), name


def test_memory_store_is_private_to_its_runner(cuts_media):
    with Models() as models:
        a, b = Runner(cuts_media, models), Runner(cuts_media, models)
        a.signal("frame_stats")
        assert isinstance(b.store, MemorySignalStore) and not b.store.values


# ---- source rules -------------------------------------------------------------------------
SOURCE_DIRS = ("analyzers", "resources", "tiktok_assets", "io_managers")
# module-level mutable state that is not a cache of media or models
ALLOWED_STATE = {
    ("analyzers/core/registry.py", "_REGISTRY"),
    ("analyzers/core/registry.py", "_SIGNALS"),
    ("analyzers/core/registry.py", "_DISCOVERED"),
    ("tiktok_assets/measure.py", "_LOGGERS"),  # one JSON-lines file handler per run
    ("tiktok_assets/pool_guard.py", "_MARKED"),  # runs this worker marked for the reaper
    ("tiktok_assets/workers.py", "_WARM"),  # a warm worker's ModelCache: kept on purpose
    ("analyzers/core/runner.py", "_POOLS"),  # the kept analyzer threads (no media, no model)
    ("analyzers/core/models.py", "_cudnn_attention"),  # the process's attention switch
}
MUTATORS = {"append", "extend", "update", "setdefault", "add", "insert", "popitem", "pop"}


def _module_state_writes(path: Path) -> set[str]:
    """Module-level names a function body writes into (``X[k] = v``, ``X.append(...)``,
    ``global X``) and functions memoised for the process (``functools.cache``)."""
    tree = ast.parse(path.read_text())
    module_names = {
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found.update(node.names)
        elif isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                text = ast.unparse(dec)
                if "cache" in text and "cached_property" not in text:
                    found.add(f"@{text} {node.name}")
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
        ):
            found.add(node.value.id)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
            and isinstance(node.func.value, ast.Name)
        ):
            found.add(node.func.value.id)
    return {n for n in found if n.startswith("@") or n in module_names}


def test_no_module_level_cache_of_media_or_models():
    offenders = []
    for folder in SOURCE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = str(path.relative_to(REPO))
            for name in _module_state_writes(path):
                if (rel, name) not in ALLOWED_STATE:
                    offenders.append(f"{rel}: {name}")
    assert offenders == [], "module-level state outside the model store: " + ", ".join(offenders)


def test_the_source_rule_catches_a_cache(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import functools\n_M = {}\n@functools.cache\ndef net(): ...\ndef get(k):\n    _M[k] = 1\n"
    )
    assert _module_state_writes(bad) == {"_M", "@functools.cache net"}


def test_no_analyzer_imports_another_analyzer_module():
    families = ("analyzers.visual", "analyzers.audio", "analyzers.multimodal")
    offenders = []
    for family in families:
        for path in (REPO / family.replace(".", "/")).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                mod = node.module if isinstance(node, ast.ImportFrom) else None
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                for m in [mod, *names]:
                    if m and m.startswith(families):
                        offenders.append(f"{path.relative_to(REPO)} imports {m}")
    assert offenders == []


def test_tiktok_variables_are_read_in_the_settings_module_only():
    """``os.environ`` reads of TIKTOK_* live in resources/env.py, behind the settings
    resource (the CLI and the API server write some for the processes they start)."""
    offenders = []
    for folder in SOURCE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.name == "env.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                text = ast.unparse(node) if isinstance(node, ast.Call | ast.Subscript) else ""
                read = isinstance(node, ast.Call) and "environ.get('TIKTOK_" in text
                read |= (
                    isinstance(node, ast.Subscript)
                    and isinstance(node.ctx, ast.Load)
                    and "environ['TIKTOK_" in text
                )
                if read:
                    offenders.append(f"{path.relative_to(REPO)}: {text}")
    assert offenders == []


class _CountingStore(MemorySignalStore):
    def __init__(self) -> None:
        super().__init__()
        self.made: list[str] = []

    def put(self, video_id, name, key, value, info) -> None:
        self.made.append(name)
        super().put(video_id, name, key, value, info)


def test_analyzers_on_threads_give_the_same_tables_and_make_each_signal_once(cuts_media):
    """``run_all(..., threads=4)`` (issue 17: a stage's CPU analyzers beside its GPU ones)
    returns, in the order given, exactly the tables of one-at-a-time; signals read by
    several analyzers at once (shots by five, global_motion by two, sound_events by two)
    are made once each."""
    from analyzers.core.registry import get
    from analyzers.core.runner import run_all

    names = ["visual_effects", "camera_analysis", "cut_analysis", "scene_segmentation",
             "temporal_flow", "color_analysis", "content_quality", "audio_analysis",
             "audio_environment", "speech_emotion"]  # fmt: skip
    classes = [get(n) for n in names]
    with Models() as models:
        one = {c.name: o.table for c, o in run_all(Runner(cuts_media, models), classes, 1)}
        store = _CountingStore()
        got = list(run_all(Runner(cuts_media, models, store=store), classes, threads=4))
    assert [c.name for c, _ in got] == names
    for cls, outcome in got:
        assert not isinstance(outcome, Exception), (cls.name, outcome)
        assert outcome.table.equals(one[cls.name]), cls.name
    assert sorted(store.made) == sorted(set(store.made))
    assert {"shots", "global_motion", "frame_stats", "sound_events", "voice"} <= set(store.made)


def test_stage_threads_are_kept_from_one_stage_to_the_next(cuts_media):
    """Per-thread GPU state (cuDNN attention graphs and plans, cuBLAS workspaces) is built
    again on every new thread: Whisper's decoder spent 4.2 s in attention on a new thread
    against 0.08 s on a warm one (H200). So ``run_all`` runs a stage on the process's kept
    pool: the next stage (the next video, in a warm worker) runs on the same threads, never
    on the caller's."""
    import threading

    from analyzers.core.registry import get
    from analyzers.core.runner import run_all, stage_pool

    seen: list[set[int]] = []
    names = ["cut_analysis", "scene_segmentation", "temporal_flow", "color_analysis"]
    classes = [get(n) for n in names]
    run = Runner.run
    for _ in range(2):
        idents: set[int] = set()

        def spy(self, cls, overrides=None, _idents=idents):
            _idents.add(threading.get_ident())
            return run(self, cls, overrides)

        Runner.run = spy  # type: ignore[method-assign]
        try:
            with Models() as models:
                out = list(run_all(Runner(cuts_media, models), classes, threads=2))
        finally:
            Runner.run = run  # type: ignore[method-assign]
        assert [c.name for c, _ in out] == names
        assert not any(isinstance(o, Exception) for _, o in out)
        seen.append(idents)
    pool_threads = {t.ident for t in stage_pool(2)._threads}
    assert seen[0] | seen[1] <= pool_threads and len(pool_threads) <= 2
    assert threading.get_ident() not in seen[0] | seen[1]
    assert stage_pool(2) is stage_pool(2) and stage_pool(3) is not stage_pool(2)


def test_a_stages_signals_start_first_as_soon_as_it_is_called(cuts_media, monkeypatch):
    """``run_all(..., signals=[...])``: a stage's shared signals are its critical path
    (several analyzers wait on each), so they are submitted first and at once: made before
    the caller asks for the first outcome (the stage op reads them while the analyzers
    run). A signal that fails is raised to its readers, the others still run."""
    from analyzers.core.registry import get, get_signal
    from analyzers.core.runner import run_all

    names = ["cut_analysis", "color_analysis", "audio_environment"]
    classes = [get(n) for n in names]
    with Models() as models:
        runner = Runner(cuts_media, models, store=_CountingStore())
        outcomes = run_all(runner, classes, threads=2, signals=["sound_events"])
        deadline = time.time() + 120
        while "sound_events" not in runner.signal_info and time.time() < deadline:
            time.sleep(0.05)
        assert runner.signal_info["sound_events"]["source"] == "computed"  # before next()
        out = list(outcomes)
    assert [c.name for c, _ in out] == names
    assert not any(isinstance(o, Exception) for _, o in out)
    assert runner.store.made.count("sound_events") == 1

    def broken(self, media, config, inputs, models):
        raise RuntimeError("no sound model")

    monkeypatch.setattr(get_signal("sound_events"), "compute", broken)
    with Models() as models:
        out = dict(
            run_all(Runner(cuts_media, models), classes, threads=2, signals=["sound_events"])
        )
    assert "no sound model" in str(out[get("audio_environment")])
    assert not isinstance(out[get("cut_analysis")], Exception)


def test_attention_keeps_off_cudnn_on_a_gpu_unless_asked(monkeypatch):
    """``cuda_attention_defaults``: the first CUDA ``Models`` scope turns torch's cuDNN
    attention off (a graph built per shape per thread: 4.2 s of Whisper's decoding on a
    new thread, H200); ``TIKTOK_CUDNN_ATTENTION=1``, applied by the stage op before its
    scope, keeps it on and later scopes do not undo it. A torch stand-in records the
    switch, as this machine has no CUDA (tests/test_gpu.py checks a real one)."""
    import sys
    import types

    from analyzers.core import models as models_mod
    from resources.settings import Settings

    calls: list[bool] = []
    fake = types.SimpleNamespace(
        cuda=types.SimpleNamespace(is_available=lambda: True),
        backends=types.SimpleNamespace(cuda=types.SimpleNamespace(enable_cudnn_sdp=calls.append)),
    )
    monkeypatch.setitem(sys.modules, "torch", fake)
    monkeypatch.setattr(models_mod, "_cudnn_attention", [])
    Models(None, "cpu")
    assert calls == []  # a CPU scope leaves attention alone
    Models(None, "cuda:0")
    Models(None, "cuda:0")
    assert calls == [False]  # off once, by default
    monkeypatch.setenv("TIKTOK_CUDNN_ATTENTION", "1")
    models_mod.cuda_attention_defaults(Settings().cudnn_attention)
    Models(None, "cuda:0")
    assert calls == [False, True]  # the setting wins; a later scope keeps it
    monkeypatch.setattr(models_mod, "_cudnn_attention", [])
    monkeypatch.setenv("TIKTOK_CUDNN_ATTENTION", "0")
    models_mod.cuda_attention_defaults(Settings().cudnn_attention)
    assert calls == [False, True, False]
