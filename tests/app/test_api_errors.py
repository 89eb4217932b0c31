"""API errors through gradio_client: plain text (no HTML escaping), no server paths."""

from __future__ import annotations

import pytest
from serving import served_app

from colbert_viz.app.limits import Limits

LIMITS = Limits(max_docs=3, max_chars=2000, max_tokens=4000, max_doc_tokens=1024)
HOSTILE = "<img src=x onerror=alert(1)> it's"


@pytest.fixture(scope="module")
def client(tiny_model, tiny_checkpoint):
    from gradio_client import Client

    assert tiny_checkpoint.name == "tiny-jina"
    with served_app({str(tiny_checkpoint): tiny_model}, LIMITS) as (_, url):
        yield Client(url, verbose=False)


def error_text(client, **kwargs) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        client.predict(api_name="/rerank", **kwargs)
    return str(caught.value.message)


def test_api_error_is_the_plain_message_without_server_paths(client):
    message = error_text(client, query="q", documents="a\nb", model=HOSTILE)
    assert message == f"\"{HOSTILE}\" is not one of the models offered here: tiny-jina (local checkpoint)"


def test_api_document_limit_message(client):
    message = error_text(client, query="q", documents="a\nb\nc\nd\ne")
    assert message == "The text box and files hold more than 3 documents; the limit is 3 per request."
