"""Page benchmark: from pressing send in the real page to the first answer text in Chromium,
and where that time goes, stage by stage.

`python app.py` runs in a subprocess (page and API in one process, as deployed), or with
`--remote`, a second server (`python -m autoglm_demo serve`) answers and the page reaches
it through `--backend-url`. Each round times one turn twice, in alternating order: in the
browser (Playwright), and as a direct SSE request with the exact body the page sends to
the server that answers. The difference is what the page (Gradio's queue, its own API
client, rendering) adds to TTFT. A third path in the same rounds is a peer: a bare Gradio
page (`bench.bare_page`: one textbox, one Chatbot, one streaming event) in front of the same
server, which measures what Gradio itself adds, the floor under the page's figure.

Every page turn is also cut into stages, all on one clock (the epoch, on one machine):
- in the browser: the Enter keydown (a capture-phase listener), Gradio's queue/join request
  and the first queue/data frame that carries the answer (CDP's Network domain), and the
  first answer text in the DOM (a MutationObserver);
- in the servers: `autoglm_demo.stages` marks (event received, client request sent, API
  request received, first text out of the API, first text into the client, first update
  yielded), switched on for the benchmark by `bench.staged`.

The final answer must equal a non-streamed greedy answer, and every intermediate text must
be a prefix of it: no token dropped or reordered on the way.

    python -m bench.bench_page [--repeats 7] [--remote] [--no-peer] [--pause S]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import CDPSession, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from autoglm_demo.ui.event_stream import LINGER_S
from bench.common import (
    DEFAULT_CACHE_DIR,
    LOOPBACK,
    StreamTiming,
    free_port,
    loopback_url,
    machine,
    markdown_table,
    median,
    offline_env,
    server_process,
    timed_sse,
    write_results,
)
from bench.staged import read_marks

# Plain prose, so the rendered Markdown reads back as the text the model wrote.
PROMPT = "Explain in two sentences what a phone agent does."
MODEL = "autoglm-phone-9b"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # Nothing may leave the machine (web fonts and the like): every request but those to
    # loopback, which Chromium never proxies, goes to a proxy port where nothing listens.
    # Blocked in the browser's network stack rather than by Playwright's request
    # interception, which holds every request for a round trip through this process: 15-20
    # ms added to each queue/join, measured, that no user of the page pays.
    f"--proxy-server={LOOPBACK}:9",
]
TIMEOUT_MS = 120_000
# A user types the next question: by then the page has closed its event stream, and the
# turn's join opens a new one, as every turn of the bare peer does.
TYPING_PAUSE_S = LINGER_S + 0.5
ANSWER = '#chatbot [data-testid="bot"] .message-content'
PEER_ENDED = "stream ended"  # the bare peer page's last bubble, once its stream is over

# Installed once per page; times are epoch milliseconds, as the stage marks' seconds. In a
# one-turn chat the answer is the first bot bubble (the metrics footer becomes a second one
# when the stream ends).
WATCH_JS = (
    """
() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__bench = {sent: null, changes: [], last: ''};
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && event.target.closest('#message')) {
      window.__bench.sent = now();
    }
  }, true);
  new MutationObserver(() => {
    const at = now();
    const text = document.querySelector('%s')?.innerText ?? '';
    if (text !== window.__bench.last) {
      window.__bench.last = text;
      window.__bench.changes.push([at, text]);
    }
  }).observe(document.querySelector('#chatbot'),
             {subtree: true, childList: true, characterData: true});
}
"""
    % ANSWER
)
RESET_JS = (
    "() => { window.__bench.sent = null; window.__bench.changes = []; window.__bench.last = ''; }"
)

# One page turn's stages, in the order a turn passes them: (name, from, to). Marks named
# `browser.*` come from Chromium, the others from `autoglm_demo.stages` in the servers.
STAGES = [
    ("keydown to queue/join sent", "browser.keydown", "browser.join_sent"),
    ("Gradio: join to event function", "browser.join_sent", "page.event"),
    ("show question, build request", "page.event", "client.request"),
    ("page's HTTP request to /v1", "client.request", "api.request"),
    ("server: request to first text (model TTFT)", "api.request", "api.first_text"),
    ("SSE to the page's client", "api.first_text", "client.first_text"),
    ("handler to first update", "client.first_text", "page.first_update"),
    ("Gradio: update to frame in browser", "page.first_update", "browser.first_frame"),
    ("browser: frame to visible text", "browser.first_frame", "browser.first_text"),
]


@dataclass(frozen=True)
class PageTurn:
    ttft_s: float
    updates: int
    """How many times the answer's text changed on screen."""
    in_order: bool
    """Every text shown was a prefix of the final one."""
    text: str
    marks: dict[str, float] = field(default_factory=dict)
    """Epoch seconds of each stage this turn reached (first occurrence)."""
    frames: int = 0
    """queue/data frames the browser received for this turn."""
    frame_bytes: int = 0


@dataclass(frozen=True)
class HttpTurn:
    timing: StreamTiming
    marks: dict[str, float]

    @property
    def ttft_s(self) -> float:
        return self.timing.ttft_s


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_page", description=__doc__)
    parser.add_argument("--repeats", type=int, default=7, help="measured rounds (after a warm-up)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument(
        "--remote",
        action="store_true",
        help="answer from a second server on loopback, reached via --backend-url",
    )
    parser.add_argument(
        "--no-peer", action="store_true", help="leave out the bare Gradio page (bench.bare_page)"
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=TYPING_PAUSE_S,
        help="seconds between a page's last event and the next Enter (default: as a user who "
        "types, past the time the page holds its event stream open; 0: sent at once)",
    )
    return parser.parse_args()


def page_body(model: str, max_tokens: int, *, stream: bool) -> dict[str, Any]:
    """The request the page's client sends for a one-turn chat at temperature 0."""
    return {
        "model": model,
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
        "stream": stream,
        **({"stream_options": {"include_usage": True}} if stream else {}),
        "temperature": 0.0,
        "top_p": 1.0,
        "max_tokens": max_tokens,
        "enable_thinking": True,
        "return_reasoning": True,
        "chat_template_kwargs": {"enable_thinking": True},
    }


def normalise(text: str) -> str:
    """Whitespace as Markdown rendering leaves it is not a token; compare words only."""
    return " ".join(text.split())


# -- the servers' stage marks ----------------------------------------------------------------


