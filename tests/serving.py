"""The app on a free local port, for the API and browser tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
