"""Decoding: one pass gives both streams, rotation matches ffmpeg's, timing comes from pts
(variable frame rate), broken files fail with a reason or keep what decoded."""

import json
from pathlib import Path

import numpy as np
import pytest

from analyzers.core.decode import DecodeConfig, MediaError, decode_audio, decode_video, probe
from analyzers.core.synth import Segment, make_clip
from tests.conftest import ffmpeg


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
