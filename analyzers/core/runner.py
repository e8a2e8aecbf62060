"""The one analyzer runner: signals, then load -> analyze -> validate -> measure -> unload.

Used alike by the Dagster stage ops, the tests and the benchmarks, so what a test checks
is what a run does. One ``Runner`` serves one video (``Media``) inside one ``Models``
scope:

- ``signal(name)`` gives a signal's value for the configured settings: read from the
  signal store when a value for the same signal version, config, decode and weights is
  there (written by any earlier process), else computed once (its required signals
  first) and persisted. The key is a hash of all of that, so one config gives one
  answer everywhere and a changed setting never reads a stale value.
- ``run(cls)`` runs one analyzer with the signals it ``requires``; a CUDA out-of-memory
  error halves the Config's ``batch_size`` and retries (down to 1).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from analyzers.core.base import Analyzer, config_dict
from analyzers.core.files import atomic_write, atomic_write_bytes
from analyzers.core.media import Media
from analyzers.core.models import Models, release_cuda
from analyzers.core.registry import get_signal
from analyzers.core.schema import validate

T = TypeVar("T")
R = TypeVar("R")
Overrides = Mapping[str, Mapping[str, Any]]


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is a CUDA out-of-memory error (torch's class or its message)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return True
    return "out of memory" in str(exc).lower() and "cuda" in str(exc).lower()


def run_batched(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    batch_size: int,
    on_oom: Callable[[], None] | None = release_cuda,
) -> list[R]:
    """Apply ``fn`` to ``items`` in batches. On CUDA OOM the failing batch is retried once
    at half size (after ``on_oom``, which frees the cache); a second OOM is raised."""
    out: list[R] = []
    i = 0
    size = max(1, batch_size)
    while i < len(items):
        batch = items[i : i + size]
        try:
            out.extend(fn(batch))
        except Exception as exc:
            if not is_oom(exc) or size == 1:
                raise
            if on_oom:
                on_oom()
            half = max(1, size // 2)
            for j in range(0, len(batch), half):
                out.extend(fn(batch[j : j + half]))
        i += len(batch)
    return out


class SignalStore(Protocol):
    """Where signal values persist between processes."""

    def get(self, video_id: str, name: str, key: str) -> Any | None: ...

    def put(self, video_id: str, name: str, key: str, value: Any, info: dict) -> None: ...

    def path(self, video_id: str, name: str, key: str) -> str: ...


class FileSignalStore:
    """Signal values as files beside the decode: ``<root>/<video_id>/<name>/<key>.pkl``
    (pickle of the signal's value type) with ``<key>.json`` (config, timing, weights).
    Written atomically; an unreadable file counts as absent and is recomputed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, video_id: str, name: str, key: str) -> str:
        return str(self.root / video_id / name / f"{key}.pkl")

    def get(self, video_id: str, name: str, key: str) -> Any | None:
        p = Path(self.path(video_id, name, key))
        if not p.exists():
            return None
        try:
            return pickle.loads(p.read_bytes())
        except Exception:  # a value from incompatible code: recompute it
            return None

    def put(self, video_id: str, name: str, key: str, value: Any, info: dict) -> None:
        p = Path(self.path(video_id, name, key))
        data = pickle.dumps(value, protocol=5)
        atomic_write(
            p, lambda tmp: tmp.write_bytes(data), lambda tmp: pickle.loads(tmp.read_bytes())
        )
        atomic_write_bytes(p.with_suffix(".json"), json.dumps(info, default=str).encode())