class StageLogs:
    """The stage log files of every server in the run, read by time window."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths: list[Path] = []

    def new(self, name: str) -> Path:
        path = self.folder / f"{name}.log"
        path.touch()
        self.paths.append(path)
        return path

    def between(self, start: float, end: float) -> dict[str, float]:
        """The first time each stage was reached within [start, end] (epoch seconds)."""
        found: dict[str, float] = {}
        for path in self.paths:
            for stage, at in read_marks(path):
                if start <= at <= end and (stage not in found or at < found[stage]):
                    found[stage] = at
        return found


# -- the browser's network frames ------------------------------------------------------------


class QueueFrames:
    """Gradio's queue traffic as Chromium's network stack sees it (CDP), on the epoch clock.

    Each queue/data response is a stream of SSE frames. CDP reports when every chunk of bytes
    arrived (`dataReceived`), but hands over the bytes themselves only once asked to stream
    them, and what came before that as one buffer; so a frame's arrival time is that of the
    chunk that completed it, found by byte offset.
    """

    def __init__(self, cdp: CDPSession, blocked: list[str]) -> None:
        self.cdp = cdp
        self.blocked = blocked  # requests that tried to leave the machine (all fail)
        self.since = 0.0  # frames before this (epoch seconds) belong to earlier turns
        self.offset = 0.0  # epoch seconds minus CDP's monotonic seconds
        self.join_sent: list[float] = []
        self.join_done: list[float] = []
        self.data_opened: list[float] = []
        self._join_requests: set[str] = set()
        self._received: dict[str, list[tuple[float, int]]] = {}  # per stream: (time, bytes)
        self._bodies: dict[str, bytearray] = {}
        self._buffered: dict[str, bytes] = {}

    async def start(self) -> None:
        self.cdp.on("Network.requestWillBeSent", self._request)
        self.cdp.on("Network.responseReceived", self._response)
        self.cdp.on("Network.dataReceived", self._data)
        await self.cdp.send("Network.enable")

    def _request(self, event: dict[str, Any]) -> None:
        self.offset = event["wallTime"] - event["timestamp"]
        url, at = event["request"]["url"], event["timestamp"] + self.offset
        if url.startswith(("http", "ws")) and not url.startswith(f"http://{LOOPBACK}:"):
            self.blocked.append(url)
        elif url.split("?")[0].endswith("/queue/join"):
            self.join_sent.append(at)
            self._join_requests.add(event["requestId"])
        elif "/queue/data" in url:
            self.data_opened.append(at)
            self._received[event["requestId"]] = []
            self._bodies[event["requestId"]] = bytearray()

    def _response(self, event: dict[str, Any]) -> None:
        if event["requestId"] in self._join_requests:
            self.join_done.append(event["timestamp"] + self.offset)
        elif event["requestId"] in self._bodies:
            asyncio.ensure_future(self._stream(event["requestId"]))

    async def _stream(self, request_id: str) -> None:
        try:
            result = await self.cdp.send("Network.streamResourceContent", {"requestId": request_id})
        except PlaywrightError:  # a short stream (not an answer's) ended before it was asked
            return
        self._buffered[request_id] = base64.b64decode(result.get("bufferedData", ""))

    def _data(self, event: dict[str, Any]) -> None:
        request_id = event["requestId"]
        if request_id in self._received:
            self._received[request_id].append(
                (event["timestamp"] + self.offset, event["dataLength"])
            )
            if event.get("data"):
                self._bodies[request_id] += base64.b64decode(event["data"])

    def frames(self) -> list[tuple[float, str]]:
        """Every queue/data frame received since the last `reset`, with the time its last
        byte arrived."""
        frames = []
        for request_id, received in self._received.items():
            body = self._buffered.get(request_id, b"") + bytes(self._bodies[request_id])
            end = 0
            for frame in body.split(b"\n\n")[:-1]:
                end += len(frame) + 2
                total = 0
                for at, length in received:
                    total += length
                    if total >= end:
                        if at >= self.since:
                            frames.append((at, frame.decode(errors="replace")))
                        break
        return sorted(frames)

    def reset(self) -> None:
        """Start a new turn. A stream still open (the page holds its event stream open a
        moment after each event) goes on being read: the next turn's frames may come on it."""
        for marks in (self.join_sent, self.join_done, self.data_opened):
            marks.clear()
        self.since = time.time()


def first_answer_frame(frames: list[tuple[float, str]]) -> float | None:
    """When the first frame arrived that adds an assistant message (the answer's first text)."""
    for at, payload in frames:
        if '"process_generating"' in payload and '"assistant"' in payload:
            return at
    return None


# -- the page --------------------------------------------------------------------------------


async def open_page(
    browser: Any, base: str, max_tokens: int | None, blocked: list[str]
) -> tuple[Page, QueueFrames]:
    """The page at `base`, watched; `max_tokens` None: a page without answer settings (the
    bare peer, which sends the benchmark's settings itself)."""
    context = await browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    frames = QueueFrames(await context.new_cdp_session(page), blocked)
    await frames.start()
    await page.goto(base + "/")
    if max_tokens is None:
        await page.locator("#message textarea").wait_for(timeout=TIMEOUT_MS)
    else:
        # The model list arrives with the page's load event; the precision radio shows it.
        await page.locator("#precision").get_by_text(MODEL).first.wait_for(timeout=TIMEOUT_MS)
        await set_number(page, page.get_by_label("number input for Temperature"), "0")
        await set_number(page, page.locator("#max-tokens input[type=number]"), str(max_tokens))
    await page.evaluate(WATCH_JS)
    return page, frames


