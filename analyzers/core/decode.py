"""Probe and decode media with PyAV (bundled FFmpeg): the only place pixels are decoded.

``decode_video`` makes one pass over the video stream and writes two frame streams:
sampled frames at a working resolution (``frames.npy``) and every frame at a small size
(``lowres.npy``), each with an index of frame -> second and pts (seconds). Display
rotation (phones) is applied, and timing comes from pts, so variable frame rate works.

Which frames a second gets (the contract analyzers rely on): the sampled stream takes
frames at ``sample_fps`` targets, and every second ``0..n_seconds-1`` in which a frame is
on screen gets at least one sampled frame: when no target fell inside it (a clip lasting
4.2 s has only 0.2 s of its last second; a 29.97 fps clip of 4.004 s shows its last frame
for the first 4 ms of second 4), the last frame on screen in that second is sampled for
it: its own last frame, or the previous second's last frame when no frame begins in it. A
second with no frame on screen (video starting after the audio) has no sampled frame,
and frame analyzers write nulls / empty lists there. The low-resolution stream holds every
decoded frame once, under the second its pts falls in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from analyzers.core.media import AUDIO_RATE, FrameStream, Media
from analyzers.core.schema import n_seconds_for


class MediaError(ValueError):
    """The file cannot be analysed; ``str(err)`` is the reason shown to the user."""


@dataclass(frozen=True)
class VideoInfo:
    """Container facts. Sizes are in display orientation (rotation applied), durations in
    seconds, ``fps`` in frames per second, ``rotation`` in degrees counterclockwise."""

    duration_s: float
    fps: float
    width: int
    height: int
    rotation: int
    video_codec: str
    audio_codec: str | None
    has_audio: bool
    frame_count: int
    bit_rate: int
    format_name: str
    size_bytes: int
    variable_frame_rate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DecodeConfig:
    """Decode settings: ``sample_fps`` sampled frames per second at most ``max_side``
    pixels on the long side; every frame at most ``lowres_max_side`` pixels long side."""

    sample_fps: float = 2.0
    max_side: int = 640
    lowres_max_side: int = 160


@dataclass
class DecodeResult:
    """What ``decode_video`` wrote and saw. Times in seconds."""

    n_seconds: int
    duration_s: float
    video_fps: float
    frames_shape: tuple[int, ...]
    lowres_shape: tuple[int, ...]
    decoded_frames: int
    rotation: int
    error: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    first_pts_s: float = 0.0
    decoded_until_s: float = 0.0
    container_duration_s: float = 0.0
    complete: bool = True
    # (start, end) seconds of the stream lost to damaged packets that were skipped
    gaps: list[tuple[float, float]] = field(default_factory=list)
    damaged_packets: int = 0

    @property
    def missing_s(self) -> float:
        """Seconds of the container not analysed: lost in gaps, and after the stream's
        end when it stops short of the container's duration."""
        lost = sum(b - a for a, b in self.gaps)
        tail = max(0.0, self.container_duration_s - self.decoded_until_s)
        return lost + (tail if not self.complete else 0.0)


def _rotation_of(frame: av.VideoFrame) -> int:
    try:
        rot = round(frame.rotation or 0)
    except (AttributeError, ValueError):
        rot = 0
    return ((rot + 180) % 360) - 180 if rot else 0


def _rotate(img: np.ndarray, rotation: int) -> np.ndarray:
    # rotation is the display matrix angle (counterclockwise); np.rot90 k>0 is counterclockwise
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(img, k=k)) if k else img


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def reason(exc: BaseException) -> str:
    """What went wrong, in words: FFmpeg's own message without its error number and the
    path (``[Errno 1094995529] Invalid data found when processing input: 'x.mp4'`` ->
    ``invalid data found when processing input``)."""
    text = getattr(exc, "strerror", None) or str(exc)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(text)).strip()
    filename = getattr(exc, "filename", None)
    if filename:
        text = text.replace(f": '{filename}'", "").replace(f": {filename}", "")
    return (text[:1].lower() + text[1:]) if text else type(exc).__name__


def _open(path: str | os.PathLike[str]) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise MediaError(f"not a video file ({reason(exc)})") from exc


FALLBACK_FPS = 30.0


