"""Reading images (paths or arrays) into one canonical form, and writing outputs atomically.

Canonical form: host ``numpy.ndarray`` of shape (H, W, 3), dtype uint8, BGR channel order, C-contiguous.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .errors import InputError, OutputError

ImageLike = str | os.PathLike | np.ndarray
DEFAULT_MAX_PIXELS = 100_000_000
_JPEG_EOI = b"\xff\xd9"
_pil_header_lock = threading.Lock()
_PNG_END = b"IEND"


def to_bgr_uint8(img: np.ndarray, *, name: str = "image", color: str = "bgr") -> np.ndarray:
    """Convert a host array to (H, W, 3) uint8 BGR.

    Accepts (H, W), (H, W, 1), (H, W, 3) and (H, W, 4) arrays of uint8, uint16 (scaled by 1/257) or
    float (taken as 0..1); ``color`` says whether 3/4-channel input is "bgr" or "rgb". Alpha is dropped.
    """
    if not isinstance(img, np.ndarray):
        raise InputError(f"{name}: expected a numpy array, got {type(img).__name__}")
    if color not in ("bgr", "rgb"):
        raise InputError(f"color must be 'bgr' or 'rgb', got {color!r}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise InputError(f"{name}: expected shape (H, W), (H, W, 3) or (H, W, 4), got {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise InputError(f"{name}: image is empty (shape {img.shape})")
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype.kind == "f":
        img = np.clip(np.nan_to_num(img) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise InputError(f"{name}: expected dtype uint8, uint16 or float, got {img.dtype}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        code = cv2.COLOR_BGRA2BGR if color == "bgr" else cv2.COLOR_RGBA2BGR
        return cv2.cvtColor(img, code)
    if color == "rgb":
        return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(img)


def read_image(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file into (H, W, 3) uint8 BGR (host), honouring EXIF orientation.

    Grayscale, RGBA and 16-bit files are converted. Raises :class:`InputError` naming the file when it
    cannot be read, is empty, is a directory, is truncated, is not an image, or has more than
    ``max_pixels`` pixels.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not an image file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read file ({e.strerror or e})") from e
    if not data:
        raise InputError(f"{p}: file is empty (0 bytes)")
    try:
        with _pil_header_lock:  # fastswap enforces its own pixel limit, below; PIL's would refuse first
            limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                with Image.open(p) as im:
                    w, h = im.size
                    fmt = im.format
            finally:
                Image.MAX_IMAGE_PIXELS = limit
    except Exception as e:  # PIL raises several types for non-images
        raise InputError(f"{p}: not a readable image ({e})") from e
    if w * h > max_pixels:
        raise InputError(
            f"{p}: image has {w}x{h} = {w * h} pixels, above the limit of {max_pixels} "
            "(raise it with --max-pixels / max_pixels=)"
        )
    tail = data[-256:]
    if (fmt == "JPEG" and _JPEG_EOI not in tail) or (fmt == "PNG" and _PNG_END not in tail):
        raise InputError(f"{p}: file is truncated ({fmt} data ends early)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if img is None:
        raise InputError(f"{p}: OpenCV cannot decode this {fmt} file")
    return to_bgr_uint8(img, name=str(p))


def load(image: ImageLike, *, name: str, color: str = "bgr", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Path or array to (H, W, 3) uint8 BGR on the host (``color`` applies to arrays only)."""
    if isinstance(image, np.ndarray):
        if image.shape[0] * (image.shape[1] if image.ndim > 1 else 1) > max_pixels:
            raise InputError(f"{name}: array has more than {max_pixels} pixels")
        return to_bgr_uint8(image, name=name, color=color)
    if isinstance(image, (str, os.PathLike)):
        return read_image(image, max_pixels=max_pixels)
    raise InputError(f"{name}: expected a path or a numpy array, got {type(image).__name__}")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two paths name the same file (or the same not-yet-existing path)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return pa.resolve() == pb.resolve()


def write_image_atomic(path: str | os.PathLike, img: np.ndarray, *, inputs: tuple = ()) -> Path:
    """Encode ``img`` ((H, W, 3) uint8 BGR, host) by the path's extension and write it atomically.

    The data goes to a temporary file in the same directory, is flushed to disk, then renamed over
    ``path``: a reader never sees a half-written file. Refuses (``InputError``) a path that is one of
    ``inputs``. Raises ``OutputError`` when encoding or writing fails.
    """
    out = Path(path)
    for src in inputs:
        if isinstance(src, (str, os.PathLike)) and same_file(out, src):
            raise InputError(f"{out}: output path is the same file as input {src}; refusing to overwrite")
    ext = out.suffix.lower() or ".png"
    try:
        ok, buf = cv2.imencode(ext, img)
    except cv2.error as e:
        raise OutputError(f"{out}: cannot encode image as {ext!r} ({e})") from e
    if not ok:
        raise OutputError(f"{out}: cannot encode image as {ext!r}")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=parent)
    except OSError as e:
        raise OutputError(f"{out}: cannot create output ({e})") from e
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)
            f.write(buf)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException as e:
        discard_partial(tmp, out, e)
    return out


def discard_partial(tmp: str | os.PathLike, out: Path, error: BaseException) -> None:
    """Remove the temporary file ``tmp`` of an output ``out`` whose writing failed with ``error``, then
    raise: an ``OSError`` as :class:`OutputError` naming ``out``, anything else as it is. Called from
    the ``except`` block that caught ``error``."""
    try:
        os.unlink(tmp)
    except OSError:
        pass
    if isinstance(error, OSError):
        raise OutputError(f"{out}: cannot write output ({error})") from error
    raise error