async def set_number(page: Page, field: Any, value: str) -> None:
    await field.fill(value)
    await field.press("Enter")
    if float(await field.input_value()) != float(value):
        raise RuntimeError(f"the page did not take {value}")


async def browser_turn(
    page: Page,
    frames: QueueFrames,
    logs: StageLogs,
    pause_s: float,
    *,
    ended: str = "first token",
) -> PageTurn:
    """One turn sent with Enter `pause_s` after the last one was cleared; `ended` is the text
    the page shows once the stream is over (the real page's metrics footer names the first
    token)."""
    await page.evaluate(RESET_JS)
    await page.locator("#message textarea").fill(PROMPT)
    await asyncio.sleep(pause_s)
    frames.reset()
    await page.locator("#message textarea").press("Enter")
    await page.locator("#chatbot").get_by_text(ended).wait_for(timeout=TIMEOUT_MS)
    bench = await page.evaluate("() => window.__bench")
    final = normalise(await page.locator(ANSWER).first.inner_text())
    shown = [(at / 1000, normalise(text)) for at, text in bench["changes"] if normalise(text)]
    sent = bench["sent"] / 1000
    marks = logs.between(sent, time.time())
    marks.update({"browser.keydown": sent, "browser.first_text": shown[0][0]})
    received = frames.frames()
    for name, times in [
        ("join_sent", frames.join_sent),
        ("join_done", frames.join_done),
        ("data_opened", frames.data_opened),
        ("frame", [t for t, _ in received]),
    ]:
        if times:
            marks[f"browser.{name}"] = min(times)
    if (frame := first_answer_frame(received)) is not None:
        marks["browser.first_frame"] = frame
    turn = PageTurn(
        ttft_s=shown[0][0] - sent,
        updates=len(shown),
        in_order=all(final.startswith(text) for _, text in shown),
        text=final,
        marks=marks,
        frames=len(received),
        frame_bytes=sum(len(payload) for _, payload in received),
    )
    await clear(page)
    return turn


async def clear(page: Page) -> None:
    await page.locator("#clear").click()
    await page.wait_for_function(f"() => !document.querySelector('{ANSWER}')", timeout=TIMEOUT_MS)


async def default_model(client: httpx.AsyncClient, api_base: str) -> str:
    """The variant the page picks: the one the server marks as its default."""
    models = (await client.get(f"{api_base}/v1/models", timeout=60)).json()["data"]
    return next((m["id"] for m in models if m.get("default")), models[0]["id"])


async def http_turn(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], logs: StageLogs
) -> HttpTurn:
    started = time.time()
    timing = await timed_sse(client, url, body)
    return HttpTurn(timing, logs.between(started, time.time()))


# -- the run ---------------------------------------------------------------------------------


async def run(
    args: argparse.Namespace, bases: dict[str, str], logs: StageLogs
) -> dict[str, Any]:
    """Warm up, then measure each path in every round, rotating which goes first."""
    page_base, api_base = bases["page"], bases["api"]
    url = f"{api_base}/v1/chat/completions"
    blocked: list[str] = []
    async with httpx.AsyncClient() as client, async_playwright() as playwright:
        model = await default_model(client, api_base)
        body = page_body(model, args.max_tokens, stream=True)
        reference = await client.post(
            url, json=page_body(model, args.max_tokens, stream=False), timeout=180
        )
        expected = reference.json()["choices"][0]["message"]["content"]
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page, frames = await open_page(browser, page_base, args.max_tokens, blocked)
        measure = {
            "http": lambda: http_turn(client, url, body, logs),
            "page": lambda: browser_turn(page, frames, logs, args.pause),
        }
        if "peer" in bases:
            peer, peer_frames = await open_page(browser, bases["peer"], None, blocked)
            measure["peer"] = lambda: browser_turn(
                peer, peer_frames, logs, args.pause, ended=PEER_ENDED
            )
        for warm_up in measure.values():
            await warm_up()
        runs: dict[str, list[Any]] = {name: [] for name in measure}
        names = list(measure)
        for round_number in range(args.repeats):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                runs[name].append(await measure[name]())
            print(
                f"  round {round_number + 1}: "
                + ", ".join(f"{name} {runs[name][-1].ttft_s * 1000:.0f} ms" for name in names),
                file=sys.stderr,
            )
        await browser.close()
    return {"model": model, "expected": expected, "runs": runs, "blocked": blocked}


