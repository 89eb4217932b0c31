"""``python app.py`` stopped with SIGTERM (how Spaces and containers stop a process) cleans
up as Ctrl-C does: its private collections, its exports and its demo collection leave the disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from page_client import PageClient, new_session
from serving import free_port

APP = Path(__file__).resolve().parents[2] / "app.py"


def _serve(env: dict, url: str) -> subprocess.Popen:
    app = subprocess.Popen([sys.executable, str(APP)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and app.poll() is None:
        try:
            if httpx.get(f"{url}/config", timeout=5).status_code == 200:
                return app
        except httpx.HTTPError:
            time.sleep(0.5)
    app.kill()
    pytest.fail(f"the app did not start: {app.communicate()[0][-2000:]}")


def test_sigterm_removes_the_private_collections_and_exports(tiny_checkpoint, tmp_path):
    temp, port = tmp_path / "tmp", free_port()
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
           "COLBERT_VIZ_MODEL": str(tiny_checkpoint), "COLBERT_VIZ_DTYPE": "float32", "HF_HUB_OFFLINE": "1",
           "COLBERT_VIZ_CACHE_DIR": str(tmp_path / "cache"), "GRADIO_SERVER_PORT": str(port)}
    env.pop("COLBERT_VIZ_DEMO_COLLECTION", None)
    url = f"http://127.0.0.1:{port}"
    app = _serve(env, url)
    try:
        client, session = PageClient(url), new_session()
        label = "tiny-jina (local checkpoint)"  # the model menu's value for the checkpoint's folder
        ran = client.run(session, "Where is Berlin?", "Berlin is in Germany.\nParis is in France.", label)
        assert ran["key"] is not None, ran["status"]
        exported = client.export(session, ran["key"], {"dim": 128, "doc": 0, "merge": False})
        assert isinstance(exported, list) and exported, exported
        (tmp_path / "mine.txt").write_text("Aardvarks dig burrows.\n\nOwls hunt at night.", encoding="utf-8")
        assert client.index(session, [tmp_path / "mine.txt"], label)["status"].startswith("Indexed 2")
        made = sorted(p.name.rsplit("-", 1)[0] for p in temp.iterdir())
        assert {"colbert-viz", "colbert-viz-collections", "colbert-viz-demo"} <= set(made), made
        app.send_signal(signal.SIGTERM)
        output = app.communicate(timeout=60)[0]
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, output[-2000:]
    left = [p.name for p in temp.iterdir()]
    assert not [name for name in left if name.startswith("colbert-viz")], left
