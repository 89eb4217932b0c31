"""Jina's hosted API over one HTTP client: token vectors and rerank scores.

Follows the documented contract (launch post; OpenAPI spec snapshots 2025-09 and
2026-02): ``POST /v1/multi-vector`` (tried first) or ``/v1/embeddings`` (tried
when the first answers 404 or 405; the path that answered is kept for the
client's life) with ``{model, input, input_type, dimensions, embedding_type:
"float"}``; ``POST /v1/rerank`` with ``{model, query, documents, top_n}``.
429 and 5xx are retried ``retries`` times with exponential backoff, or after the
``Retry-After`` the API sends; a wait longer than ``max_wait_s`` is not waited.

The key is sent in the ``Authorization`` header only: it is never in a message,
a log record or ``repr`` (messages from the API are scrubbed of it).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Sequence

import httpx
import numpy as np

from colbert_viz.engine.checkpoint import ModelLoadError

URL_ENV = "COLBERT_VIZ_JINA_API_URL"
KEY_ENV = "JINA_API_KEY"
DEFAULT_URL = "https://api.jina.ai"
VECTOR_PATHS = ("/v1/multi-vector", "/v1/embeddings")
RERANK_PATH = "/v1/rerank"
MODEL = "jina-colbert-v2"
NO_KEY = ("Jina's API needs a key: set JINA_API_KEY (CLI, Python) or paste it in the "
          "“Jina API key” box (page).")
_KEY_LIKE = re.compile(r"jina_[A-Za-z0-9_\-]{6,}")


class JinaApiError(ModelLoadError):
    """Jina's API could not give what was asked; the message is one sentence, without the key.

    A ``ModelLoadError``: every place that reports a model that cannot serve (the
    page's status line, the CLI's exit 2, the API endpoints) reports this too.
    ``status`` is the HTTP status (``None``: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def api_url(environ=None) -> str:
    """The API's base URL: ``COLBERT_VIZ_JINA_API_URL`` or Jina's public host."""
    environ = os.environ if environ is None else environ
    url = (environ.get(URL_ENV, "").strip() or DEFAULT_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise JinaApiError(f"{URL_ENV} must be an http:// or https:// URL, got {url[:80]!r}.")
    return url


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (a number of seconds; an HTTP date
    is not used), ``None`` when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def error_detail(response: httpx.Response) -> str:
    """The API's reason in a few words, from any documented error body: 2026
    ``{detail, code}``, 422 ``{detail, errors: [{field, message}]}``, FastAPI
    ``{detail: [{loc, msg}]}``; '' when the body says nothing readable."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = []
    detail = body.get("detail")
    if isinstance(detail, str):
        parts.append(detail)
    for item in (detail if isinstance(detail, list) else []) + (body.get("errors") or []):
        if isinstance(item, dict):
            where = item.get("field") or ".".join(str(x) for x in item.get("loc") or [] if x != "body")
            what = item.get("message") or item.get("msg") or ""
            parts.append(f"{where}: {what}" if where else str(what))
    if isinstance(body.get("code"), str):
        parts.append(f"({body['code']})")
    return " ".join(p for p in parts if p)[:300]


class JinaClient:
    """One HTTP client for Jina's API with the user's key (``JinaApiError`` without one).

    ``timeout_s`` bounds each request; ``retries``, ``backoff_s`` (doubled per
    try) and ``max_wait_s`` bound the retries of 429 and 5xx. ``tokens_used``
    adds up ``usage.total_tokens`` of every answer."""

    def __init__(self, key: str | None, base_url: str | None = None, timeout_s: float = 60.0,
                 retries: int = 4, backoff_s: float = 1.0, max_wait_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        key = (key or "").strip()
        if not key:
            raise JinaApiError(NO_KEY)
        self._key = key
        self.base_url = api_url() if base_url is None else base_url.rstrip("/")
        self.timeout_s, self.retries, self.backoff_s, self.max_wait_s = timeout_s, retries, backoff_s, max_wait_s
        self.sleep = sleep
        self.vector_path: str | None = None
        self.tokens_used = 0
        self._http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(timeout_s, connect=min(10, timeout_s)),
                                  headers={"Authorization": f"Bearer {key}"}, follow_redirects=False)

    def __repr__(self) -> str:
        return f"JinaClient({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    # ---- the two calls ------------------------------------------------------------

    def embed(self, texts: Sequence[str], input_type: str, dimensions: int = 128) -> list[np.ndarray]:
        """One (n_tokens, dimensions) float32 array per text, input order."""
        body = {"model": MODEL, "input": list(texts), "input_type": input_type,
                "dimensions": dimensions, "embedding_type": "float"}
        paths = [self.vector_path] if self.vector_path else list(VECTOR_PATHS)
        for path in paths:
            response = self._post(path, body)
            if response is None:  # 404/405: this API has not got this path
                continue
            self.vector_path = path
            return self._vectors(response, len(texts), dimensions)
        raise JinaApiError(f"{self.base_url} offers neither {' nor '.join(paths)} (404): is "
                           f"{URL_ENV} the API's address?", 404)

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[dict]:
        """``[{index, relevance_score}]`` as ``/v1/rerank`` ranks them, best first."""
        body = {"model": MODEL, "query": query, "documents": list(documents),
                "top_n": top_n or len(documents), "return_documents": False}
        response = self._post(RERANK_PATH, body)
        if response is None:
            raise JinaApiError(f"{self.base_url} has no {RERANK_PATH} (404).", 404)
        results = response.get("results")
        if not isinstance(results, list) or not results:
            raise self._shape("rerank results are missing")
        out = []
        for item in results:
            index = item.get("index") if isinstance(item, dict) else None
            score = item.get("relevance_score") if isinstance(item, dict) else None
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(documents) \
                    or isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
                raise self._shape("a rerank result has no valid index or relevance_score")
            out.append({"index": index, "relevance_score": float(score)})
        return out

    # ---- one request, retried ---------------------------------------------------------

    def _post(self, path: str, body: dict) -> dict | None:
        """The JSON answer of ``path``; ``None`` for 404/405; ``JinaApiError`` otherwise."""
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post(path, json=body)
            except httpx.TimeoutException:
                raise JinaApiError(f"Jina's API did not answer within {self.timeout_s:g} s.") from None
            except httpx.HTTPError:
                raise JinaApiError(f"Jina's API at {self.base_url} cannot be reached (no connection).") from None
            status = response.status_code
            if status == 200:
                try:
                    data = response.json()
                except ValueError:
                    raise self._shape("the answer is not JSON") from None
                if not isinstance(data, dict):
                    raise self._shape("the answer is not a JSON object")
                self._count(data)
                return data
            if status in (404, 405):
                return None
            if status == 429 or status >= 500:
                wait = retry_after(response)
                wait = self.backoff_s * 2 ** attempt if wait is None else wait
                if attempt < self.retries and wait <= self.max_wait_s:
                    self.sleep(wait)
                    continue
                raise self._error(response, attempt)
            raise self._error(response, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _count(self, data: dict) -> None:
        usage = data.get("usage")
        tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
        if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0:
            self.tokens_used += tokens

    def _vectors(self, data: dict, n_texts: int, dimensions: int) -> list[np.ndarray]:
        items = data.get("data")
        if not isinstance(items, list) or len(items) != n_texts:
            got = len(items) if isinstance(items, list) else "no"
            raise self._shape(f"{got} embeddings for {n_texts} texts")
        by_index: dict[int, np.ndarray] = {}
        for item in items:
            index = item.get("index") if isinstance(item, dict) else None
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n_texts or index in by_index:
                raise self._shape("an embedding has no valid index")
            try:
                vectors = np.asarray(item.get("embeddings"), dtype=np.float32)
            except (TypeError, ValueError):
                vectors = None
            if vectors is None or vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] != dimensions:
                raise self._shape(f"embeddings {index} is not a list of {dimensions}-number token vectors")
            if not np.isfinite(vectors).all():
                raise self._shape(f"embeddings {index} holds values that are not finite")
            by_index[index] = vectors
        return [by_index[i] for i in range(n_texts)]

    def _shape(self, what: str) -> JinaApiError:
        return JinaApiError(f"Jina's API answered with an unexpected shape: {what}.")

    def _error(self, response: httpx.Response, attempt: int) -> JinaApiError:
        status = response.status_code
        detail = error_detail(response).replace(self._key, "[key]")
        detail = _KEY_LIKE.sub("[key]", detail)
        why = f": {detail}" if detail else ""
        if status in (401, 403):
            text = f"Jina's API refused the key ({status}{why}); check the key."
        elif status == 402:
            text = f"Jina's API says the key has no balance left (402{why})."
        elif status == 429:
            wait = retry_after(response)
            asked = f", asking to wait {wait:g} s" if wait is not None else ""
            text = (f"Jina's rate limit outlasted {attempt} retr{'y' if attempt == 1 else 'ies'} (429{asked}); "
                    "try again in a minute.")
        elif status >= 500:
            text = f"Jina's API failed ({status}{why}) after {attempt} retr{'y' if attempt == 1 else 'ies'}; try later."
        else:
            text = f"Jina's API refused the request ({status}{why})."
        return JinaApiError(text, status)