def stage_ms(turn: PageTurn) -> dict[str, float | None]:
    """Each stage's duration in this turn; None where a mark is missing."""
    durations: dict[str, float | None] = {}
    for name, start, end in STAGES:
        if start in turn.marks and end in turn.marks:
            durations[name] = (turn.marks[end] - turn.marks[start]) * 1000
        else:
            durations[name] = None
    return durations


def model_ms(marks: dict[str, float]) -> float | None:
    """The server's own time to first text for this turn (request received to first text)."""
    if {"api.request", "api.first_text"} <= marks.keys():
        return (marks["api.first_text"] - marks["api.request"]) * 1000
    return None


def adds(path: list[PageTurn], http: list[HttpTurn]) -> dict[str, float]:
    """What a browser path adds to direct SSE's TTFT: medians, best rounds, and both again
    with each round's model time (the server's request to first text) taken off."""
    outside = [t.ttft_s * 1000 - m for t in path if (m := model_ms(t.marks)) is not None]
    http_outside = [t.ttft_s * 1000 - m for t in http if (m := model_ms(t.marks)) is not None]
    return {
        "ttft_ms": median([t.ttft_s for t in path]) * 1000,
        "best_ttft_ms": min(t.ttft_s for t in path) * 1000,
        "adds_ms": (median([t.ttft_s for t in path]) - median([t.ttft_s for t in http])) * 1000,
        "best_adds_ms": (min(t.ttft_s for t in path) - min(t.ttft_s for t in http)) * 1000,
        "outside_model_adds_ms": median(outside) - median(http_outside),
        "best_outside_model_adds_ms": min(outside) - min(http_outside),
        "model_ms": median([m for t in path if (m := model_ms(t.marks)) is not None]),
    }


