"""The app on a free local port, and Debian's Chromium, for the API and browser tests."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def playwright_or_skip():
    """Playwright's ``sync_playwright``; the calling test is skipped where Debian's
    Chromium or the playwright package is missing (its own browser download is not used)."""
    import pytest

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    return pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").sync_playwright


def launch_chromium(playwright):
    """Debian's Chromium, headless, through ``playwright`` (a started ``sync_playwright()``)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def open_page(chromium, url: str, width: int, timeout_ms: int, height: int = 1000):
    """A new page of ``chromium`` at ``url`` once the explorer is mounted: ``(page, errors)``, where
    ``errors`` collects the page's script errors."""
    page = chromium.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(url)
    page.wait_for_selector("#explorer .cv-mount")
    return page, errors


@contextmanager
def served_app(models: dict, limits) -> Iterator[tuple[object, str]]:
    """``(demo, url)`` of the page built on ``models``, closed on exit."""
    from colbert_viz.app.ui import build_app, launch_options

    demo = build_app(models, limits=limits)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                            quiet=True, **launch_options(limits))
    try:
        yield demo, url
    finally:
        demo.close()


class _KeyedQdrant(http.server.BaseHTTPRequestHandler):
    """A Qdrant server that knows no collection and takes one API key (``self.server.key``):
    401 with Qdrant's error body for any other key or none."""

    def do_GET(self):
        if self.headers.get("api-key") == self.server.key:
            self._answer(200, b'{"result": {"exists": false}, "status": "ok", "time": 0.0}')
        else:
            self._answer(401, b'{"status": {"error": "Unauthorized"}}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def keyed_qdrant(key: str) -> Iterator[str]:
    """The URL (``http://127.0.0.1:PORT``) of a stub Qdrant server that accepts the API key
    ``key`` alone (it then holds no collection) and answers 401 otherwise, closed on exit."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _KeyedQdrant)
    server.key = key
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
