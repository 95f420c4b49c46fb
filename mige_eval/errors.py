"""Errors that speak to the user about the environment rather than one sample."""

from __future__ import annotations


class RunError(RuntimeError):
    """A run that cannot start or continue (a directory made with other settings, a task the adapter
    lacks, ...); nothing already written is touched."""


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""


class MissingWeightsError(FileNotFoundError):
    """Model files are neither in a local directory nor in the Hugging Face cache (or the hub is off)."""


#: Errors that stop a run instead of failing one sample: the environment is wrong for every sample
#: (missing weights or packages, out of memory). Whatever was finished stays on disk.
FATAL_ERRORS: tuple[type[BaseException], ...] = (ImportError, MemoryError, MissingWeightsError)
