"""Where model weights come from: a local directory, or the Hugging Face cache and the hub behind it.

A model is named by a hub id or a local directory. A local directory is loaded as it is and never
fetched. A hub id resolves through the Hugging Face cache (``HF_HOME``), and through the network
unless the hub is off: ``HF_HUB_OFFLINE=1``, or a hub this process cannot reach.

Why the reachability check: with no network, huggingface_hub retries every request for about 20 s
before it gives up, and a model adapter makes several. So before its first hub lookup a process
tries once, with a short TCP connection (:data:`PROBE_TIMEOUT_S`), to reach the configured endpoint
(``HF_ENDPOINT``, or the proxy that serves it); when that fails, every lookup of the process resolves
from the local cache only (``local_files_only``) and a missing model fails at once with the command
that fetches it.

Why typed exceptions: a missing model is recognised by huggingface_hub's exceptions (repository,
revision or file not found, gated, offline), which transformers and diffusers chain under the
``OSError`` they raise, or by that bare ``OSError`` alone, which is how both loaders say that a file
is absent from a folder. The text of a message is never read, so a corrupt config, a broken weight
file or a bug surfaces as itself and is never reported as "not available locally".
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mige_eval.errors import MissingWeightsError
from mige_eval.runtime import require

DEFAULT_ENDPOINT = "https://huggingface.co"
#: Seconds the one reachability probe of a process may take (name lookup and TCP connection).
PROBE_TIMEOUT_S = 3.0
#: huggingface_hub's exceptions that mean "these files are not here" (names, so that a version
#: lacking one still works). GatedRepoError is a RepositoryNotFoundError, with a message of its own.
MISSING_ERRORS = (
    "RepositoryNotFoundError",
    "RevisionNotFoundError",
    "EntryNotFoundError",
    "LocalEntryNotFoundError",
    "OfflineModeIsEnabled",
    "DisabledRepoError",
    "HFValidationError",
)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def is_local(model_id: str | os.PathLike) -> bool:
    """A model id that names an existing directory (or looks like a path) is local, never fetched."""
    text = str(model_id)
    return Path(text).expanduser().exists() or text.startswith((".", "/", "~"))


def endpoint() -> str:
    """The hub this process talks to: huggingface_hub's ``HF_ENDPOINT`` setting."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")
    return str(constants.ENDPOINT).rstrip("/")


def hub_reachable() -> bool:
    """Whether a TCP connection to the hub (or the proxy that serves it) opens within :data:`PROBE_TIMEOUT_S`;
    tried once per process and endpoint."""
    url = endpoint()
    return _reachable(url, urllib.request.getproxies().get(urllib.parse.urlsplit(url).scheme) or "")


@functools.cache
def _reachable(url: str, proxy: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    if not host:
        return False
    done = threading.Event()
    result = {"ok": False}

    def connect() -> None:  # in a thread: the name lookup itself is not bounded by a socket timeout
        try:
            socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
            result["ok"] = True
        except OSError:
            pass
        done.set()

    threading.Thread(target=connect, name="mige-eval-hub-probe", daemon=True).start()
    return done.wait(PROBE_TIMEOUT_S) and result["ok"]


def cache_only() -> bool:
    """True when hub ids must resolve from the local cache alone: HF_HUB_OFFLINE, or an unreachable hub.

    An unreachable hub also turns on huggingface_hub's own offline switch for the rest of the process,
    so that the lookups a library makes by itself (a pipeline component that loads a tokenizer by name)
    stay in the cache too instead of retrying.
    """
    if hub_offline():
        return True
    if hub_reachable():
        return False
    try:
        from huggingface_hub import constants
    except ImportError:
        return True
    constants.HF_HUB_OFFLINE = True
    return True


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)


def _is_a(exc: BaseException, names: tuple[str, ...]) -> bool:
    errors = require("huggingface_hub.errors", extra="metrics", purpose="reading Hugging Face hub errors")
    types = tuple(t for t in (getattr(errors, n, None) for n in names) if isinstance(t, type))
    return isinstance(exc, types)


