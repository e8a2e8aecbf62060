"""Where each face looks, per second: head pose plus the eyes' own turn, whether that
meets the camera, and blinks.

For each face of the ``faces`` signal (same face ids as emotion and age), a square crop
around it goes through MediaPipe Face Mesh with iris refinement (478 landmarks; the
model ships inside the mediapipe 0.10.21 wheel). From the landmarks, in frame pixels:

- head pose: the face's axes from the mesh's own 3-D landmarks (x, y and depth): left to
  right through the outer eye corners, down the facial plane from the nasion to the chin
  (upright when the head is level); the face looks along their cross product. (A
  ``solvePnP`` against a generic 3-D face, tried first, read a frontal portrait as 22
  degrees down: the generic points do not sit where Face Mesh puts its landmarks);
- the eyes' turn: the iris centre's offset from the middle of the eye, along the line of
  the eye corners (yaw) and across it (pitch), as a rotation of an eyeball whose radius
  is ``EYEBALL_RADIUS`` eye widths (an adult eyeball is ~24 mm across, an eye opening
  ~29 mm wide);
- ``gaze_yaw``/``gaze_pitch`` (degrees) = head + eyes; yaw positive towards the image's
  right, pitch positive up; 0, 0 is straight into the lens. ``looking_at_camera``: both
  within ``camera_deg``;
- ``eye_openness``: lid gap over eye width, mean of both eyes (~0.25-0.35 open, under
  ``blink_openness`` closed); ``blink``: an eye closed in one of the second's samples
  (blinks last 0.1-0.4 s: at 2 sampled frames per second most are missed; raise the
  decode's ``sample_fps`` to count them).

Per second, per face id, the mean over the second's sampled frames; the top-level values
are those of the main (largest) face. No face: empty ``faces``, null values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from analyzers.core import BaseConfig, FrameAnalyzer, Media, register
from analyzers.signals.faces import Face, FaceTracks, face_crop, main_face

EYEBALL_RADIUS = 0.41  # eye widths: 12 mm radius / 29 mm palpebral fissure
# head axes from Face Mesh landmarks: outer eye corners (image left, image right) give the
# face's left-right axis; nasion (between the eyes) to the front of the chin its up-down
# axis, the facial plane, upright when the head is level (Frankfort horizontal). Pitch
# keeps a person-dependent offset of up to ~10 degrees (faces differ in that plane)
EYE_CORNERS, NASION, CHIN = (33, 263), 168, 199
# per eye: outer corner, inner corner, upper lid, lower lid, iris centre (image-left eye first)
EYES = ((33, 133, 159, 145, 468), (263, 362, 386, 374, 473))

FACE_TYPE = pa.struct(
    [
        ("face_id", pa.int32()),
        ("gaze_yaw", pa.float32()),
        ("gaze_pitch", pa.float32()),
        ("head_yaw", pa.float32()),
        ("head_pitch", pa.float32()),
        ("looking_at_camera", pa.bool_()),
        ("eye_openness", pa.float32()),
        ("blink", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class GazeConfig(BaseConfig):
    """``camera_deg``: largest gaze angle (degrees) still counted as looking at the
    camera; ``blink_openness``: eye openness under which an eye is closed;
    ``crop_px``: side the face crop is scaled to for the mesh (pixels)."""

    camera_deg: float = 15.0
    blink_openness: float = 0.12
    crop_px: int = 256


def head_pose(lm: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of a head from Face Mesh landmarks ``lm`` (N x 3: x right,
    y down, z away from the camera, all in pixels): yaw positive when the face turns to
    the image's right, pitch positive when it tilts up."""
    right = lm[EYE_CORNERS[1]] - lm[EYE_CORNERS[0]]
    down = lm[CHIN] - lm[NASION]
    x = right / max(np.linalg.norm(right), 1e-9)
    y = down - (down @ x) * x
    y = y / max(np.linalg.norm(y), 1e-9)
    fwd = -np.cross(x, y)  # x right, y down: x cross y points away; the face looks back
    yaw = float(np.degrees(np.arctan2(fwd[0], -fwd[2])))
    pitch = float(np.degrees(np.arctan2(-fwd[1], np.hypot(fwd[0], fwd[2]))))
    return yaw, pitch


