"""Emotion in the voice: a wav2vec2 speech-emotion classifier per stretch of speech, and
prosody that needs no model.

- Classifier: ``Wav2Vec2ForSequenceClassification`` (transformers) with the SUPERB emotion
  head (neutral, happy, angry, sad) from the model home (``wav2vec2-ser``, e.g. the
  superb/wav2vec2-base-superb-er checkpoint); with random weights, the real architecture
  (for plumbing). Each Silero VAD stretch (split into pieces of at most ``max_segment_s``)
  is classified once; a second takes the stretch that covers most of it.
- Prosody per second, on its voiced part: pitch by probabilistic YIN (librosa ``pyin``,
  65-600 Hz) -> ``pitch_mean_hz`` and ``pitch_range_st`` (10th-90th percentile, in
  semitones); ``energy_db`` (RMS, dBFS).
- ``arousal`` 0-1 = mean of loudness ((energy_db + 50) / 40) and pitch movement
  (range / 12 semitones), both clipped; ``valence`` -1..1 = P(happy) - P(angry) - P(sad)
  from the classifier (null with random weights: no meaning to give it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from analyzers.core import (
    AUDIO_RATE,
    AudioAnalyzer,
    BaseConfig,
    Media,
    Models,
    WeightSpec,
    register,
)

SER_WEIGHTS = WeightSpec(
    name="wav2vec2-ser",
    relpath="wav2vec2-ser",
    hf_repo="superb/wav2vec2-base-superb-er",
    license="Apache-2.0",
    size_mb=380,
)
LABELS = {0: "neutral", 1: "happy", 2: "angry", 3: "sad"}
_SUPERB = {"neu": "neutral", "hap": "happy", "ang": "angry", "sad": "sad"}


@dataclass(frozen=True)
class EmotionConfig(BaseConfig):
    """``max_segment_s``: longest piece of speech classified at once (seconds);
    ``fmin``/``fmax``: pitch search range in Hz."""

    max_segment_s: float = 8.0
    fmin: float = 65.0
    fmax: float = 600.0


def prosody(
    wave: np.ndarray, sr: int, fmin: float = 65.0, fmax: float = 600.0
) -> dict[str, float | None]:
    """Pitch mean (Hz), pitch range (semitones, 10th-90th percentile), energy (dBFS) of a
    piece of voiced audio."""
    import librosa

    energy = float(10 * np.log10(np.mean(np.asarray(wave, np.float64) ** 2) + 1e-12))
    out: dict[str, float | None] = {
        "pitch_mean_hz": None,
        "pitch_range_st": None,
        "energy_db": energy,
    }
    if len(wave) < 2048:
        return out
    # 40 ms hops, 20 thresholds, 0.2-semitone bins: 5x cheaper than pyin's defaults (13 vs
    # 70 ms per second of speech on one core; it was the pipeline's costliest CPU step on
    # the GPU host, issue 17) and within 0.5% of their pitch on tones and sweeps
    f0, voiced, _ = librosa.pyin(
        np.asarray(wave, np.float32), fmin=fmin, fmax=fmax, sr=sr, frame_length=1024,
        hop_length=640, n_thresholds=20, resolution=0.2,
    )  # fmt: skip
    f0 = f0[voiced & np.isfinite(f0)]
    if len(f0) >= 3:
        lo, hi = np.percentile(f0, [10, 90])
        out["pitch_mean_hz"] = float(np.mean(f0))
        out["pitch_range_st"] = float(12 * np.log2(hi / lo))
    return out


def _load_ser(path: str | None, device: str) -> tuple[Any, Any]:
    """(wav2vec2 classifier, feature extractor) from ``path``, or of the real architecture
    with random weights when ``path`` is None."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForSequenceClassification,
    )

    if path is None:
        torch.manual_seed(0)
        cfg = Wav2Vec2Config(
            num_labels=len(LABELS), id2label=LABELS, label2id={v: k for k, v in LABELS.items()}
        )
        net = Wav2Vec2ForSequenceClassification(cfg)
        extractor = Wav2Vec2FeatureExtractor(
            sampling_rate=AUDIO_RATE, do_normalize=True, return_attention_mask=True
        )
    else:
        net = Wav2Vec2ForSequenceClassification.from_pretrained(path)
        extractor = Wav2Vec2FeatureExtractor.from_pretrained(path)
    return net.to(device).eval(), extractor


