"""Looking a name up: every unknown name a user typed gets the same "did you mean" suggestion."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """`` Did you mean 'x' or 'y'?`` for the (up to three) known names close to ``name``; ``""`` when none is."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=3, cutoff=0.5)
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
