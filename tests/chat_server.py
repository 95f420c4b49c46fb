"""A chat-completions server on 127.0.0.1 for the remote-judge tests: real HTTP, answers chosen per request.

The test gives a ``respond(request)`` function; it returns a :class:`Reply` (an answer text, or an HTTP
error, optionally after a delay). :func:`inspect` reads what a judge request asks: which prompt (by its
text), the sample text shown and the images (decoded from their data URLs), so a test can fix the answer
per sample and check the scores exactly.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

MARKERS = {
    "vie_sc": "Editing instruction:",
    "vie_pq": "naturalness, artifacts",
    "dbp_cp": "the subject of the generated image and the reference image",
    "dbp_pf": "between image and text prompt",
}


@dataclass
class Reply:
    text: str | None = None
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def inspect(body: dict[str, Any]) -> dict[str, Any]:
    """{"prompt": id, "text": the sample text shown (or None), "images": [PIL], "image_urls": [...]}."""
    texts, images, urls, details = [], [], [], []
    for message in body["messages"]:
        parts = (
            message["content"]
            if isinstance(message["content"], list)
            else [{"type": "text", "text": message["content"]}]
        )
        for part in parts:
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                url = part["image_url"]["url"]
                urls.append(url)
                details.append(part["image_url"].get("detail"))
                images.append(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
    joined = "\n".join(texts)
    (prompt,) = [p for p, marker in MARKERS.items() if marker in joined]
    shown = None
    if prompt == "vie_sc":
        shown = joined.rsplit("Editing instruction: ", 1)[1].rstrip("\n")
    elif prompt == "dbp_pf":
        shown = texts[-1]
    return {"prompt": prompt, "text": shown, "images": images, "image_urls": urls, "details": details}


class ChatServer:
    """``with ChatServer(respond) as server:`` → ``server.url`` (…/v1), ``server.requests`` (chat requests)."""

    def __init__(self, respond: Callable[[dict[str, Any]], Reply], models: tuple[str, ...] = ("judge-test",)):
        self.respond, self.models = respond, models
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append(Request(self.path, dict(self.headers), {}))
                if self.path != "/v1/models":
                    return self._send(404, {"error": "no such path"})
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(Request(self.path, dict(self.headers), body))
                reply = server.respond(body)
                time.sleep(reply.delay)
                if reply.status != 200:
                    return self._send(reply.status, {"error": {"message": reply.text or "failure"}}, reply.headers)
                self._send(
                    200,
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": reply.text},
                            }
                        ],
                    },
                )

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def chats(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