def frame_rate(vs: av.VideoStream) -> float:
    """The one frame-rate rule (frames per second): the stream's average rate, else the
    rate FFmpeg guesses, else its base rate, else 30 (the phone default)."""
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    return float(rate) if rate else FALLBACK_FPS


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Open ``path`` and decode its first video frame. Raises MediaError with the reason
    when the file is empty, not a media file, or has no decodable video stream."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise MediaError("empty file (0 bytes)")
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError("no video stream in file")
        vs = container.streams.video[0]
        first = None
        try:
            for frame in container.decode(vs):
                first = frame
                break
        except av.FFmpegError as exc:
            raise MediaError(f"video stream cannot be decoded ({reason(exc)})") from exc
        if first is None:
            raise MediaError("video stream has no decodable frames")
        rotation = _rotation_of(first)
        w, h = first.width, first.height
        if rotation % 180:
            w, h = h, w
        fps = frame_rate(vs)
        if container.duration:
            duration = container.duration / 1_000_000
        elif vs.duration and vs.time_base:
            duration = float(vs.duration * vs.time_base)
        else:
            duration = 0.0
        frames = int(vs.frames or 0) or round(duration * fps)
        audio = container.streams.audio[0] if container.streams.audio else None
        vfr = bool(vs.average_rate and vs.base_rate and vs.average_rate != vs.base_rate)
        return VideoInfo(
            duration_s=float(duration),
            fps=fps,
            width=int(w),
            height=int(h),
            rotation=rotation,
            video_codec=vs.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            has_audio=audio is not None,
            frame_count=frames,
            bit_rate=int(container.bit_rate or 0),
            format_name=container.format.name,
            size_bytes=size,
            variable_frame_rate=vfr,
        )


