"""A judge behind any OpenAI-compatible chat-completions server (``vllm serve``, hosted APIs).

Standard library only (``urllib`` in a thread pool), so the remote judge works on the core install.
Images travel inline as base64 data URLs. Each conversation is one ``POST <url>/chat/completions``
with ``temperature`` 0 (greedy) and at most ``--judge-max-tokens`` new tokens; ``--judge-concurrency``
of them are in flight at once. A request that times out, loses its connection or gets HTTP 408, 429
or 5xx is retried ``--judge-retries`` times with exponential backoff (``Retry-After`` honoured, capped);
any other failure is final. Failures are returned per conversation, never raised for the batch, so
one bad sample costs only that sample.

``--judge-timeout`` bounds each attempt: the wait for the response headers and the whole body.
The key is read from the environment variable named by ``--judge-api-key-env`` (unset: no
``Authorization`` header, as a local ``vllm serve`` needs none); it is sent only in that header and
appears in no message, record or file.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from mige_eval.metrics.judge_prompts import Conversation, PreparedImage

RETRY_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_TRANSIENT = (TimeoutError, socket.timeout, ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead)


class JudgeServerError(RuntimeError):
    """A request the server did not answer usefully; ``retry`` says whether trying again may help."""

    def __init__(self, message: str, *, retry: bool, wait: float | None = None):
        super().__init__(message)
        self.retry, self.wait = retry, wait


def base_url(url: str) -> str:
    """``http(s)://host[:port]/prefix`` without a trailing ``/chat/completions``; credentials refused."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--judge-url {url!r} is not an http(s) URL such as http://127.0.0.1:8000/v1")
    if parts.username or parts.password:
        raise ValueError(
            "--judge-url must not carry credentials; put the key in the environment variable named "
            "by --judge-api-key-env"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"--judge-url {url!r}: give the base URL (e.g. http://127.0.0.1:8000/v1), without a query")
    path = parts.path.rstrip("/")
    path = path[: -len("/chat/completions")] if path.endswith("/chat/completions") else path
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def openai_messages(conversation: Conversation, detail: str | None = None) -> list[dict[str, Any]]:
    """Chat-completions messages: a lone text stays a string; images become data URLs in order."""
    messages = []
    for role, items in conversation:
        if len(items) == 1 and isinstance(items[0], str):
            messages.append({"role": role, "content": items[0]})
            continue
        content = []
        for item in items:
            if isinstance(item, PreparedImage):
                url = {"url": f"data:{item.mime};base64,{base64.b64encode(item.data).decode('ascii')}"}
                content.append({"type": "image_url", "image_url": {**url, **({"detail": detail} if detail else {})}})
            else:
                content.append({"type": "text", "text": item})
        messages.append({"role": role, "content": content})
    return messages


