"""The page's own calls over HTTP, without a browser: its queued events (Run,
export, int8) and its server functions (``document_views``, ``storage_summary``),
each as a chosen Gradio session. For the tests and ``scripts/attack_space.py``;
only ever pointed at 127.0.0.1."""

from __future__ import annotations

import json
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
                    ("int8-compare", "click"): "int8"}.get((elem.get(target), trigger))
            if name:
                events[name] = dep["id"]
    events["shown"] = next(d["id"] for d in config["dependencies"] if d.get("trigger_after") == events["run"])
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
            top_n: int = 0) -> dict:
        """Press Run: ``{"key", "payload", "status"}`` (key and payload ``None`` on an error).
        The key is the payload's ``run_key`` (the page's ``gr.State`` never leaves the server)."""
        message = self.event("run", [query, documents, None, model, doc_max, top_n, None], session)  # None: the State
        _, status, payload, *_ = message["output"]["data"]
        if isinstance(payload, dict) and payload.get("__type__") == "update":  # gr.HTML(value=…, elem_classes=…)
            payload = payload.get("value")
        payload = json.loads(payload) if isinstance(payload, str) and payload else payload
        if not isinstance(payload, dict) or "schema" not in payload:
            return {"key": None, "payload": None, "status": status}
        return {"key": payload["run_key"], "payload": payload, "status": status}

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
