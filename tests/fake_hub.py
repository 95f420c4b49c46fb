"""Stand-ins for the Hugging Face hub on 127.0.0.1: one that answers with the hub's error codes, one that
drops connections like a firewall, and a port nobody listens on."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator

#: Repository name → (HTTP status, the ``X-Error-Code`` huggingface_hub turns into a typed exception).
ANSWERS = {"gated": (403, "GatedRepo"), "absent": (404, "RepoNotFound")}


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        kind = next((k for k in ANSWERS if f"/{k}" in self.path), "absent")
        status, code = ANSWERS[kind]
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", f"fake hub: {code}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _answer

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def answering_hub() -> Iterator[str]:
    """An endpoint URL whose every repository is missing (``org/absent``) or gated (``org/gated``)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def dropping_hub() -> Iterator[str]:
    """An endpoint whose TCP connections hang, as behind a firewall that drops packets: a listening socket
    that never accepts, its one-place queue already taken, so that the kernel ignores further SYNs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        queued.close()
        listener.close()


def closed_endpoint() -> str:
    """An endpoint on a port nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
