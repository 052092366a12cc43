"""Exceptions raised by fastswap, each carrying the CLI exit code documented in the README."""

from __future__ import annotations


class FastswapError(Exception):
    """Base class of every error fastswap raises on purpose."""

    exit_code = 1


class InputError(FastswapError):
    """An argument or input file is unusable (unreadable, empty, truncated, not an image, too large)."""

    exit_code = 2


class NoSourceFaceError(FastswapError):
    """No face was found in the source image."""

    exit_code = 3


class ModelError(FastswapError):
    """The MediaPipe model is missing or is not the expected file."""

    exit_code = 5


class BackendUnavailableError(FastswapError):
    """A backend was asked for by name but cannot be used here; the message says why."""

    exit_code = 6


class OutputError(FastswapError):
    """An output could not be written."""

    exit_code = 7