class RemoteJudge:
    """A model served behind ``url``; :meth:`answer` asks it many conversations concurrently."""

    kind = "remote"

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key_env: str,
        concurrency: int = 8,
        timeout: float = 120.0,
        retries: int = 4,
        max_tokens: int = 512,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
    ):
        if concurrency < 1 or retries < 0 or not timeout > 0 or max_tokens < 1:
            raise ValueError(
                f"judge concurrency and max tokens must be >= 1, retries >= 0 and timeout > 0 "
                f"(got {concurrency}, {max_tokens}, {retries}, {timeout})"
            )
        self.decoding = {"temperature": 0, "max_tokens": max_tokens}
        self.url = base_url(url)
        self.api_key_env = api_key_env
        self._key = os.environ.get(api_key_env) or None
        self.concurrency, self.timeout, self.retries = concurrency, float(timeout), retries
        self.backoff, self.max_backoff = backoff, max_backoff
        self._model = model
        host = urllib.parse.urlsplit(self.url).hostname
        handlers = [urllib.request.ProxyHandler({})] if host in LOOPBACK else []  # no proxy reaches our loopback
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return f"RemoteJudge({self.url!r}, model={self._model!r})"

    @property
    def model(self) -> str:
        """``--judge-model``, else the one model the server lists at ``/models`` (asked once)."""
        if self._model is None:
            try:
                listed = json.loads(self._request("GET", "/models", None, what="listing the served models"))
                ids = [m.get("id") for m in listed.get("data", []) if isinstance(m, dict) and m.get("id")]
            except (JudgeServerError, ValueError, AttributeError) as exc:
                raise RuntimeError(
                    f"cannot learn which model the judge server {self.url} serves ({exc}); name it with --judge-model"
                ) from None
            if len(ids) != 1:
                raise RuntimeError(
                    f"the judge server {self.url} serves {len(ids)} models ({', '.join(ids) or 'none'}); "
                    "name one with --judge-model"
                )
            self._model = ids[0]
        return self._model

    def identity(self) -> dict[str, Any]:
        """What the answers depend on: server URL, served model, decoding (may ask the server its model)."""
        return {"kind": self.kind, "url": self.url, "model": self.model, "decoding": self.decoding}

    def describe(self) -> dict[str, Any]:
        """The identity as far as known, without a request (``model`` is None if never resolved)."""
        return {
            "kind": self.kind,
            "url": self.url,
            "model": self._model,
            "decoding": self.decoding,
            "api_key_env": self.api_key_env,
        }

    def answer(
        self, conversations: Sequence[Conversation], on_answer: Callable[[int, str], None], detail: str | None = None
    ) -> list[str | Exception]:
        """One answer (or the exception that ended its retries) per conversation, in order."""
        results: list[str | Exception] = [RuntimeError("not asked")] * len(conversations)
        if not conversations:
            return results
        model = self.model
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            futures = {pool.submit(self._complete, model, conv, detail): i for i, conv in enumerate(conversations)}
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except (JudgeServerError, ValueError) as exc:
                    results[i] = exc
                    continue
                on_answer(i, results[i])
        return results

    def _complete(self, model: str, conversation: Conversation, detail: str | None) -> str:
        body = {"model": model, "messages": openai_messages(conversation, detail), **self.decoding}
        raw = self._request("POST", "/chat/completions", json.dumps(body).encode(), what="a judge request")
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ValueError(f"the judge server answered without choices[0].message.content: {raw[:200]!r}") from None
        if isinstance(content, list):  # some servers return content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise ValueError(f"the judge server's message content is {type(content).__name__}, not text")
        return content

    def _request(self, method: str, path: str, data: bytes | None, *, what: str) -> str:
        """The response body of one call, retried as the module docstring says."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            try:
                return self._once(method, path, data)
            except JudgeServerError as exc:
                if not exc.retry or attempt == attempts - 1:
                    tried = f" after {attempt + 1} attempts" if attempt else ""
                    raise JudgeServerError(f"{what} to {self.url}{path} failed{tried}: {exc}", retry=False) from None
                delay = min(self.max_backoff, self.backoff * 2**attempt)
                time.sleep(min(self.max_backoff, exc.wait) if exc.wait is not None else delay)
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, data: bytes | None) -> str:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        deadline = time.monotonic() + self.timeout
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                chunks = []
                while chunk := response.read(1 << 16):
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise TimeoutError
                return b"".join(chunks).decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            raise self._status_error(exc) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            transient = isinstance(reason, _TRANSIENT) or isinstance(reason, OSError)
            raise JudgeServerError(f"cannot reach the server ({reason})", retry=transient) from None
        except _TRANSIENT as exc:
            text = (
                f"no complete answer within {self.timeout:g} s"
                if isinstance(exc, (TimeoutError, socket.timeout))
                else f"the connection broke ({type(exc).__name__})"
            )
            raise JudgeServerError(text, retry=True) from None

    def _status_error(self, exc: urllib.error.HTTPError) -> JudgeServerError:
        try:
            excerpt = exc.read(300).decode("utf-8", errors="replace").strip()
        except OSError:
            excerpt = ""
        text = f"HTTP {exc.code} {exc.reason}" + (f": {excerpt}" if excerpt else "")
        if exc.code in (401, 403):
            state = "is set" if self._key else "is not set"
            text += f" (the key comes from the environment variable {self.api_key_env}, which {state})"
        wait = None
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        if retry_after and retry_after.strip().isdigit():
            wait = float(retry_after.strip())
        return JudgeServerError(text, retry=exc.code in RETRY_STATUS, wait=wait)
