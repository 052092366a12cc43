from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from fastswap import InputError
from fastswap.imageio import load, read_image, write_image_atomic


@pytest.fixture
def jpeg_bytes(demo):
    ok, buf = cv2.imencode(".jpg", demo["grace_hopper"])
    assert ok
    return buf.tobytes()


def test_missing_directory_empty_and_non_image(tmp_path):
    with pytest.raises(InputError, match="missing.jpg: cannot read file"):
        read_image(tmp_path / "missing.jpg")
    (tmp_path / "dir.jpg").mkdir()
    with pytest.raises(InputError, match="dir.jpg: is a directory"):
        read_image(tmp_path / "dir.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.jpg: file is empty \(0 bytes\)"):
        read_image(tmp_path / "empty.jpg")
    (tmp_path / "text.png").write_text("hello, not an image")
    with pytest.raises(InputError, match="text.png: not a readable image"):
        read_image(tmp_path / "text.png")


def test_truncated_files(tmp_path, jpeg_bytes, demo):
    (tmp_path / "cut.jpg").write_bytes(jpeg_bytes[: len(jpeg_bytes) // 2])
    with pytest.raises(InputError, match="cut.jpg: file is truncated"):
        read_image(tmp_path / "cut.jpg")
    ok, png = cv2.imencode(".png", demo["astronaut"])
    (tmp_path / "cut.png").write_bytes(png.tobytes()[:-2000])
    with pytest.raises(InputError, match="cut.png: file is truncated"):
        read_image(tmp_path / "cut.png")


def test_gray_rgba_and_16bit_are_converted(tmp_path, demo):
    img = demo["astronaut"]
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(img, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(tmp_path / "w.png"), img.astype(np.uint16) * 257)
    g = read_image(tmp_path / "g.png")
    assert g.shape == img.shape and np.array_equal(g[:, :, 0], gray) and np.array_equal(g[:, :, 2], gray)
    assert np.array_equal(read_image(tmp_path / "a.png"), img)
    assert np.array_equal(read_image(tmp_path / "w.png"), img)
    assert np.array_equal(load(img[:, :, ::-1], name="x", color="rgb"), img)
    assert np.array_equal(load(img.astype(np.float32) / 255, name="x"), img)


def test_exif_rotation_is_honoured(tmp_path, demo):
    img = demo["grace_hopper"]  # 600 x 512 portrait
    pil = Image.fromarray(img[:, :, ::-1])
    exif = pil.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", exif=exif, quality=95)
    (tmp_path / "rot.jpg").write_bytes(buf.getvalue())
    out = read_image(tmp_path / "rot.jpg")
    assert out.shape[:2] == (img.shape[1], img.shape[0])
    expect = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    assert np.abs(out.astype(int) - expect).mean() < 4


def test_pixel_limit(tmp_path, demo):
    cv2.imwrite(str(tmp_path / "big.png"), demo["astronaut"])
    with pytest.raises(InputError, match="big.png: image has 512x512 = 262144 pixels, above the limit"):
        read_image(tmp_path / "big.png", max_pixels=100_000)
    assert read_image(tmp_path / "big.png", max_pixels=262_144).shape == (512, 512, 3)


def test_atomic_write_refuses_inputs_and_leaves_no_temporaries(tmp_path, demo):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), demo["astronaut"])
    before = src.read_bytes()
    with pytest.raises(InputError, match="same file as input"):
        write_image_atomic(tmp_path / "." / "in.png", demo["grace_hopper"], inputs=(src,))
    assert src.read_bytes() == before
    out = write_image_atomic(tmp_path / "sub" / "out.jpg", demo["grace_hopper"])
    assert cv2.imread(str(out)).shape == demo["grace_hopper"].shape
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["out.jpg"]


def test_huge_image_is_refused_before_decoding(tmp_path):
    """A 30000 x 30000 PNG header (900 megapixels): the limit names the size; nothing is decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    (tmp_path / "huge.png").write_bytes(png)
    with pytest.raises(InputError, match=r"huge.png: image has 30000x30000 = 900000000 pixels, above the limit"):
        read_image(tmp_path / "huge.png")
