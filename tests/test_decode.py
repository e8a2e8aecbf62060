"""Decoding: one pass gives both streams, rotation matches ffmpeg's, timing comes from pts
(variable frame rate), broken files fail with a reason or keep what decoded."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from analyzers.core.decode import (
    DecodeConfig,
    MediaError,
    decode_audio,
    decode_video,
    probe,
    scale_threads,
)
from analyzers.core.synth import Segment, make_clip
from tests.conftest import SMALL, ffmpeg


def test_one_pass_writes_sampled_and_full_rate_streams(small_clip, tmp_path):
    res = decode_video(small_clip, tmp_path, DecodeConfig(sample_fps=2, max_side=320))
    assert res.n_seconds == 6 and res.decoded_frames == 180 and res.error is None
    frames = np.load(tmp_path / "frames.npy", mmap_mode="r")
    lowres = np.load(tmp_path / "lowres.npy", mmap_mode="r")
    assert frames.shape == (12, 320, 180, 3) and lowres.shape[0] == 180
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["n_seconds"] == 6
    import pyarrow.parquet as pq

    idx = pq.read_table(tmp_path / "index.parquet").to_pydict()
    assert idx["second"] == [s for s in range(6) for _ in range(2)]
    # samples sit near the quarter points of each second
    assert np.allclose(np.asarray(idx["pts"]) % 1, np.tile([0.25, 0.75], 6), atol=1 / 30)


def test_rotation_matches_ffmpeg_autorotate(tmp_path):
    flat = make_clip(tmp_path / "flat.mp4", [Segment("testsrc2", 1.0)], size=(320, 180))
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-i", str(flat), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
    info = probe(rotated)
    assert (info.width, info.height) == (180, 320) and info.rotation in (90, -90)
    decode_video(rotated, tmp_path / "d", DecodeConfig(lowres_max_side=160))
    ours = np.load(tmp_path / "d" / "lowres.npy")[0].astype(int)
    raw = tmp_path / "ff.raw"
    ffmpeg(
        "-i",
        str(rotated),
        "-frames:v",
        "1",
        "-vf",
        "scale=90:160",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        str(raw),
    )
    theirs = np.fromfile(raw, np.uint8).reshape(160, 90, 3).astype(int)
    assert np.abs(ours - theirs).mean() < 12  # same orientation; scaler rounding only
    assert np.abs(np.rot90(ours, 2) - theirs).mean() > 40  # and orientation matters


def test_variable_frame_rate_uses_timestamps(tmp_path):
    # 60 frames at 30 fps (0-2 s), then 20 frames at 10 fps (2-4 s); timebase 1/30
    vfr = tmp_path / "vfr.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x96:r=30",
        "-frames:v",
        "80",
        "-vf",
        "setpts='if(lt(N,60),N,60+(N-60)*3)'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(vfr),
    )
    res = decode_video(vfr, tmp_path / "d", DecodeConfig())
    import pyarrow.parquet as pq

    sec = pq.read_table(tmp_path / "d" / "lowres_index.parquet").column("second").to_numpy()
    counts = np.bincount(sec)
    assert res.n_seconds == 4
    assert counts[0] == 30 and counts[3] == 10, counts


def test_broken_inputs_get_reasons(tmp_path, small_clip):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    audio_only = tmp_path / "tone.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(audio_only))
    with pytest.raises(MediaError, match="empty file"):
        probe(empty)
    with pytest.raises(MediaError, match="not a video file") as err:
        probe(text)
    # words a user can read: no FFmpeg error number, no path repeated
    assert str(err.value) == "not a video file (invalid data found when processing input)"
    with pytest.raises(MediaError, match="no video stream"):
        probe(audio_only)


def test_truncated_file_keeps_what_decoded(tmp_path, small_clip):
    data = Path(small_clip).read_bytes()  # faststart: the index is at the front
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    info = probe(cut)
    res = decode_video(cut, tmp_path / "d", DecodeConfig())
    assert 1 <= res.n_seconds <= info.duration_s + 1
    assert res.decoded_frames < 180
    assert decode_audio(cut) is not None
    # the decode says where it stopped, against what the container promised
    assert info.duration_s == pytest.approx(6.0, abs=0.05)
    assert res.container_duration_s == pytest.approx(6.0, abs=0.05)
    # the last frame that decoded ends it (a B-frame or two before the cut may be lost)
    assert res.decoded_frames / 30 <= res.decoded_until_s <= res.decoded_frames / 30 + 0.2
    assert res.complete is False
    assert f"ends at {res.decoded_until_s:.2f} s" in res.error and "6.00 s" in res.error


def test_a_complete_file_says_so(small_clip, tmp_path):
    res = decode_video(small_clip, tmp_path / "d", DecodeConfig())
    assert res.complete and res.error is None
    assert res.decoded_until_s == pytest.approx(6.0, abs=1e-3)
    assert res.container_duration_s == pytest.approx(6.0, abs=0.05)


def test_no_audio_stream_is_none(silent_clip):
    assert decode_audio(silent_clip) is None
    assert probe(silent_clip).has_audio is False


def test_a_corrupt_middle_is_skipped_not_the_rest(tmp_path):
    """A quarter of an 8 s file overwritten in the middle: the decode skips the damaged
    packets and goes on (as many frames as ffmpeg itself recovers), records the gap, leaves
    the seconds inside it without a frame, and keeps the audio on its clock."""
    from analyzers.core.synth import damaged_copy

    clip = make_clip(
        tmp_path / "eight.mp4",
        [Segment("testsrc2", 8.0)],
        size=SMALL,
        audio_lavfi="sine=f=440:d=8:sample_rate=44100",
    )
    bad = damaged_copy(clip, tmp_path / "bad.mp4", start=0.4, length=0.25)
    counted = subprocess.run(
        [
            "ffprobe",
            "-v",
            "quiet",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(bad),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ffmpeg_frames = int(counted.stdout.strip())
    assert 150 < ffmpeg_frames < 230  # the damage does lose pictures

    res = decode_video(bad, tmp_path / "d", DecodeConfig())
    assert res.n_seconds == 8 and res.decoded_until_s == pytest.approx(8.0, abs=0.05)
    assert abs(res.decoded_frames - ffmpeg_frames) <= 3
    assert res.damaged_packets > 0 and not res.complete
    (a, b), *rest = res.gaps
    assert not rest and 2.0 < a < b < 6.5 and b - a > 1.0
    assert res.missing_s == pytest.approx(b - a)
    assert "damaged video packet(s) skipped" in res.error and f"{a:.2f}-{b:.2f} s" in res.error
    seconds = set(pq.read_table(tmp_path / "d" / "index.parquet").column("second").to_pylist())
    inside = {s for s in range(8) if a <= s and s + 1 <= b}  # no frame on screen in them
    assert inside and seconds == set(range(8)) - inside

    audio = decode_audio(bad)
    assert audio is not None and len(audio) == pytest.approx(8 * 16000, abs=1600)
    level = [float(np.sqrt(np.mean(audio[i * 16000 : (i + 1) * 16000] ** 2))) for i in range(8)]
    # the tone (lavfi sine: amplitude 1/8, RMS 0.088) on both sides of the damage
    assert level[0] > 0.08 and level[7] > 0.08


def test_scaling_threads_change_nothing_but_speed(small_clip, tmp_path):
    """Frames are scaled on a pool of threads (issue 17: one thread was the decode's
    bottleneck on a many-core GPU host) and written in decode order: 1 and 4 threads give
    byte-identical frame arrays, indexes and manifests."""
    one = decode_video(small_clip, tmp_path / "one", DecodeConfig(), threads=1)
    four = decode_video(small_clip, tmp_path / "four", DecodeConfig(), threads=4)
    assert one == four
    for name in ("frames.npy", "lowres.npy", "index.parquet", "lowres_index.parquet",
                 "manifest.json"):  # fmt: skip
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "four" / name).read_bytes()
    assert 1 <= scale_threads() <= 4


def test_scaling_threads_on_odd_timings_change_nothing(media_dir, tmp_path):
    """The odd timings re-use a frame for the seconds it stays on screen (a late first
    frame, a frame shown past a second's end): that frame is scaled again for the sampled
    stream while its first job may still run. With several threads the second job waits
    for the first (two reformats of one frame at once hung both threads): same output as
    one thread, and no hang (the test's timeout)."""
    from analyzers.core.synth import ODD_TIMINGS, odd_timing_clip

    for name in ODD_TIMINGS:
        clip = odd_timing_clip(media_dir, name)
        for _ in range(3):  # a race shows up only sometimes
            one = decode_video(clip, tmp_path / name / "one", DecodeConfig(), threads=1)
            four = decode_video(clip, tmp_path / name / "four", DecodeConfig(), threads=4)
            assert one == four, name
            for f in ("frames.npy", "lowres.npy", "index.parquet", "lowres_index.parquet"):
                a, b = tmp_path / name / "one" / f, tmp_path / name / "four" / f
                assert a.read_bytes() == b.read_bytes(), (name, f)
