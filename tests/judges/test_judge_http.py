"""The remote judge against real HTTP servers on 127.0.0.1: requests, retries, timeouts, failures per request."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from chat_server import ChatServer, Reply, inspect
from mige_eval.metrics import judge_http
from mige_eval.metrics.judge_http import RemoteJudge, base_url
from mige_eval.metrics.judge_prompts import load_prompt, prepare_dreambench_plus, prepare_gedit

KEY_ENV = "MIGE_EVAL_TEST_JUDGE_KEY"


def conversation(instruction: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    source = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    output = Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    return load_prompt("vie_sc").render(prepare_gedit(source, output), {"instruction": instruction})


def remote(server: ChatServer, **kwargs) -> RemoteJudge:
    options = dict(model="judge-test", api_key_env=KEY_ENV, timeout=5.0, retries=2, backoff=0.01)
    return RemoteJudge(server.url, **{**options, **kwargs})


def counted(respond):
    """A server reply function given (sample text, how many times it was asked) and counting the askings."""
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def reply(body):
        text = inspect(body)["text"]
        with lock:
            seen[text] = seen.get(text, 0) + 1
            count = seen[text]
        return respond(text, count)

    return reply, seen


def collect(judge: RemoteJudge, conversations, detail=None):
    arrived = {}
    results = judge.answer(conversations, lambda i, text: arrived.__setitem__(i, text), detail=detail)
    return results, arrived


def test_requests_carry_the_prompt_the_images_and_the_decoding_and_answers_come_back_in_order(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-secret")
    with ChatServer(lambda body: Reply(f"answer to {inspect(body)['text']}")) as server:
        results, arrived = collect(remote(server, concurrency=3), [conversation(f"edit {i}", i) for i in range(5)])
    assert results == [f"answer to edit {i}" for i in range(5)] and arrived == dict(enumerate(results))
    assert len(server.chats) == 5
    request = next(r for r in server.chats if inspect(r.body)["text"] == "edit 0")
    assert request.headers["Authorization"] == "Bearer sk-test-secret"
    assert request.body["model"] == "judge-test"
    assert request.body["temperature"] == 0 and request.body["max_tokens"] == 512
    (message,) = request.body["messages"]
    assert [part["type"] for part in message["content"]] == ["image_url", "image_url", "text"]
    shown = inspect(request.body)
    assert all(url.startswith("data:image/png;base64,") for url in shown["image_urls"]) and shown["details"] == [
        None,
        None,
    ]
    expected = prepare_gedit(*[Image.fromarray(a) for a in _arrays(0)])
    assert np.array_equal(np.asarray(shown["images"][0]), np.asarray(expected["source"].pixels))
    assert np.array_equal(np.asarray(shown["images"][1]), np.asarray(expected["output"].pixels))


def _arrays(seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)


def test_dreambench_plus_requests_have_the_three_turns_jpeg_images_and_detail_high():
    out = prepare_dreambench_plus(Image.fromarray(_arrays(1)[0]))
    conv = load_prompt("dbp_pf").render({"output": out}, {"prompt": "a cat"})
    with ChatServer(lambda body: Reply("Score: 2")) as server:
        results, _ = collect(remote(server), [conv], detail="high")
    assert results == ["Score: 2"]
    messages = server.chats[0].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == load_prompt("dbp_pf").texts["user"]
    assert messages[2]["content"][0] == {"type": "text", "text": "a cat"}
    assert messages[2]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert messages[2]["content"][1]["image_url"]["detail"] == "high"


def test_the_model_name_comes_from_the_server_when_not_given_and_several_models_need_a_choice():
    with ChatServer(lambda body: Reply("x"), models=("Qwen/Qwen2.5-VL-72B-Instruct-AWQ",)) as server:
        judge = remote(server, model=None)
        assert judge.describe()["model"] is None  # describing never asks the server
        assert judge.identity() == {
            "kind": "remote",
            "url": server.url,
            "model": "Qwen/Qwen2.5-VL-72B-Instruct-AWQ",
            "decoding": {"temperature": 0, "max_tokens": 512},
        }
        collect(judge, [conversation("a")])
        assert server.chats[0].body["model"] == "Qwen/Qwen2.5-VL-72B-Instruct-AWQ"
        assert [r.path for r in server.requests].count("/v1/models") == 1
    with ChatServer(lambda body: Reply("x"), models=("a", "b")) as server:
        with pytest.raises(RuntimeError, match="serves 2 models .*--judge-model"):
            remote(server, model=None).identity()
    with ChatServer(lambda body: Reply("x")) as server:
        url = server.url
    with pytest.raises(RuntimeError, match="cannot learn which model .*cannot reach the server.*--judge-model"):
        RemoteJudge(url, api_key_env=KEY_ENV, retries=0).identity()


def test_a_timed_out_request_is_retried_and_one_that_always_times_out_fails_alone():
    def respond(text, count):
        if text == "slow once" and count == 1 or text == "always slow":
            return Reply("late", delay=1.0)
        return Reply(f"ok {text}")

    respond, seen = counted(respond)
    with ChatServer(respond) as server:
        judge = remote(server, timeout=0.3, retries=2, concurrency=4)
        results, arrived = collect(
            judge, [conversation("fast"), conversation("slow once"), conversation("always slow")]
        )
    assert results[:2] == ["ok fast", "ok slow once"] and set(arrived) == {0, 1}
    assert isinstance(results[2], Exception)
    assert "after 3 attempts" in str(results[2]) and "no complete answer within 0.3 s" in str(results[2])
    assert seen == {"fast": 1, "slow once": 2, "always slow": 3}


def test_server_errors_are_retried_with_backoff_and_client_errors_are_not(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-do-not-print")

    def respond(text, count):
        if text == "503 twice" and count <= 2:
            return Reply("overloaded", status=503)
        if text == "429 once" and count == 1:
            return Reply("slow down", status=429, headers={"Retry-After": "0"})
        if text == "always 500":
            return Reply("boom", status=500)
        if text == "bad request":
            return Reply("unknown field", status=400)
        if text == "unauthorized":
            return Reply("invalid key", status=401)
        return Reply(f"ok {text}")

    respond, seen = counted(respond)
    names = ["503 twice", "429 once", "always 500", "bad request", "unauthorized", "fine"]
    with ChatServer(respond) as server:
        results, arrived = collect(remote(server, retries=2, concurrency=2), [conversation(n) for n in names])
    assert results[0] == "ok 503 twice" and results[1] == "ok 429 once" and results[5] == "ok fine"
    assert set(arrived) == {0, 1, 5}
    assert "HTTP 500" in str(results[2]) and "after 3 attempts" in str(results[2]) and "boom" in str(results[2])
    assert "HTTP 400" in str(results[3]) and "attempts" not in str(results[3])
    assert "HTTP 401" in str(results[4]) and KEY_ENV in str(results[4]) and "is set" in str(results[4])
    assert all("sk-do-not-print" not in str(r) for r in results)
    assert seen == {"503 twice": 3, "429 once": 2, "always 500": 3, "bad request": 1, "unauthorized": 1, "fine": 1}


def test_backoff_doubles_up_to_its_cap_and_retry_after_is_honoured(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(judge_http, "time", SimpleNamespace(sleep=waits.append, monotonic=time.monotonic))
    with ChatServer(lambda body: Reply("busy", status=503)) as server:
        results, _ = collect(remote(server, retries=4, backoff=1.0, max_backoff=3.0), [conversation("a")])
    assert waits == [1.0, 2.0, 3.0, 3.0] and "after 5 attempts" in str(results[0])
    waits.clear()
    respond, _ = counted(
        lambda text, count: Reply("wait", status=429, headers={"Retry-After": "7"}) if count == 1 else Reply("ok")
    )
    with ChatServer(respond) as server:
        results, _ = collect(remote(server, backoff=1.0), [conversation("a")])
    assert waits == [7.0] and results == ["ok"]


def test_an_unreachable_server_fails_each_request_after_its_retries():
    with ChatServer(lambda body: Reply("x")) as server:
        url = server.url
    judge = RemoteJudge(url, model="m", api_key_env=KEY_ENV, retries=1, backoff=0.01, timeout=2.0)
    results, arrived = collect(judge, [conversation("a"), conversation("b")])
    assert arrived == {} and all("cannot reach the server" in str(r) and "after 2 attempts" in str(r) for r in results)


def test_a_malformed_success_fails_that_request_without_retrying():
    with ChatServer(lambda body: Reply(None)) as server:  # content null
        results, _ = collect(remote(server), [conversation("a")])
    assert "not text" in str(results[0]) and len(server.chats) == 1


def test_urls_are_normalised_and_credentials_or_other_schemes_refused():
    assert base_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"
    assert base_url("https://api.example.com/v1/chat/completions") == "https://api.example.com/v1"
    with pytest.raises(ValueError, match="credentials"):
        base_url("http://user:secret@127.0.0.1:8000/v1")
    with pytest.raises(ValueError, match="not an http"):
        base_url("ftp://127.0.0.1/v1")
    with pytest.raises(ValueError, match="without a query"):
        base_url("http://127.0.0.1:8000/v1?key=abc")
    with pytest.raises(ValueError, match="concurrency"):
        RemoteJudge("http://127.0.0.1:1/v1", api_key_env=KEY_ENV, concurrency=0)
    assert "secret" not in repr(RemoteJudge("http://127.0.0.1:1/v1", model="m", api_key_env="PATH"))
