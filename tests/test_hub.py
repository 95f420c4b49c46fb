"""Weight locations: a missing model is recognised by huggingface_hub's exception types (never by message
text), and an unreachable hub is detected once, quickly, after which hub ids resolve from the cache only."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import fake_hub
from mige_eval import hub
from mige_eval.errors import MissingWeightsError

transformers = pytest.importorskip("transformers", reason="needs the metrics extra: pip install -e '.[metrics]'")
hub_errors = pytest.importorskip("huggingface_hub.errors", reason="needs the metrics extra")
hub_constants = pytest.importorskip("huggingface_hub.constants", reason="needs the metrics extra")


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, the hub switched off by HF_HUB_OFFLINE."""
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hub"


@pytest.fixture()
def unreachable(monkeypatch, tmp_path):
    """A hub endpoint that refuses connections, nothing probed yet, an empty cache, HF_HUB_OFFLINE unset."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)  # restored after the test: cache_only() sets it
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    url = fake_hub.closed_endpoint()
    monkeypatch.setattr(hub, "endpoint", lambda: url)
    hub._reachable.cache_clear()
    yield url
    hub._reachable.cache_clear()


def _chained(top: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise top from inner
    except BaseException as exc:
        return exc


def test_missing_files_are_recognised_by_type_not_by_message_text():
    local_miss = hub_errors.LocalEntryNotFoundError("cannot find the requested files in the local cache")
    wrapped = _chained(OSError("We couldn't connect to load the files"), local_miss)
    assert hub.missing_files_error(wrapped) is local_miss
    assert hub.missing_files_error(local_miss) is local_miss
    offline = hub_errors.OfflineModeIsEnabled("outgoing traffic has been disabled")
    assert (
        hub.missing_files_error(_chained(OSError("does not appear to have a file named config.json"), offline))
        is offline
    )
    bare = OSError("Error no file named model.safetensors found in directory /m")  # how loaders say "absent"
    assert hub.missing_files_error(bare) is bare
    # unrelated errors, whatever their text says
    corrupt = _chained(OSError("config file not found or not valid JSON"), json.JSONDecodeError("x", "{", 1))
    assert hub.missing_files_error(corrupt) is None
    assert hub.missing_files_error(ValueError("model not found; offline; Can't load; does not exist")) is None
    assert hub.missing_files_error(TypeError("from_pretrained() got an unexpected keyword 'x'")) is None
    assert hub.missing_files_error(OSError(errno.EIO, "Input/output error: not found")) is None
    assert hub.missing_files_error(_chained(KeyError("model_type"), local_miss)) is None  # a bug while handling one


def test_an_uncached_model_offline_is_a_clear_error(empty_cache):
    with pytest.raises(MissingWeightsError) as caught:
        hub.load_pretrained(transformers.AutoConfig, "org/absent", what="CLIP backbone")
    text = str(caught.value)
    assert "CLIP backbone 'org/absent' is not available locally and HF_HUB_OFFLINE is set" in text
    assert "`hf download org/absent`" in text and "LocalEntryNotFoundError" in text
    with pytest.raises(MissingWeightsError, match="'org/absent' at revision v2 is not available locally"):
        hub.snapshot("org/absent", revision="v2", allow_patterns=["*.json"], what="model")


def test_unrelated_errors_propagate_as_themselves(empty_cache, tiny_clip, tmp_path, monkeypatch):
    corrupt = shutil.copytree(tiny_clip, tmp_path / "corrupt")
    (corrupt / "config.json").write_text("{not json")
    with pytest.raises(OSError) as caught:
        hub.load_pretrained(transformers.AutoConfig, str(corrupt), what="CLIP backbone")
    assert not isinstance(caught.value, MissingWeightsError)
    assert isinstance(caught.value.__context__, json.JSONDecodeError)

    cached = empty_cache / "models--org--corrupt"  # the same corrupt config, through the hub cache
    shutil.copytree(corrupt, cached / "snapshots" / ("a" * 40))
    (cached / "refs").mkdir()
    (cached / "refs" / "main").write_text("a" * 40)
    with pytest.raises(OSError) as caught:
        hub.load_pretrained(transformers.AutoConfig, "org/corrupt", what="CLIP backbone")
    assert not isinstance(caught.value, MissingWeightsError)

    class Buggy:
        @staticmethod
        def from_pretrained(model_id, **kwargs):
            raise ValueError("weights not found: the offline cache does not exist")  # words of the old text match

    with pytest.raises(ValueError, match="weights not found"):
        hub.load_pretrained(Buggy, "org/anything", what="model")

    import huggingface_hub

    def snapshot_bug(*args, **kwargs):
        raise RuntimeError("a bug in the snapshot code")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_bug)
    with pytest.raises(RuntimeError, match="a bug in the snapshot code"):
        hub.snapshot("org/absent", revision=None, allow_patterns=["*.json"], what="model")


def test_a_local_folder_without_weights_is_incomplete(tiny_clip, tmp_path):
    folder = tmp_path / "config-only"
    folder.mkdir()
    shutil.copy(tiny_clip / "config.json", folder / "config.json")
    with pytest.raises(MissingWeightsError, match="config-only is not a complete model directory"):
        hub.load_pretrained(transformers.CLIPModel, str(folder), what="CLIP backbone")
    with pytest.raises(MissingWeightsError, match="local model directory .*nowhere does not exist"):
        hub.load_pretrained(transformers.CLIPModel, str(tmp_path / "nowhere"), what="CLIP backbone")


def test_an_unreachable_hub_is_probed_once_and_then_only_the_cache_is_read(unreachable, monkeypatch):
    attempts = []
    real = socket.create_connection

    def counting(address, *args, **kwargs):
        attempts.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    start = time.monotonic()
    assert hub.hub_reachable() is False and hub.hub_reachable() is False
    assert len(attempts) == 1 and time.monotonic() - start < hub.PROBE_TIMEOUT_S
    with pytest.raises(MissingWeightsError) as caught:
        hub.load_pretrained(transformers.AutoConfig, "org/absent", what="CLIP backbone")
    assert time.monotonic() - start < hub.PROBE_TIMEOUT_S  # no request, no retry: the cache alone was read
    assert f"is not available locally and the hub ({unreachable}) cannot be reached" in str(caught.value)
    assert len(attempts) == 1 and hub_constants.HF_HUB_OFFLINE is True  # libraries' own lookups stay local too


def test_a_hub_that_drops_connections_is_given_up_after_the_probe_timeout(monkeypatch):
    monkeypatch.setattr(hub, "PROBE_TIMEOUT_S", 0.5)
    hub._reachable.cache_clear()
    with fake_hub.dropping_hub() as url:
        start = time.monotonic()
        assert hub._reachable(url, "") is False
        assert time.monotonic() - start < 1.5
        with fake_hub.answering_hub() as proxy:  # the probe goes to the proxy that would carry the requests
            assert hub._reachable(url, proxy) is True
    hub._reachable.cache_clear()


def test_a_reachable_hub_names_missing_and_gated_repositories(tmp_path):
    """A hub that answers (here a stand-in with the hub's error codes) is asked, and its answer is typed."""
    code = """
        import time
        from transformers import AutoConfig
        from mige_eval import hub
        from mige_eval.errors import MissingWeightsError
        print("reachable", hub.hub_reachable())
        for repo in ("org/absent", "org/gated"):
            start = time.monotonic()
            try:
                hub.load_pretrained(AutoConfig, repo, what="model")
            except MissingWeightsError as exc:
                print(repo, round(time.monotonic() - start, 1), "|", str(exc).replace("\\n", " "))
    """
    with fake_hub.answering_hub() as url:
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**env, "HF_ENDPOINT": url, "HF_HOME": str(tmp_path / "hf")},
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "reachable True"
    absent = next(line for line in lines if line.startswith("org/absent"))
    assert "model 'org/absent' is not available locally. Fetch it" in absent and "RepositoryNotFoundError" in absent
    gated = next(line for line in lines if line.startswith("org/gated"))
    assert f"model 'org/gated' is gated on the hub: accept its terms on {url}/org/gated" in gated
    assert all(float(line.split()[1]) < 10 for line in (absent, gated))  # answered, not retried
