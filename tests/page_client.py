"""The page's own calls over HTTP, without a browser: its queued events (Run,
export, int8) and its server functions (``document_views``, ``storage_summary``),
each as a chosen Gradio session. For the tests and ``scripts/attack_space.py``;
only ever pointed at 127.0.0.1."""

from __future__ import annotations

import html
import json
import re
import secrets
import threading

import httpx


def page_ids(url: str, http: httpx.Client) -> tuple[dict[str, int], int]:
    """The page's events by what triggers them (``run``, ``shown``: after Run succeeded,
    ``export``, ``int8``) and the explorer's component id, read from its ``/config``."""
    config = http.get(f"{url}/config").raise_for_status().json()
    elem = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    events = {}
    for dep in config["dependencies"]:
        for target, trigger in dep["targets"]:
            name = {("run", "click"): "run", ("explorer", "export"): "export",
                    ("int8-compare", "click"): "int8", ("jina-compare", "click"): "jina",
                    ("jina-key", "change"): "jina-key", ("search", "click"): "search", ("index", "click"): "index",
                    ("collection", "input"): "collection", ("collection", "focus"): "menu"}.get((elem.get(target), trigger))
            if name:
                events[name] = dep["id"]
    events["shown"] = next(d["id"] for d in config["dependencies"] if d.get("trigger_after") == events["run"])
    if "search" in events:
        events["search-shown"] = next(d["id"] for d in config["dependencies"]
                                      if d.get("trigger_after") == events["search"])
    unload = [d["id"] for d in config["dependencies"] if any(t[1] == "unload" for t in d["targets"])]
    if unload:
        events["unload"] = unload[0]
    return events, next(i for i, e in elem.items() if e == "explorer")


def new_session() -> str:
    return secrets.token_hex(6)


