from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra (pip install 'fastswap[ray]')")

from conftest import psnr  # noqa: E402

from fastswap import batch  # noqa: E402
from fastswap.ray import run_batch_ray, swap_dataset  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_engine_writes_the_same_outputs_as_the_local_engine(local_ray, tmp_path, demo):
    d = tmp_path / "in"
    d.mkdir()
    cv2.imwrite(str(d / "a.jpg"), demo["astronaut"])
    cv2.imwrite(str(d / "g.png"), demo["grace_hopper"])
    cv2.imwrite(str(d / "flat.png"), np.full((100, 120, 3), 50, np.uint8))
    (d / "bad.jpg").write_bytes(b"nope")
    src = tmp_path / "src.jpg"
    cv2.imwrite(str(src), demo["grace_hopper"])
    opts = batch.BatchOptions()
    local = batch.run_batch(
        batch.target_jobs(src, str(d), tmp_path / "local", None), tmp_path / "local", opts, workers=1, quiet=True
    )
    remote = run_batch_ray(batch.target_jobs(src, str(d), tmp_path / "ray", None), tmp_path / "ray", opts, quiet=True)
    assert (local.swapped, local.no_face, local.failed) == (remote.swapped, remote.no_face, remote.failed) == (2, 1, 1)
    # The same swap: MediaPipe's landmarks can differ in the last float bits between processes with
    # other thread settings, so the images agree to within rounding, not bit for bit.
    for name in ("a.jpg", "g.png", "flat.png"):
        a = cv2.imread(str(tmp_path / "local" / name))
        b = cv2.imread(str(tmp_path / "ray" / name))
        assert a is not None and b is not None and a.shape == b.shape, name
        assert psnr(a, b) > 40, name
    statuses = {
        json.loads(x)["target"].rsplit("/", 1)[1]: json.loads(x)["status"]
        for x in (tmp_path / "ray" / "report.jsonl").read_text().splitlines()
    }
    assert statuses == {"a.jpg": "swapped", "g.png": "swapped", "flat.png": "no-face", "bad.jpg": "failed"}


def test_swap_dataset_stage(local_ray, demo):
    ds = ray.data.from_items([{"image": demo["astronaut"]}, {"image": np.full((80, 80, 3), 9, np.uint8)}])
    rows = swap_dataset(ds, demo["grace_hopper"], concurrency=1).take_all()
    assert sorted(r["status"] for r in rows) == ["no-face", "swapped"]
    done = next(r for r in rows if r["status"] == "swapped")
    assert done["swapped"].shape == demo["astronaut"].shape and done["faces"] == 1
    assert np.abs(done["swapped"].astype(int) - demo["astronaut"]).max() > 50


def test_swap_dataset_takes_the_quality_options(local_ray, demo):
    from fastswap import FaceSwapper, InputError

    opts = {"blend": "alpha", "color_correct": False, "shape": 0.0}
    ds = ray.data.from_items([{"image": demo["astronaut"]}])
    (row,) = swap_dataset(ds, demo["grace_hopper"], concurrency=1, **opts).take_all()
    with FaceSwapper(demo["grace_hopper"], **opts) as fs:
        expected = fs.swap(demo["astronaut"])
    assert psnr(row["swapped"], expected) > 40  # the same swap as the local one with these options
    with pytest.raises(InputError, match="shape"):
        swap_dataset(ds, demo["grace_hopper"], shape=2.0)


def test_cli_engine_ray(local_ray, tmp_path, demo):
    from fastswap.cli import main

    cv2.imwrite(str(tmp_path / "t.jpg"), demo["astronaut"])
    cv2.imwrite(str(tmp_path / "s.jpg"), demo["grace_hopper"])
    out = tmp_path / "out"
    code = main(
        [
            "batch",
            "--source",
            str(tmp_path / "s.jpg"),
            "--targets",
            str(tmp_path / "t.jpg*"),
            "-o",
            str(out),
            "--engine",
            "ray",
            "--quiet",
        ]
    )
    assert code == 0 and cv2.imread(str(out / "t.jpg")) is not None
