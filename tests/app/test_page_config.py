"""What the page's ``/config`` (read by any visitor) says about the models: the menu's
values are labels the server maps, never a checkpoint's folder; "Document max tokens"
starts at what the loaded model reads; a Run by the menu's label works."""

from __future__ import annotations

import json

import httpx
from page_client import PageClient, new_session
from serving import served_app

from colbert_viz.app.limits import Limits

LIMITS = Limits(max_docs=10, max_chars=2000, max_tokens=4000, max_doc_tokens=16384)


def test_config_holds_no_checkpoint_path_and_the_model_limit(tiny_checkpoint, tiny_model):
    folder = str(tiny_checkpoint)
    with served_app({folder: tiny_model}, LIMITS) as (_, url):
        url = url.rstrip("/")
        text = httpx.get(f"{url}/config").raise_for_status().text
        for path in {folder, str(tiny_checkpoint.resolve()), str(tiny_checkpoint.parent)}:
            assert path not in text and path.replace("/", "\\/") not in text, path
        props = {c["props"].get("elem_id"): c["props"] for c in httpx.get(f"{url}/config").json()["components"]
                 if "props" in c}
        assert props["model"]["value"] == "tiny-jina (local checkpoint)"
        assert [c[1] for c in props["model"]["choices"]] == ["tiny-jina (local checkpoint)"]
        assert props["doc-max-tokens"]["value"] == tiny_model.tokenizer.settings.doc_limit < LIMITS.max_doc_tokens
        ran = PageClient(url).run(new_session(), "Where is Berlin?", "Berlin is in Germany.\nParis is in France.",
                                  "tiny-jina (local checkpoint)")
    assert ran["key"] is not None, ran["status"]
    assert folder not in json.dumps(ran), "the Run's payload names the checkpoint's folder"
