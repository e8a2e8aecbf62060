"""Speak one text with libespeak-ng (through ctypes) and write the result to stdout; run
as a script in a fresh process by ``synth.espeak`` (standard library only, so it starts
in milliseconds): libespeak-ng keeps state from one synthesis to the next in a process.

stdin: JSON ``{"text", "rate_wpm", "voice"}``. stdout: one JSON line ``{"rate": Hz,
"marks": [[text position, length, sample], ...]}`` (espeak-ng's word events), then the
16-bit mono samples."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import sys


def main() -> None:
    args = json.loads(sys.stdin.read())
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        sys.exit("espeak-ng is not installed: run scripts/install_system_deps.sh")

    class Event(ctypes.Structure):
        _fields_ = [
            ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
            ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
            ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8),
        ]  # fmt: skip

    callback_t = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event)
    )
    chunks: list[bytes] = []
    marks: list[tuple[int, int, int]] = []  # (text position, length, sample)

    def on_audio(wav, n, events):  # type: ignore[no-untyped-def]
        if n > 0:
            chunks.append(ctypes.string_at(wav, n * 2))
        i = 0
        while events[i].type != 0:  # espeakEVENT_LIST_TERMINATED
            if events[i].type == 1:  # espeakEVENT_WORD
                marks.append((events[i].text_position, events[i].length, events[i].sample))
            i += 1
        return 0

    rate = lib.espeak_Initialize(2, 0, None, 0)  # AUDIO_OUTPUT_SYNCHRONOUS
    cb = callback_t(on_audio)
    lib.espeak_SetSynthCallback(cb)
    lib.espeak_SetVoiceByName(args["voice"].encode())
    lib.espeak_SetParameter(1, int(args["rate_wpm"]), 0)  # espeakRATE, absolute
    data = args["text"].encode()
    lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 0, None, None)  # POS_CHARACTER, AUTO
    lib.espeak_Synchronize()
    out = sys.stdout.buffer
    out.write(json.dumps({"rate": rate, "marks": marks}).encode() + b"\n")
    out.write(b"".join(chunks))


if __name__ == "__main__":
    main()