def eye_turn(lm: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch) in degrees of the eyes in the head and the eyes' openness, from
    Face Mesh landmarks ``lm`` (478 x 2, pixels)."""
    yaws, pitches, opens = [], [], []
    for outer, inner, upper, lower, iris in EYES:
        a, b = lm[outer], lm[inner]
        axis = b - a
        width = float(np.linalg.norm(axis))
        if width < 1e-6:
            continue
        u = axis / width
        n = np.array([-u[1], u[0]])
        n = n if n[1] >= 0 else -n  # perpendicular to the eye line, pointing down the image
        mid = (a + b) / 2
        off = lm[iris] - mid
        along = float(off @ u) / width  # towards the inner corner
        # towards the image's right: the image-left eye's inner corner is on its right
        right = along if b[0] >= a[0] else -along
        yaws.append(np.degrees(np.arcsin(np.clip(right / EYEBALL_RADIUS, -1, 1))))
        lid_mid = (lm[upper] + lm[lower]) / 2
        down = float((lm[iris] - lid_mid) @ n) / width
        pitches.append(np.degrees(np.arcsin(np.clip(-down / EYEBALL_RADIUS, -1, 1))))
        opens.append(float(np.linalg.norm(lm[upper] - lm[lower])) / width)
    if not yaws:
        return 0.0, 0.0, 0.0
    return float(np.mean(yaws)), float(np.mean(pitches)), float(np.mean(opens))


class _Mesh:
    """MediaPipe Face Mesh with iris landmarks, one face per (cropped) image."""

    def __init__(self) -> None:
        import mediapipe as mp

        self.graph = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=0.3,
        )  # fmt: skip

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """478 x 3 landmarks in ``rgb``'s pixels (z: depth on the x scale), or None."""
        res = self.graph.process(np.ascontiguousarray(rgb))
        if not res.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        return np.array([(p.x * w, p.y * h, p.z * w) for p in res.multi_face_landmarks[0].landmark])


def gaze_of(frame: np.ndarray, face: Face, mesh: Any, config: GazeConfig) -> dict[str, Any] | None:
    """Gaze, head pose, openness of one face in one frame (None: no mesh found)."""
    crop, (x0, y0) = face_crop(frame, face.box, pad=0.5, square=True)
    if crop.size == 0:
        return None
    scale = config.crop_px / max(crop.shape[:2])
    big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    lm = mesh(big)
    if lm is None:
        return None
    lm = lm / scale + np.array([x0, y0, 0.0])  # back to frame pixels
    head_yaw, head_pitch = head_pose(lm)
    eye_yaw, eye_pitch, openness = eye_turn(lm[:, :2])
    yaw, pitch = head_yaw + eye_yaw, head_pitch + eye_pitch
    return {
        "gaze_yaw": yaw,
        "gaze_pitch": pitch,
        "head_yaw": head_yaw,
        "head_pitch": head_pitch,
        "eye_openness": openness,
    }


@register
class EyeTracking(FrameAnalyzer):
    """Gaze per face and second (degrees; see module doc): ``n_faces``, ``faces``
    (face_id, gaze/head yaw and pitch, looking_at_camera, eye_openness, blink) and the
    main face's ``gaze_yaw``, ``gaze_pitch``, ``looking_at_camera``, ``blink``."""

    name = "eye_tracking"
    version = "1"
    stage = "stage3_light"
    Config = GazeConfig
    requires = ("faces",)
    model = "mediapipe-face-mesh-iris"
    output_schema = pa.schema(
        [
            ("n_faces", pa.int32()),
            ("faces", pa.list_(FACE_TYPE)),
            ("gaze_yaw", pa.float32()),
            ("gaze_pitch", pa.float32()),
            ("looking_at_camera", pa.bool_()),
            ("blink", pa.bool_()),
        ]
    )
    ranges = {"n_faces": (0, None), "gaze_yaw": (-90, 90), "gaze_pitch": (-90, 90)}

    def analyze(  # type: ignore[override]
        self, media: Media, config: GazeConfig, signals: Mapping[str, Any]
    ) -> pa.Table:
        assert self.models is not None
        tracks: FaceTracks = signals["faces"]
        mesh = self.models.get(("mediapipe-face-mesh",), _Mesh)
        self.weights_mode = "real"  # the mesh ships inside the mediapipe wheel
        rows = []
        for s in media.seconds():
            idx = media.frames.sample(s, config.sample_fps)
            if len(idx) == 0:
                rows.append({"second": s})
                continue
            seen: dict[int, list[dict[str, Any]]] = {}
            found = tracks.at(idx)
            for i, f in found:
                g = gaze_of(np.asarray(media.frames.frames[i]), f, mesh, config)
                if g is not None:
                    seen.setdefault(f.face_id, []).append(g)
            faces = []
            for fid, gs in sorted(seen.items()):
                m = {k: float(np.mean([g[k] for g in gs])) for k in gs[0]}
                m["looking_at_camera"] = bool(
                    abs(m["gaze_yaw"]) <= config.camera_deg
                    and abs(m["gaze_pitch"]) <= config.camera_deg
                )
                m["blink"] = any(g["eye_openness"] < config.blink_openness for g in gs)
                faces.append({"face_id": fid, **m})
            row: dict[str, Any] = {
                "second": s,
                "n_faces": tracks.most(idx),
                "faces": faces,
            }
            main = main_face([f for _, f in found if f.face_id in seen])
            if main is not None:
                m = next(x for x in faces if x["face_id"] == main.face_id)
                row |= {k: m[k] for k in ("gaze_yaw", "gaze_pitch", "looking_at_camera", "blink")}
            rows.append(row)
        return self.table(media, rows)
