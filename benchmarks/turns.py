"""Multi-turn editing: a sample whose model must edit its own previous output, turn after turn.

MagicBrush's ``multi-turn`` setting scores only the last image of a session, but the model has to
produce it by chaining: turn 1 edits the session's input image, turn k edits the model's output of
turn k-1. Such a sample carries its turns in ``meta[TURNS]`` (a tuple of :class:`Turn`); its own
``source`` is the session input and its ``instruction`` / ``mask`` are those of turn 1, so that the
sample read as a plain request is the first edit of the chain.

:func:`generate_chained` is the one place that runs a chain: it wraps an adapter's ``generate`` and
is meant to replace the runner's direct ``adapter.generate(requests)`` call. Requests without turns
pass through in one call; chained requests run in waves (every chain's turn 1 in one call, then
every chain's turn 2, ...), each turn a request of its own with the previous output as ``source``,
the turn's instruction and mask, ``meta["turn"]`` = k, and the sample's seed (the seed is per
sample, so the chain never depends on the batch around it). The last output is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mige_eval.images import check_output

if TYPE_CHECKING:
    from PIL import Image

    from mige_eval.images import ImageRef
    from mige_eval.types import Request

#: ``Sample.meta`` / ``Request.meta`` key holding a chained sample's turns.
TURNS = "turns"


@dataclass(frozen=True)
class Turn:
    """One edit of a session as the model receives it; ``index`` is the 1-based turn number."""

    index: int
    instruction: str
    mask: ImageRef | None = None


def generate_chained(
    generate: Callable[[list[Request]], Sequence[Image.Image]],
    requests: Sequence[Request],
    load: Callable[[ImageRef], Image.Image],
) -> list[Image.Image]:
    """One image per request, in order; requests with ``meta[TURNS]`` are generated turn by turn.

    ``load`` decodes a turn's mask (the runner's memoised loader). An exception from ``generate``
    propagates unchanged, so a caller that narrows failures down per request keeps working.
    """
    chains = {i: tuple(r.meta[TURNS]) for i, r in enumerate(requests) if r.meta.get(TURNS)}
    if not chains:  # the common case: exactly the adapter's own call, checked by the caller as before
        return generate(list(requests))
    outputs: dict[int, Image.Image] = {}
    plain = [i for i in range(len(requests)) if i not in chains]
    if plain:
        outputs.update(zip(plain, _call(generate, [requests[i] for i in plain])))
    current = {i: requests[i].source for i in chains}
    for step in range(max((len(t) for t in chains.values()), default=0)):
        wave = [i for i, turns in chains.items() if step < len(turns)]
        batch = [_turn_request(requests[i], chains[i][step], current[i], load) for i in wave]
        for i, request, image in zip(wave, batch, _call(generate, batch)):
            current[i] = check_output(image, f"sample {request.id}, turn {chains[i][step].index}")
    outputs.update(current)
    return [outputs[i] for i in range(len(requests))]


def _turn_request(
    request: Request, turn: Turn, source: Image.Image | None, load: Callable[[ImageRef], Image.Image]
) -> Request:
    meta = {k: v for k, v in request.meta.items() if k != TURNS}
    meta["turn"] = turn.index
    return replace(
        request,
        instruction=turn.instruction,
        prompt=turn.instruction,
        source=source,
        mask=load(turn.mask) if turn.mask is not None else None,
        meta=meta,
    )


def _call(generate: Callable[[list[Request]], Sequence[Image.Image]], requests: list[Request]) -> list[Image.Image]:
    images = generate(requests)
    if not isinstance(images, (list, tuple)) or len(images) != len(requests):
        got = len(images) if isinstance(images, (list, tuple)) else type(images).__name__
        raise RuntimeError(f"generate() returned {got} images for {len(requests)} requests")
    return list(images)