class MemorySignalStore:
    """Signal values in this object only (tests and benchmarks that want no files)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str], Any] = {}

    def path(self, video_id: str, name: str, key: str) -> str:
        return f"memory:{video_id}/{name}/{key}"

    def get(self, video_id: str, name: str, key: str) -> Any | None:
        return self.values.get((video_id, name, key))

    def put(self, video_id: str, name: str, key: str, value: Any, info: dict) -> None:
        self.values[(video_id, name, key)] = value


@dataclasses.dataclass
class Outcome:
    """One analyzer's validated table and its measurements (the asset's metadata)."""

    table: pa.Table
    meta: dict[str, Any]


class Runner:
    """Runs analyzers and their signals on one ``media``.

    ``models``: the scope models load into (its device is the run's); ``overrides``:
    Config values by analyzer or signal name (the run's one config); ``store``: where
    signals persist (None: a private in-memory store, nothing shared)."""

    def __init__(
        self,
        media: Media,
        models: Models,
        overrides: Overrides | None = None,
        store: SignalStore | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.media = media
        self.models = models
        self.overrides = {k: dict(v) for k, v in (overrides or {}).items()}
        self.store: SignalStore = store if store is not None else MemorySignalStore()
        self.log = log or (lambda _msg: None)
        self._values: dict[str, Any] = {}
        self._keys: dict[str, str] = {}
        self.signal_info: dict[str, dict[str, Any]] = {}
        # one lock per signal: analyzers on threads (run_all) make each signal once
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @property
    def device(self) -> str:
        return self.models.device

    # ---- signals -----------------------------------------------------------------------
    def signal_config(self, name: str) -> Any:
        return get_signal(name).make_config(self.overrides.get(name))

    def signal_key(self, name: str) -> str:
        """Hash of everything the value depends on: signal version and config, the decode
        it reads, the weights it loads, and the keys of the signals it requires."""
        if name not in self._keys:
            cls = get_signal(name)
            config = self.signal_config(name)
            source = {
                "frames": [self.media.frames_id],
                "audio": [self.media.audio_id],
                "both": [self.media.frames_id, self.media.audio_id],
            }[cls.modality]
            weights = [self.models.resolve(s) for s in cls.required_weights(config)]
            doc = {
                "signal": name,
                "version": cls.version,
                "config": config_dict(config),
                "source": source,
                "weights": weights,
                "identity": cls().identity(config, self.models),
                "requires": {d: self.signal_key(d) for d in cls.requires},
            }
            blob = json.dumps(doc, sort_keys=True, default=str).encode()
            self._keys[name] = hashlib.sha256(blob).hexdigest()[:16]
        return self._keys[name]

    def signal(self, name: str) -> Any:
        """The value of signal ``name`` for this media and config (stored, else made).
        Thread-safe: a signal asked for by several threads at once is made once."""
        if name in self._values:
            return self._values[name]
        with self._locks_guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            return self._signal_locked(name)

    def _signal_locked(self, name: str) -> Any:
        if self._stored(name):
            return self._values[name]
        cls = get_signal(name)
        inputs = self.values(cls.requires)
        config = self.signal_config(name)
        t0 = time.perf_counter()
        value = cls().compute(self.media, config, inputs, self.models)
        wall = time.perf_counter() - t0
        info = self._record(name, value, "computed", wall)
        self.store.put(self.media.video_id, name, info["key"], value, info)
        self.log(f"  signal {name}: computed in {wall:.2f} s ({info['key']})")
        return value

    def _stored(self, name: str) -> bool:
        """Whether ``name``'s value is at hand: made in this runner, or in the store (then
        read now, and recorded as read)."""
        if name in self._values:
            return True
        value = self.store.get(self.media.video_id, name, self.signal_key(name))
        if value is None:
            return False
        self._record(name, value, "read", 0.0)
        return True

    def _record(self, name: str, value: Any, source: str, wall: float) -> dict[str, Any]:
        """Keep ``value`` for this runner and describe it (``signal_info``)."""
        cls, config, key = get_signal(name), self.signal_config(name), self.signal_key(name)
        sig = cls()
        info: dict[str, Any] = {
            "key": key,
            "path": self.store.path(self.media.video_id, name, key),
            "source": source,
            "wall_time_s": round(wall, 3),
            "weights_mode": sig.weights_mode(config, self.models),
            "config": config_dict(config),
            "version": cls.version,
            "summary": sig.summary(value),
        }
        self.signal_info[name] = info
        self._values[name] = value
        return info

    def values(self, names: Sequence[str]) -> dict[str, Any]:
        """The values of the signals ``names``."""
        return {n: self.signal(n) for n in names}

    def signals_for(self, cls: type[Analyzer]) -> dict[str, Any]:
        """The values of the signals ``cls`` requires (and only those)."""
        return self.values(cls.requires)

    def _required_mode(self, names: Sequence[str]) -> str:
        from analyzers.core.registry import closure

        modes = {
            self.signal_info[n]["weights_mode"]
            if n in self.signal_info  # the inputs of a stored value were never loaded
            else get_signal(n)().weights_mode(self.signal_config(n), self.models)
            for n in closure(list(names))
        }
        modes.discard("none")
        return "random" if "random" in modes else ("real" if modes else "none")

    # ---- analyzers ---------------------------------------------------------------------
    def run(self, cls: type[Analyzer], overrides: Mapping[str, Any] | None = None) -> Outcome:
        """Run analyzer ``cls`` (Config from ``overrides``, else the runner's) and return
        its validated table with measurements."""
        media = self.media
        config = cls.make_config(
            overrides if overrides is not None else self.overrides.get(cls.name)
        )
        t0 = time.perf_counter()
        signals = self.signals_for(cls)
        t_signals = time.perf_counter() - t0
        analyzer = cls()
        analyzer.load(self.device, self.models)
        t_load = time.perf_counter() - t0 - t_signals
        halvings = 0
        try:
            while True:
                try:
                    raw = analyzer.analyze(media, config, signals)
                    break
                except Exception as exc:
                    if not is_oom(exc) or config.batch_size <= 1:
                        raise
                    release_cuda()
                    halvings += 1
                    config = dataclasses.replace(config, batch_size=max(1, config.batch_size // 2))
                    self.log(f"  {cls.name}: CUDA out of memory, batch_size -> {config.batch_size}")
        finally:
            mode = analyzer.weights_mode
            analyzer.unload()
        if mode == "none" and cls.requires:
            mode = self._required_mode(cls.requires)  # type: ignore[assignment]
        table = validate(
            raw,
            analyzer=cls.name,
            output_schema=cls.output_schema,
            video_id=media.video_id,
            n_seconds=media.n_seconds,
        )
        wall = time.perf_counter() - t0
        meta: dict[str, Any] = {
            "rows": table.num_rows,
            "seconds": media.n_seconds,
            "model": cls.model,
            "weights_mode": mode,
            "device": self.device,
            "analyzer_version": cls.version,
            "wall_time_s": round(wall, 3),
            "load_time_s": round(t_load, 3),
            "signals_time_s": round(t_signals, 3),
            "x_realtime": round(media.duration_s / wall, 2) if wall > 0 else None,
            "config": config_dict(config),
            "signals": {
                n: f"{self.signal_info[n]['source']} {self.signal_info[n]['key']}"
                for n in cls.requires
            },
        }
        if halvings:
            meta["oom_halvings"] = halvings
        meta.update({k: v for k, v in analyzer.info.items() if k not in meta})
        return Outcome(table, meta)


def run_all(
    runner: Runner,
    classes: Sequence[type[Analyzer]],
    threads: int = 1,
    signals: Sequence[str] = (),
    signals_alone: bool = False,
) -> Iterator[tuple[type[Analyzer], Outcome | Exception]]:
    """Run ``classes`` on ``runner`` and yield ``(cls, outcome or the exception it raised)``
    in the order given. ``threads`` > 1 runs them on that many threads at once: the CPU
    analyzers of a stage (OpenCV, NumPy, MediaPipe, librosa release the GIL in their heavy
    parts) then overlap each other and the GPU ones, instead of the GPU waiting on one CPU
    core. Signals are still made once (per-signal locks) and models loaded one at a time
    (``models.LOAD_LOCK``), so the tables are the same as one at a time.

    ``signals``: the stage's shared signals (its visible signal assets: the transcript,
    the sound events), started first, at the head of the pool's queue and as soon as this
    is called, not when an analyzer that needs one gets a thread: they are the stage's
    critical path (several analyzers wait on each). Read them with ``runner.signal``; a
    failed one raises again there. One thread: made in order when first asked for.
    ``signals_alone``: the analyzers start once the signals are made (the signals still
    run side by side), so a GPU decoder does not share the GIL with the stage's CPU work."""

    def one(cls: type[Analyzer]) -> Outcome | Exception:
        try:
            return runner.run(cls)
        except Exception as exc:  # reported in order, like a sequential run would
            return exc

    def sequential() -> Iterator[tuple[type[Analyzer], Outcome | Exception]]:
        for cls in classes:
            yield cls, one(cls)

    if threads <= 1 or len(classes) + len(signals) <= 1:
        return sequential()
    pool = stage_pool(threads)
    made = [pool.submit(_signal_quietly, runner, name) for name in signals]
    if signals_alone:
        wait(made)
    futures = [(cls, pool.submit(one, cls)) for cls in classes]
    return ((cls, fut.result()) for cls, fut in futures)


def _signal_quietly(runner: Runner, name: str) -> None:
    """Make signal ``name`` ahead of its readers; an error is theirs to raise (the reader's
    ``runner.signal`` makes it again and raises)."""
    with contextlib.suppress(Exception):  # raised again where the signal is read
        runner.signal(name)


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def stage_pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool of ``threads`` analyzer threads, kept for the life of the process
    (a warm worker's): per-thread GPU state survives from one video to the next (cuDNN's
    execution plans and attention graphs, cuBLAS handles and their workspaces are kept per
    thread, and a new thread builds them again). Threads idle between stages. Keyed by
    process id too: a forked child inherits the dict but not the threads."""
    key = (os.getpid(), threads)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix="analyzer")
        return pool


def run_analyzer(
    cls: type[Analyzer],
    media: Media,
    store: Any = None,
    overrides: Overrides | None = None,
    signal_store: SignalStore | None = None,
    device: str = "cpu",
) -> Outcome:
    """Run one analyzer on ``media`` in a scope of its own (tests, notebooks):
    ``store`` resolves weights (a ModelStore, or None for random weights)."""
    with Models(store, device) as models:
        return Runner(media, models, overrides, signal_store).run(cls)
