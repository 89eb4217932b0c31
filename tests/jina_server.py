"""A loopback stand-in for Jina's API (127.0.0.1 only), following its documented contract.

It answers ``/v1/multi-vector`` and/or ``/v1/embeddings`` (``paths``) and
``/v1/rerank`` with vectors computed by a local model (the tiny checkpoint),
checks the ``Bearer`` key (401 in the 2026 error format otherwise), and replays
``script``: queued ``(status, headers, body)`` answers given before the real ones.
``drop_vectors`` removes that many vectors from each document (an API change);
``delay_s`` sleeps before answering (a timeout). Every request is kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = "jina_test0123456789secretkey"


class JinaStub:
    def __init__(self, model, paths=("/v1/multi-vector", "/v1/embeddings"), key: str = KEY) -> None:
        self.model, self.paths, self.key = model, set(paths), key
        self.script: list[tuple[int, dict, object]] = []
        self.requests: list[dict] = []
        self.drop_vectors = 0
        self.delay_s = 0.0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append({"path": self.path, "body": body, "time": time.monotonic(),
                                      "authorization": self.headers.get("authorization", "")})
                status, headers, answer = stub.answer(self.path, self.headers.get("authorization", ""), body)
                if stub.delay_s:
                    time.sleep(stub.delay_s)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                for name, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, authorization: str, body: dict):
        if path not in self.paths and path != "/v1/rerank":
            return 404, {}, {"detail": "Not Found"}
        if authorization != f"Bearer {self.key}":
            return 401, {}, {"detail": f"Invalid API key {authorization[7:]}", "code": "AUTH_INVALID_API_KEY",
                             "request_id": "r1"}
        if self.script:
            return self.script.pop(0)
        if path == "/v1/rerank":
            return 200, {}, self.rerank(body)
        return 200, {}, self.vectors(body)

    def vectors(self, body: dict) -> dict:
        texts, dim = body["input"], body.get("dimensions", 128)
        if body.get("input_type") == "query":
            records = self.model.encode_queries(texts)
        else:
            records = self.model.encode_documents(texts)
        data = []
        for i, r in enumerate(records):
            rows = r.at_dim(dim).tolist()
            if body.get("input_type") != "query" and self.drop_vectors:
                rows = rows[:-self.drop_vectors]
            data.append({"object": "embeddings", "index": i, "embeddings": rows})
        return {"model": "jina-colbert-v2", "object": "list", "data": data,
                "usage": {"total_tokens": sum(len(r) for r in records)}}

    def rerank(self, body: dict) -> dict:
        results = self.model.rerank(body["query"], body["documents"], top_n=body.get("top_n"))
        return {"model": "jina-colbert-v2", "usage": {"total_tokens": 10},
                "results": [{"index": r["index"], "relevance_score": r["relevance_score"] / 32} for r in results]}