class _NpyWriter:
    """Appends equally shaped uint8 frames to an .npy file without holding them in memory."""

    _RESERVED_N = 10**9

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = None
        self.n = 0
        self.shape: tuple[int, ...] = ()

    def _header(self, n: int) -> bytes:
        import io

        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": "|u1", "fortran_order": False, "shape": (n, *self.shape)}
        )
        return buf.getvalue()

    def append(self, img: np.ndarray) -> None:
        if self.fh is None:
            self.shape = tuple(img.shape)
            self.fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
            self.fh.write(self._header(self._RESERVED_N))
        if tuple(img.shape) != self.shape:
            raise MediaError(f"frame size changed mid-stream: {img.shape} vs {self.shape}")
        self.fh.write(np.ascontiguousarray(img, dtype=np.uint8).tobytes())
        self.n += 1

    def close(self, empty_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.fh is None:
            np.save(self.path, np.zeros((0, *empty_shape), dtype=np.uint8))
            return (0, *empty_shape)
        header = self._header(self.n)
        if len(header) != len(self._header(self._RESERVED_N)):  # pragma: no cover - guard
            raise RuntimeError("npy header length changed")
        self.fh.seek(0)
        self.fh.write(header)
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        return (self.n, *self.shape)


def _scale(
    frame: av.VideoFrame,
    sizes: tuple[tuple[int, int], tuple[int, int]],
    rotation: int,
    small: bool,
    big: bool,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    (sw, sh), (lw, lh) = sizes
    out_small = out_big = None
    if small:
        low = frame.reformat(width=lw, height=lh, format="rgb24", interpolation="AREA")
        out_small = _rotate(low.to_ndarray(), rotation)
    if big:
        full = frame.reformat(width=sw, height=sh, format="rgb24", interpolation="AREA")
        out_big = _rotate(full.to_ndarray(), rotation)
    return out_small, out_big


def _scale_after(prev: Future[Any], *args: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``_scale(*args)`` once ``prev`` (an earlier job on the same frame) is done: one frame is
    never scaled on two threads at once (two PyAV ``reformat`` calls on one frame at once
    hung both threads). ``prev`` was submitted first, so it runs or has run: no wait on a
    job that has not started."""
    with contextlib.suppress(Exception):  # its own failure is reported by its own future
        prev.result()
    return _scale(*args)


def _start_s(container: av.container.InputContainer) -> float | None:
    """The container's start time in seconds (None when it does not say)."""
    return container.start_time / 1_000_000 if container.start_time is not None else None


def _declared_end(container: av.container.InputContainer, vs: av.VideoStream) -> float:
    """Where the container says the video stream ends, in seconds from the container's
    start (0 when it does not say)."""
    start = _start_s(container) or 0.0
    if vs.duration and vs.time_base:
        own = float(vs.start_time * vs.time_base) if vs.start_time is not None else start
        return own - start + float(vs.duration * vs.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return 0.0


def scale_threads() -> int:
    """Threads that scale decoded frames: one per core, at most 4. Measured on 60 s of
    1080x1920 H.264 on 2 cores: 9.3 s with one scaling thread, 6.0 s with two (swscale
    releases the GIL, so the scaling overlaps the decoder's own threads)."""
    return max(1, min(4, os.cpu_count() or 1))


def decode_video(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: DecodeConfig,
    threads: int | None = None,
) -> DecodeResult:
    """Decode every frame of ``path`` once into ``out_dir`` (frames.npy, lowres.npy, their
    index parquet files and manifest.json). A stream that breaks or ends early (truncated
    file) keeps what decoded and records where it stopped (``decoded_until_s`` against
    ``container_duration_s``, ``complete``, ``error``); nothing decodable raises MediaError.
    Times are seconds from the container's start, so a video stream that starts after
    the audio keeps its offset and the two stay in sync."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sampled = _NpyWriter(out / "frames.npy")
    lowres = _NpyWriter(out / "lowres.npy")
    s_idx: list[tuple[int, float, int]] = []  # frame, pts, second it is sampled for
    l_idx: list[tuple[int, float, int]] = []
    error: str | None = None
    rotation = 0
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError("no video stream in file")
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        fps = frame_rate(vs)
        t0 = _start_s(container)
        declared = _declared_end(container, vs)
        step = 1.0 / config.sample_fps
        next_target = 0.5 * step
        half_frame = 0.5 / fps
        sizes: tuple[tuple[int, int], tuple[int, int]] | None = None
        last_t = -1.0
        first_t: float | None = None
        # the second whose sampled frame is still owed, and the frame on screen for it
        sampled_upto = -1  # every second <= this has its sampled frame
        on_screen: tuple[float, av.VideoFrame, Future[Any]] | None = None
        # swscale releases the GIL: scaling runs on a worker thread while the decoder's
        # threads decode the next frames; a bounded queue keeps memory flat.
        Job = tuple[float, int, bool, bool, Future[tuple[np.ndarray | None, np.ndarray | None]]]
        pending: deque[Job] = deque()

        def drain(keep: int) -> None:
            while len(pending) > keep:
                t_frame, sec, in_low, in_sampled, fut = pending.popleft()
                small, big = fut.result()
                if in_low and small is not None:
                    lowres.append(small)
                    l_idx.append((len(l_idx), t_frame, sec))
                if in_sampled and big is not None:
                    sampled.append(big)
                    s_idx.append((len(s_idx), t_frame, sec))

        def owe_until(sec: int) -> None:
            """Give seconds sampled_upto+1 .. sec-1 the last frame on screen in them (the
            frame last decoded, whose own second is at most sampled_upto+1)."""
            nonlocal sampled_upto, on_screen
            assert sizes is not None
            while on_screen is not None and sampled_upto < sec - 1:
                sampled_upto += 1
                t_on, frame_on, prev = on_screen
                fut = pool.submit(_scale_after, prev, frame_on, sizes, rotation, False, True)
                pending.append((t_on, sampled_upto, False, True, fut))
                on_screen = (t_on, frame_on, fut)
            sampled_upto = max(sampled_upto, sec - 1)

        damaged: list[float] = []  # container times (s) of packets that failed to decode

        def frames() -> Iterator[av.VideoFrame]:
            """Every decodable frame: a damaged packet is skipped (its time recorded) and
            decoding goes on with the next, as ffmpeg does, instead of stopping there."""
            for packet in container.demux(vs):
                try:
                    yield from packet.decode()
                except av.FFmpegError:
                    if packet.pts is not None and packet.time_base is not None:
                        damaged.append(float(packet.pts * packet.time_base))
                    elif last_t >= 0:
                        damaged.append(last_t + (t0 or 0.0))

        gaps: list[tuple[float, float]] = []
        # frames are scaled in order-independent jobs and written in decode order
        workers = threads or scale_threads()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scale") as pool:
            try:
                for frame in frames():
                    if frame.pts is None or frame.time_base is None:
                        t = last_t + 1.0 / fps
                    else:
                        t = float(frame.pts * frame.time_base)
                        if t0 is None:
                            t0 = t
                        t -= t0
                    if t <= last_t - 1e-6:  # out-of-order or duplicate timestamp
                        continue
                    if (
                        on_screen is not None
                        and t - on_screen[0] > 1.5 / fps
                        and any(on_screen[0] < d - (t0 or 0.0) <= t for d in damaged)
                    ):
                        # frames lost to damaged packets: the seconds with no frame of
                        # their own stay empty (nulls), not filled with the picture before
                        gaps.append((on_screen[0] + 1.0 / fps, max(t, 0.0)))
                        owe_until(n_seconds_for(on_screen[0] + 1.0 / fps))
                        on_screen = None
                    last_t = max(t, 0.0)
                    if first_t is None:
                        first_t = last_t
                    if sizes is None:
                        rotation = _rotation_of(frame)
                        sizes = (
                            _fit(frame.width, frame.height, config.max_side),
                            _fit(frame.width, frame.height, config.lowres_max_side),
                        )
                    sec = int(np.floor(last_t + 1e-9))
                    owe_until(sec)  # seconds this frame's predecessor stayed on screen
                    take = last_t + half_frame >= next_target
                    while next_target <= last_t + half_frame:
                        next_target += step
                    if take:
                        sampled_upto = max(sampled_upto, sec)
                    fut = pool.submit(_scale, frame, sizes, rotation, True, take)
                    pending.append((last_t, sec, True, take, fut))
                    on_screen = (last_t, frame, fut)
                    drain(16 * workers)
            except (av.FFmpegError, MediaError) as exc:
                error = f"decoding stopped at {max(last_t, 0):.2f} s ({reason(exc)})"
            if on_screen is not None:
                end = last_t + 1.0 / fps
                owe_until(n_seconds_for(end))  # the last frame stays on screen until the end
            try:
                drain(0)  # frames decoded before an error are good: keep them
            except MediaError as exc:
                error = f"decoding stopped at {max(last_t, 0):.2f} s ({exc})"
                for *_, fut in pending:
                    fut.cancel()
    if not l_idx:
        raise MediaError(error or "video stream has no decodable frames")
    duration = last_t + 1.0 / fps
    n_sec = n_seconds_for(duration)
    first = first_t or 0.0
    gaps = [(round(a, 3), round(b, 3)) for a, b in gaps if b - a > 0.5 / fps]
    complete = error is None
    if complete and declared > 0 and duration < declared - max(0.5, 3.0 / fps):
        complete = False
        error = (
            f"the video stream ends at {duration:.2f} s but the container says "
            f"{declared:.2f} s: the file is truncated or damaged; analysed what decoded"
        )
    elif not complete:
        assert error is not None
        error += f" (of {declared:.2f} s); analysed what decoded"
    if damaged:
        lost = sum(b - a for a, b in gaps)
        where = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in gaps[:5])
        note = f"{len(damaged)} damaged video packet(s) skipped; " + (
            f"{lost:.2f} s without a picture ({where})" if gaps else "no picture lost"
        )
        error = f"{error}; {note}" if error else f"the file is damaged: {note}"
        complete = complete and not gaps
    f_shape = sampled.close((0, 0, 3))
    l_shape = lowres.close((0, 0, 3))
    for name, idx in (("index.parquet", s_idx), ("lowres_index.parquet", l_idx)):
        pts = np.array([p for _, p, _ in idx], dtype=np.float64)
        sec = np.minimum(np.array([s for *_, s in idx], dtype=np.int32), n_sec - 1)
        pq.write_table(
            pa.table(
                {
                    "frame": pa.array([i for i, _, _ in idx], pa.int32()),
                    "second": pa.array(sec, pa.int32()),
                    "pts": pa.array(pts, pa.float64()),
                }
            ),
            out / name,
        )
    result = DecodeResult(
        n_seconds=n_sec,
        duration_s=duration,
        video_fps=fps,
        frames_shape=f_shape,
        lowres_shape=l_shape,
        decoded_frames=len(l_idx),
        rotation=rotation,
        error=error,
        config=asdict(config),
        first_pts_s=round(first, 6),
        decoded_until_s=round(duration, 6),
        container_duration_s=round(declared, 6),
        complete=complete,
        gaps=gaps,
        damaged_packets=len(damaged),
    )
    (out / "manifest.json").write_text(json.dumps(asdict(result), indent=1))
    return result


def load_stream(folder: str | os.PathLike[str], name: str, fps: float) -> FrameStream:
    """Memory-map ``<name>.npy`` and its index from a decode folder."""
    folder = Path(folder)
    index_name = "index.parquet" if name == "frames" else f"{name}_index.parquet"
    idx = pq.read_table(folder / index_name)
    frames = np.load(folder / f"{name}.npy", mmap_mode="r")
    return FrameStream(
        frames=frames,
        seconds=idx.column("second").to_numpy(),
        pts=idx.column("pts").to_numpy(),
        fps=fps,
    )


def _frames_id(manifest: bytes, frames_dir: str | os.PathLike[str]) -> str:
    """Hash of a decode: its manifest and the pixels of three of its small frames."""
    h = hashlib.sha256(manifest)
    low = np.load(Path(frames_dir) / "lowres.npy", mmap_mode="r")
    for i in sorted({0, len(low) // 2, len(low) - 1}):
        if 0 <= i < len(low):
            h.update(np.ascontiguousarray(low[i]).tobytes())
    return h.hexdigest()[:16]


def build_media(
    video_id: str,
    frames_dir: str | os.PathLike[str],
    audio: np.ndarray | None,
    has_audio: bool,
    width: int,
    height: int,
    sample_rate: int = AUDIO_RATE,
    bit_rate: int = 0,
) -> Media:
    """A Media view over a decode folder and an audio array (trimmed/padded to fit);
    ``bit_rate`` of the source file in bits per second. ``frames_id`` is the hash of the
    decode's manifest, ``audio_id`` the hash of the samples: they key persisted signals."""
    raw_manifest = (Path(frames_dir) / "manifest.json").read_bytes()
    manifest = json.loads(raw_manifest)
    n_sec = int(manifest["n_seconds"])
    fps = float(manifest["video_fps"])
    if audio is None or len(audio) != n_sec * sample_rate:
        audio = fit_audio(None if audio is None else np.asarray(audio), n_sec, sample_rate)
    return Media(
        video_id=video_id,
        duration_s=float(manifest["duration_s"]),
        n_seconds=n_sec,
        video_fps=fps,
        width=width,
        height=height,
        frames=load_stream(frames_dir, "frames", float(manifest["config"]["sample_fps"])),
        lowres=load_stream(frames_dir, "lowres", fps),
        audio=audio,
        sample_rate=sample_rate,
        has_audio=has_audio,
        bit_rate=int(bit_rate),
        frames_id=_frames_id(raw_manifest, frames_dir),
        audio_id=hashlib.sha256(np.ascontiguousarray(audio).tobytes()).hexdigest()[:16]
        + ("" if has_audio else "-none"),
    )


def decode_media(
    path: str | os.PathLike[str],
    workdir: str | os.PathLike[str],
    video_id: str = "video",
    config: DecodeConfig | None = None,
) -> Media:
    """Decode ``path`` (frames into ``workdir``, audio in memory) into a Media, without
    Dagster: for tests, benchmarks and notebooks."""
    info = probe(path)
    decode_video(path, workdir, config or DecodeConfig())
    audio = decode_audio(path)
    return build_media(
        video_id,
        workdir,
        audio,
        audio is not None,
        info.width,
        info.height,
        bit_rate=info.bit_rate,
    )


def decode_audio(path: str | os.PathLike[str], sample_rate: int = AUDIO_RATE) -> np.ndarray | None:
    """Mono float32 samples at ``sample_rate`` Hz from the container's start (an audio
    stream that starts late is led by silence, so sample ``i`` is at ``i / sample_rate``
    seconds on the same clock as the frames' pts), or None when the file has no audio
    stream. Damaged packets are skipped and their time filled with silence, so what
    follows keeps its clock; a stream that breaks part-way keeps what decoded."""
    with _open(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        t0 = _start_s(container)
        have = 0  # samples so far

        def add(arr: np.ndarray) -> None:
            nonlocal have
            chunks.append(arr)
            have += len(arr)

        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    continue  # a damaged packet: skipped, its time filled with silence
                for frame in frames:
                    stamped = frame.pts is not None and frame.time_base is not None
                    if stamped and (t0 is not None or not chunks):
                        at = float(frame.pts * frame.time_base) - (t0 or 0.0)
                        # a late start, or packets lost before this one: silence up to it
                        if at * sample_rate - have > 0.02 * sample_rate or (
                            not chunks and at > 0.5 / sample_rate
                        ):
                            add(np.zeros(round(at * sample_rate) - have, np.float32))
                    for out in resampler.resample(frame):
                        add(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                add(out.to_ndarray().reshape(-1))
        except av.FFmpegError:
            pass
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def fit_audio(samples: np.ndarray | None, n_seconds: int, sample_rate: int) -> np.ndarray:
    """Trim or zero-pad ``samples`` to exactly ``n_seconds`` seconds."""
    n = n_seconds * sample_rate
    out = np.zeros(n, dtype=np.float32)
    if samples is not None and len(samples):
        m = min(n, len(samples))
        out[:m] = samples[:m]
    return out
