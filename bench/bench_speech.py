"""Real-time factor of the default speech model (shipped whisper-base, faster-whisper int8).

    python -m bench.bench_speech [--cache-dir DIR]   (from the repository root)

Clips are English paragraphs spoken by espeak-ng: each alone (6-9 s, a typical voice
message) and in threes (about 22 s). Whisper encodes a fixed 30 s window whatever the clip's
length, so short clips cost nearly as much as long ones and their RTF is higher. Reported:
the one-time join of the shipped weights (only if the cache is empty), the model load, one
warm-up call, then per clip the transcription time over the audio's length (RTF; below 1 is
faster than real time) through the same `Speech` service the server uses, and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from autoglm_demo.settings import Settings
from autoglm_demo.speech import audio, shipped_weights
from autoglm_demo.speech.service import Speech, load_transcriber

PARAGRAPHS = [
    "Open the settings app, go to network and internet, and turn on the wifi. "
    "Then connect to the network called home office and tell me when it is done.",
    "Send a message to Alice saying that I will be late for dinner tonight, "
    "because the train is delayed by about twenty minutes.",
    "Search for the nearest coffee shop that is open now, show me the route on the map, "
    "and start navigation on foot.",
    "Please turn off the bluetooth, lower the screen brightness, enable the battery saver, "
    "and set an alarm for seven in the morning.",
    "Take a screenshot of this page, share it with my brother in the chat app, "
    "and add a short note asking him what he thinks about the design.",
    "Play some relaxing music on the phone speaker, set the volume to half, "
    "and stop the music automatically after thirty minutes.",
]


def speak(text: str, folder: Path, number: int) -> bytes:
    path = folder / f"clip{number}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    return path.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=Settings().cache_dir)
    args = parser.parse_args()
    settings = Settings(cache_dir=args.cache_dir, device="cpu")

    started = time.perf_counter()
    shipped_weights.shipped_model_dir(settings.cache_dir)
    print(
        f"weights ready (joined now if the cache was empty): {time.perf_counter() - started:.2f} s"
    )
    started = time.perf_counter()
    load_transcriber(settings)
    print(f"model load: {time.perf_counter() - started:.2f} s")

    speech = Speech(settings)
    with tempfile.TemporaryDirectory() as folder:
        short = [speak(text, Path(folder), n) for n, text in enumerate(PARAGRAPHS)]
        long = [
            speak(" ".join(PARAGRAPHS[start : start + 3]), Path(folder), 10 + start)
            for start in (0, 3)
        ]
        asyncio.run(speech.transcribe(short[0], "wav"))  # warm-up (and the service's own load)
        for name, clips in (("short", short), ("long", long)):
            ratios = [_rtf(speech, clip, f"{name} {n}") for n, clip in enumerate(clips)]
            print(f"median RTF, {name} clips ({len(ratios)}): {statistics.median(ratios):.3f}")


def _rtf(speech: Speech, clip: bytes, label: str) -> float:
    seconds = audio.decode(clip, max_seconds=600).size / audio.SAMPLE_RATE
    started = time.perf_counter()
    transcript = asyncio.run(speech.transcribe(clip, "wav"))
    elapsed = time.perf_counter() - started
    print(f"{label}: {seconds:5.1f} s audio, {elapsed:5.2f} s, RTF {elapsed / seconds:.3f}"
          f"  {transcript.text[:50]!r}")
    return elapsed / seconds

if __name__ == "__main__":
    main()