def summarise(measured: dict[str, Any]) -> dict[str, Any]:
    http: list[HttpTurn] = measured["runs"]["http"]
    page: list[PageTurn] = measured["runs"]["page"]
    peer: list[PageTurn] = measured["runs"].get("peer", [])
    expected = normalise(measured["expected"])
    http_ms = median([t.ttft_s for t in http]) * 1000
    page_ms = median([t.ttft_s for t in page]) * 1000
    # The best round of each: the figure least touched by other processes' bursts of work.
    best_http_ms = min(t.ttft_s for t in http) * 1000
    best_page_ms = min(t.ttft_s for t in page) * 1000
    per_turn = [stage_ms(t) for t in page]
    stages = {}
    for name, _, _ in STAGES:
        values = [d[name] for d in per_turn if d[name] is not None]
        stages[name] = {
            "median_ms": median(values) if values else None,
            "best_ms": min(values) if values else None,
            "rounds": len(values),
        }
    server_ttft = [model_ms(t.marks) for t in http if model_ms(t.marks) is not None]
    # The model's own time swings most under load; take each path's time outside it.
    page_outside = [t.ttft_s * 1000 - m for t in page if (m := model_ms(t.marks)) is not None]
    http_outside = [t.ttft_s * 1000 - m for t in http if (m := model_ms(t.marks)) is not None]
    return {
        "http_ttft_ms": http_ms,
        "page_ttft_ms": page_ms,
        "page_adds_ms": page_ms - http_ms,
        "best_http_ttft_ms": best_http_ms,
        "best_page_ttft_ms": best_page_ms,
        "best_page_adds_ms": best_page_ms - best_http_ms,
        "paired_adds_median_ms": median(
            [(p.ttft_s - h.ttft_s) * 1000 for p, h in zip(page, http, strict=True)]
        ),
        "http_server_ttft_ms": median(server_ttft) if server_ttft else None,
        "outside_model_adds_ms": median(page_outside) - median(http_outside),
        "best_outside_model_adds_ms": min(page_outside) - min(http_outside),
        "page_model_ttft_ms": adds(page, http)["model_ms"],
        "peer": adds(peer, http) if peer else None,
        "peer_in_order": all(t.in_order for t in peer),
        "stages": stages,
        "page_updates_median": median([t.updates for t in page]),
        "frames_median": median([t.frames for t in page]),
        "frame_bytes_median": median([t.frame_bytes for t in page]),
        "completion_tokens": sorted({t.timing.completion_tokens for t in http}),
        "page_text_equal": all(t.text == expected for t in page),
        "page_in_order": all(t.in_order for t in page),
        "http_text_equal": all(normalise(t.timing.text) == expected for t in http),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def report(summary: dict[str, Any], repeats: int) -> str:
    http, page = summary["http_ttft_ms"], summary["page_ttft_ms"]
    best_http, best_page = summary["best_http_ttft_ms"], summary["best_page_ttft_ms"]
    table = markdown_table(
        ["path", "TTFT ms (median)", "vs direct HTTP", "best TTFT ms", "vs direct HTTP"],
        [
            ["direct HTTP (SSE)", f"{http:.0f}", "1.00x", f"{best_http:.0f}", "1.00x"],
            [
                "page (send to first visible text)",
                f"{page:.0f}",
                f"{page / http:.2f}x",
                f"{best_page:.0f}",
                f"{best_page / best_http:.2f}x",
            ],
        ],
    )
    stages = markdown_table(
        ["stage of a page turn", "median ms", "best ms"],
        [[name, _ms(s["median_ms"]), _ms(s["best_ms"])] for name, s in summary["stages"].items()],
    )
    intact = summary["page_text_equal"] and summary["page_in_order"] and summary["peer_in_order"]
    peer = summary["peer"]
    peer_lines = (
        [
            f"- the bare Gradio peer (bench.bare_page) adds {peer['adds_ms']:+.0f} ms (medians), "
            f"{peer['best_adds_ms']:+.0f} ms (best rounds); with the model's time taken off "
            f"{peer['outside_model_adds_ms']:+.0f} / {peer['best_outside_model_adds_ms']:+.0f} ms; "
            f"its TTFT {peer['ttft_ms']:.0f} / {peer['best_ttft_ms']:.0f} ms, the model's own "
            f"{peer['model_ms']:.0f} ms (median)",
        ]
        if peer
        else []
    )
    adds, best_adds = summary["page_adds_ms"], summary["best_page_adds_ms"]
    return "\n".join(
        [
            table,
            "",
            stages,
            "",
            f"{repeats} rounds; the page showed the answer in {summary['page_updates_median']:.0f} "
            f"updates and {summary['frames_median']:.0f} queue frames of "
            f"{summary['frame_bytes_median']:.0f} bytes in all (medians); "
            f"direct HTTP's server-side TTFT {_ms(summary['http_server_ttft_ms'])} ms (median); "
            "completion tokens "
            f"{summary['completion_tokens']}.",
            "",
            f"- page adds <= 100 ms to TTFT (medians): {'met' if adds <= 100 else 'NOT met'} "
            f"({adds:+.0f} ms; median of per-round differences "
            f"{summary['paired_adds_median_ms']:+.0f} ms)",
            f"- page adds <= 50 ms on the best rounds: {'met' if best_adds <= 50 else 'NOT met'} "
            f"({best_adds:+.0f} ms)",
            f"- outside the model's own time (each round's request-to-first-text in the server "
            f"taken off both paths): the page adds {summary['outside_model_adds_ms']:+.0f} ms "
            f"(medians), {summary['best_outside_model_adds_ms']:+.0f} ms (best rounds); the "
            f"model's own time in page turns {_ms(summary['page_model_ttft_ms'])} ms (median)",
            *peer_lines,
            f"- {'met' if intact else 'NOT met'}: no dropped or reordered tokens (final text equal "
            f"to the non-streamed answer: {summary['page_text_equal']}; every shown text a prefix "
            f"of it: {summary['page_in_order']})",
        ]
    )


@contextmanager
def servers(args: argparse.Namespace, logs: StageLogs) -> Iterator[dict[str, str]]:
    """Start the page (with --remote, its backend; unless --no-peer, the bare peer page);
    yield the base URL of each: page, api, peer."""
    env = offline_env(args.cache_dir)
    staged = [sys.executable, "-m", "bench.staged"]
    common = ["--device", "cpu", "--dtype", "float32", "--log-level", "warning"]
    page_port = free_port()
    page_base = loopback_url(page_port)
    with ExitStack() as stack:
        page_args = ["app.py", "--port", str(page_port), *common]
        api_base = page_base
        if args.remote:
            api_port = free_port()
            api_base = loopback_url(api_port)
            stack.enter_context(
                server_process(
                    [
                        *staged,
                        str(logs.new("backend")),
                        "-m",
                        "autoglm_demo",
                        "serve",
                        "--port",
                        str(api_port),
                        *common,
                    ],
                    f"{api_base}/health",
                    env,
                )
            )
            page_args += ["--backend-url", f"{api_base}/v1"]
        # A page in front of a remote backend serves no /health of its own. The embedded
        # one's /health says the model is loaded; the page, mounted once the API serves, is
        # ready when / answers.
        ready, then = f"{page_base}/health", f"{page_base}/"
        if args.remote:
            ready, then = then, None
        stack.enter_context(
            server_process([*staged, str(logs.new("page")), *page_args], ready, env, then_url=then)
        )
        bases = {"page": page_base, "api": api_base}
        if not args.no_peer:
            peer_port = free_port()
            bases["peer"] = loopback_url(peer_port)
            peer_args = ["--port", str(peer_port), "--backend-url", f"{api_base}/v1"]
            peer_args += ["--max-tokens", str(args.max_tokens)]
            stack.enter_context(
                server_process(
                    [sys.executable, "-m", "bench.bare_page", *peer_args], bases["peer"] + "/", env
                )
            )
        yield bases


def main() -> None:
    args = parse_args()
    host = machine()  # before the run, so its load average is the machine's, not ours
    with tempfile.TemporaryDirectory() as folder:
        logs = StageLogs(Path(folder))
        with servers(args, logs) as bases:
            measured = asyncio.run(run(args, bases, logs))
    host["load_average_after"] = machine()["load_average_1_5_15m"]
    summary = summarise(measured)
    print(report(summary, args.repeats))
    print(
        f"\nLoad average (1, 5, 15 min) before: {host['load_average_1_5_15m']}, "
        f"after: {host['load_average_after']}"
    )
    path = write_results(
        "page-remote" if args.remote else "page",
        {
            "machine": host,
            "settings": {k: str(v) for k, v in vars(args).items()},
            "prompt": PROMPT,
            "model": measured["model"],
            "summary": summary,
            "expected_answer": measured["expected"],
            "blocked_non_loopback_requests": measured["blocked"],
            "runs": {
                "http": [
                    {"ttft_s": round(t.ttft_s, 4), "marks": t.marks}
                    for t in measured["runs"]["http"]
                ],
                "page": [asdict(t) for t in measured["runs"]["page"]],
                "peer": [asdict(t) for t in measured["runs"].get("peer", [])],
            },
        },
    )
    print(f"\nraw results: {path}")


if __name__ == "__main__":
    main()