class PageClient:
    """Calls into the page served at ``url`` as any session."""

    def __init__(self, url: str, timeout: float = 600) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=timeout)
        self.events, self.explorer = page_ids(self.url, self.http)
        self._sessions: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _one_at_a_time(self, session: str) -> threading.Lock:
        """A page has one event stream: its events are sent one after the other."""
        with self._guard:
            return self._sessions.setdefault(session, threading.Lock())

    def event(self, name: str, data: list, session: str, event_data=None) -> dict:
        """Run the event ``name`` with ``data`` as ``session``; its completion message
        (``success``, ``output``)."""
        with self._one_at_a_time(session):
            return self._event(name, data, session, event_data)

    def _event(self, name: str, data: list, session: str, event_data) -> dict:
        body = {"data": data, "event_data": event_data, "fn_index": self.events[name],
                "trigger_id": None, "session_hash": session}
        joined = self.http.post(f"{self.url}/gradio_api/queue/join", json=body)
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        with self.http.stream("GET", f"{self.url}/gradio_api/queue/data", params={"session_hash": session}) as r:
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                    return message
        raise RuntimeError(f"event {name} ended without completing")

    def run(self, session: str, query: str, documents: str, model: str, doc_max: int = 512,
            top_n: int = 0, api_key: str | None = None) -> dict:
        """Press Run (``api_key``: the Jina API key box): ``{"key", "payload", "status"}`` (key and
        payload ``None`` on an error). The key is the payload's ``run_key`` (the page's ``gr.State``
        never leaves the server)."""
        if api_key is not None:  # typed in the key box: the menu offers the API models to this session
            self.event("jina-key", [api_key, None], session)
        message = self.event("run", [query, documents, None, model, doc_max, top_n, None, api_key],
                             session)  # None: the State
        _, status, payload, *_ = message["output"]["data"]
        if isinstance(payload, dict) and payload.get("__type__") == "update":  # gr.HTML(value=…, elem_classes=…)
            payload = payload.get("value")
        payload = json.loads(payload) if isinstance(payload, str) and payload else payload
        if not isinstance(payload, dict) or "schema" not in payload:
            return {"key": None, "payload": None, "status": status}
        return {"key": payload["run_key"], "payload": payload, "status": status}

    def search(self, session: str, collection: str, query: str, top_k: int = 10, dimensions: str | None = None,
               rescore: bool = True, model: str | None = None, first_stage: str = "none",
               candidates: int = 100) -> dict:
        """Press Search (``first_stage``: none, pooled or muvera): ``{"key", "payload", "status", "hits",
        "collections"}`` (key, payload and hits
        ``None`` on an error; ``hits``: the hits table's rows: rank, document, score, exact, text;
        ``collections``: the collection menu's choices after it)."""
        message = self.event("search", [collection, query, top_k, dimensions, rescore, model, None, first_stage,
                                        candidates], session)
        if not message.get("success", True) and "output" not in message:
            raise RuntimeError(str(message))
        data = message["output"].get("data")
        if data is None:
            raise RuntimeError(str(message["output"]))
        _, status, payload, *_, menu, hits = data
        collections = [c[1] if isinstance(c, list | tuple) else c for c in menu.get("choices", [])] \
            if isinstance(menu, dict) and "choices" in menu else None
        if isinstance(payload, dict) and payload.get("__type__") == "update":
            payload = payload.get("value")
        payload = json.loads(payload) if isinstance(payload, str) and payload else payload
        if not isinstance(payload, dict) or "schema" not in payload:
            return {"key": None, "payload": None, "status": status, "hits": None, "collections": collections}
        value = hits.get("value") if isinstance(hits, dict) else hits
        rows = [{"rank": int(r), "document": int(d), "score": float(sc), "exact": float(ex), "text": html.unescape(t)}
                for r, d, sc, ex, t in re.findall(r'<tr data-rank="(\d+)" data-document="(\d+)" data-score="([^"]+)" '
                                                  r'data-exact="([^"]+)"[^>]*>.*?<td>([^<]*)</td></tr>', value)]
        return {"key": payload["run_key"], "payload": payload, "status": status, "hits": rows,
                "collections": collections}

    def upload(self, paths: list) -> list[dict]:
        """Upload files as the page does: their values for a ``gr.File`` input."""
        files = [("files", (p.name, p.read_bytes())) for p in paths]
        r = self.http.post(f"{self.url}/gradio_api/upload", files=files).raise_for_status()
        return [{"path": server, "orig_name": p.name, "meta": {"_type": "gradio.FileData"}}
                for server, p in zip(r.json(), paths)]

    def index(self, session: str, paths: list, model: str) -> dict:
        """Press "Index into my collection" with ``paths`` uploaded: ``{"status", "collections"}``
        (the menu's choices after it, ``None`` when unchanged)."""
        message = self.event("index", [self.upload(paths), model], session)
        status, menu, *_ = message["output"]["data"]
        choices = [c[1] if isinstance(c, list | tuple) else c for c in menu.get("choices", [])] \
            if isinstance(menu, dict) and "choices" in menu else None
        return {"status": status, "collections": choices}

    def menu(self, session: str, name: str) -> list[str]:
        """Open the collection menu (with ``name`` chosen): its choices."""
        update = self.event("menu", [name], session)["output"]["data"][0]
        return [c[1] if isinstance(c, list | tuple) else c for c in update["choices"]]

    def collection(self, session: str, name: str, model: str) -> dict:
        """Pick collection ``name``: the dimension menu's update."""
        return self.event("collection", [name, model], session)["output"]["data"][0]

    def close_page(self, session: str, wait_s: float = 10.0) -> None:
        """Open the session's heartbeat and drop it, as a closed tab does: Gradio runs the unload events."""
        with self.http.stream("GET", f"{self.url}/gradio_api/heartbeat/{session}") as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    break

    def shown(self, session: str, key: str) -> None:
        """What the page does once the Run's payload is drawn (starts the storage settings)."""
        self.http.post(f"{self.url}/gradio_api/run/predict",
                       json={"data": [key], "fn_index": self.events["shown"], "session_hash": session,
                             "event_data": None, "trigger_id": None}).raise_for_status()

    def server(self, fn_name: str, args, session: str) -> dict:
        """Call the explorer's server function ``fn_name`` with ``args`` as ``session``."""
        r = self.http.post(f"{self.url}/gradio_api/component_server",
                           json={"data": args, "component_id": self.explorer, "session_hash": session,
                                 "fn_name": fn_name})
        r.raise_for_status()
        return r.json()

    def export(self, session: str, key: str, state: dict) -> list[str] | str:
        """Press Export: the exported files' paths, or the warning's text."""
        message = self.event("export", [key], session, event_data=state)
        value = message["output"]["data"][0]
        files = value.get("value") if isinstance(value, dict) else value
        if files:
            return [f["path"] for f in files]
        return message.get("output", {}).get("error") or str(message)

    def int8(self, session: str, key: str) -> dict:
        message = self.event("int8", [key], session)
        return message["output"]["data"]