@register
class SpeechEmotion(AudioAnalyzer):
    """Voice emotion per second. ``emotion`` (neutral, happy, angry, sad) and ``probs``
    of the speech stretch covering the second (null without speech); prosody of the
    second's voiced audio: ``pitch_mean_hz``, ``pitch_range_st`` (semitones),
    ``energy_db`` (dBFS); ``arousal`` 0-1, ``valence`` -1..1 (see module doc);
    ``has_audio``."""

    name = "speech_emotion"
    version = "2"  # 2: cheaper pyin settings (issue 17)
    stage = "stage4_fast"
    Config = EmotionConfig
    requires = ("voice",)
    weights = (SER_WEIGHTS,)
    model = "wav2vec2-ser + pyin prosody"
    output_schema = pa.schema(
        [
            ("emotion", pa.string()),
            ("probs", pa.list_(pa.struct([("label", pa.string()), ("p", pa.float32())]))),
            ("pitch_mean_hz", pa.float32()),
            ("pitch_range_st", pa.float32()),
            ("energy_db", pa.float32()),
            ("arousal", pa.float32()),
            ("valence", pa.float32()),
            ("has_audio", pa.bool_()),
        ]
    )
    ranges = {
        "pitch_mean_hz": (0, 1000),
        "pitch_range_st": (0, None),
        "energy_db": (None, 6),
        "arousal": (0, 1),
        "valence": (-1, 1),
    }
    required = ("has_audio",)

    def __init__(self) -> None:
        super().__init__()
        self.net: Any = None
        self.extractor: Any = None
        self.labels: list[str] = list(LABELS.values())

    def load(self, device: str, models: Models) -> None:
        super().load(device, models)
        path, self.weights_mode = models.resolve(SER_WEIGHTS)
        self.net, self.extractor = models.get(
            ("wav2vec2-ser", path, device), lambda: _load_ser(path, device)
        )
        id2label = self.net.config.id2label
        self.labels = [_SUPERB.get(id2label[i], id2label[i]) for i in range(len(id2label))]

    def unload(self) -> None:
        super().unload()
        self.net = self.extractor = None

    def classify(self, wave: np.ndarray, sr: int) -> np.ndarray:
        """Class probabilities for one piece of speech."""
        import torch

        feats = self.extractor(np.asarray(wave, np.float32), sampling_rate=sr, return_tensors="pt")
        with torch.inference_mode():
            logits = self.net(feats["input_values"].to(self.device)).logits
        return torch.softmax(logits.float(), dim=-1)[0].cpu().numpy()

    def analyze(  # type: ignore[override]
        self, media: Media, config: EmotionConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        if not media.has_audio:
            return self.table(media, [{"second": s, "has_audio": False} for s in media.seconds()])
        sr = media.sample_rate
        audio = np.asarray(media.audio, np.float32)
        pieces: list[tuple[float, float]] = []
        for a, b in signals["voice"]:
            n = max(1, int(np.ceil((b - a) / config.max_segment_s)))
            step = (b - a) / n
            pieces += [(a + k * step, a + (k + 1) * step) for k in range(n)]
        probs = [self.classify(audio[int(a * sr) : int(b * sr)], sr) for a, b in pieces]
        rows = []
        for s in media.seconds():
            cover = [max(0.0, min(b, s + 1) - max(a, s)) for a, b in pieces]
            row: dict[str, Any] = {"second": s, "has_audio": True}
            if cover and max(cover) > 0:
                k = int(np.argmax(cover))
                p = probs[k]
                row["emotion"] = self.labels[int(np.argmax(p))]
                row["probs"] = [
                    {"label": lab, "p": float(v)} for lab, v in zip(self.labels, p, strict=False)
                ]
                if self.weights_mode == "real":
                    get = dict(zip(self.labels, p, strict=False))
                    row["valence"] = float(
                        get.get("happy", 0) - get.get("angry", 0) - get.get("sad", 0)
                    )
                voiced = np.concatenate(
                    [
                        audio[int(max(a, s) * sr) : int(min(b, s + 1) * sr)]
                        for (a, b), c in zip(pieces, cover, strict=True)
                        if c > 0
                    ]
                )
                pro = prosody(voiced, sr, config.fmin, config.fmax)
                row.update(pro)
                loud = float(np.clip((pro["energy_db"] + 50) / 40, 0, 1))
                move = float(np.clip((pro["pitch_range_st"] or 0.0) / 12, 0, 1))
                row["arousal"] = (loud + move) / 2
            rows.append(row)
        return self.table(media, rows)