def missing_files_error(exc: BaseException) -> BaseException | None:
    """The error in ``exc``'s chain that says the model's files are absent, or None for any other failure.

    Absent: huggingface_hub's "not found / gated / offline" errors, raised as such or chained under the
    ``OSError`` of a loader; or a chain of a loader's plain ``OSError`` (no errno) naming a file missing from a
    folder or the cache. Anything
    else (a config that is not JSON, a broken weight file, a ``TypeError``) is not about missing files.
    """
    if not isinstance(exc, OSError) and not _is_a(exc, MISSING_ERRORS):
        return None
    links = list(_chain(exc))
    for link in links:
        if _is_a(link, MISSING_ERRORS):
            return link
    # transformers re-raises its own "Can't load ... / does not appear to have a file" OSError while handling
    # the first one: the chain then ends in a plain OSError (no errno: no operating-system failure).
    root = links[-1]
    return root if type(root) is OSError and root.errno is None else None


def _why_local_only() -> str:
    if hub_offline():
        return " and HF_HUB_OFFLINE is set"
    return "" if hub_reachable() else f" and the hub ({endpoint()}) cannot be reached from here"


def weights_hint(model_id: str, *, what: str, revision: str | None = None, fetch_with: str = "") -> str:
    """The sentence every missing-weights error says: what is missing, why it was not fetched, how to get it."""
    at = f" at revision {revision}" if revision not in (None, "main") else ""
    return (
        f"{what} {model_id!r}{at} is not available locally{_why_local_only()}. Fetch it on a machine with network "
        f"access with {fetch_with or f'`hf download {model_id}`'} (it lands in the Hugging Face cache; copy "
        "~/.cache/huggingface or set HF_HOME), or pass a local directory holding its files instead of the id."
    )


def missing_weights(
    exc: BaseException, model_id: str, *, what: str, revision: str | None = None, fetch_with: str = ""
) -> MissingWeightsError | None:
    """The :class:`MissingWeightsError` that ``exc`` stands for, or None when ``exc`` is about something else."""
    cause = missing_files_error(exc)
    if cause is None:
        return None
    if _is_a(cause, ("GatedRepoError",)):
        return MissingWeightsError(
            f"{what} {model_id!r} is gated on the hub: accept its terms on {endpoint()}/{model_id} and log in with "
            f"`hf auth login` (or set HF_TOKEN), or pass a local directory holding its files (hub said: {cause})"
        )
    if is_local(model_id):
        return MissingWeightsError(f"{what}: {model_id} is not a complete model directory ({exc})")
    return MissingWeightsError(
        weights_hint(model_id, what=what, revision=revision, fetch_with=fetch_with)
        + f" (loader said: {type(cause).__name__}: {cause})"
    )


def load_pretrained(loader: Any, model_id: str, *, what: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(model_id, **kwargs)``, a missing model becoming a :class:`MissingWeightsError`.

    A local directory is loaded as it is; a hub id goes through the Hugging Face cache, and the network
    only when the hub is on and reachable. Either way a missing model raises :class:`MissingWeightsError`
    naming it and the command that fetches it; every other error propagates unchanged.
    """
    if is_local(model_id):
        path = Path(str(model_id)).expanduser()
        if not path.is_dir():
            raise MissingWeightsError(f"{what}: local model directory {path} does not exist")
        model_id = str(path)
    elif cache_only():
        kwargs.setdefault("local_files_only", True)
    try:
        return loader.from_pretrained(model_id, **kwargs)
    except Exception as exc:
        missing = missing_weights(exc, model_id, what=what, revision=kwargs.get("revision"))
        if missing is None:
            raise
        raise missing from exc


def snapshot(
    model_id: str, *, revision: str | None, allow_patterns: list[str], what: str, fetch_with: str = ""
) -> Path:
    """The model's snapshot folder in the Hugging Face cache, downloading what is missing while the hub is
    reachable (``huggingface_hub.snapshot_download``); a missing model raises :class:`MissingWeightsError`."""
    hub = require("huggingface_hub", extra="metrics", purpose=f"fetching {what} from the Hugging Face hub")
    try:
        return Path(
            hub.snapshot_download(
                model_id, revision=revision, allow_patterns=allow_patterns, local_files_only=cache_only()
            )
        )
    except Exception as exc:
        missing = missing_weights(exc, model_id, what=what, revision=revision, fetch_with=fetch_with)
        if missing is None:
            raise
        raise missing from exc
