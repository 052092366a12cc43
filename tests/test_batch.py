from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fastswap.cli import main


def records(path: Path) -> dict[str, dict]:
    return {Path(r["target"]).name: r for r in map(json.loads, path.read_text().splitlines())}


@pytest.fixture
def mixed(tmp_path, demo):
    """A batch mixing good photos with every kind of bad input."""
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    cv2.imwrite(str(d / "astronaut.jpg"), demo["astronaut"])
    cv2.imwrite(str(d / "sub" / "gray.png"), cv2.cvtColor(demo["astronaut"], cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(d / "rgba.png"), cv2.cvtColor(demo["grace_hopper"], cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(d / "noface.png"), np.full((200, 260, 3), 120, np.uint8))
    ok, buf = cv2.imencode(".jpg", demo["grace_hopper"])
    (d / "truncated.jpg").write_bytes(buf.tobytes()[: len(buf) // 3])
    (d / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage" * 10)
    (d / "zero.jpg").write_bytes(b"")
    (d / "folder.jpg").mkdir()
    (d / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    locked = d / "locked.jpg"
    locked.write_bytes(buf.tobytes())
    locked.chmod(0)
    src = tmp_path / "source.jpg"
    cv2.imwrite(str(src), demo["grace_hopper"])
    yield src, d
    locked.chmod(0o644)


def test_mixed_batch_reports_every_input(mixed, tmp_path, capsys):
    src, d = mixed
    out = tmp_path / "out"
    code = main(["batch", "--source", str(src), "--targets", str(d), "-o", str(out), "--workers", "2", "--quiet"])
    assert code == 1
    rec = records(out / "report.jsonl")
    expect = {
        "astronaut.jpg": "swapped",
        "gray.png": "swapped",
        "rgba.png": "swapped",
        "noface.png": "no-face",
        "truncated.jpg": "failed",
        "corrupt.jpg": "failed",
        "zero.jpg": "failed",
        "folder.jpg": "failed",
        "dangling.jpg": "failed",
    }
    # root reads any file whatever its mode: then the locked file is a good photo
    expect["locked.jpg"] = "swapped" if os.geteuid() == 0 else "failed"
    assert {k: v["status"] for k, v in rec.items()} == expect
    assert "truncated" in rec["truncated.jpg"]["reason"] and "0 bytes" in rec["zero.jpg"]["reason"]
    assert "directory" in rec["folder.jpg"]["reason"]
    for name in ("astronaut.jpg", "rgba.png"):
        assert set(rec[name]["ms"]) == {"decode", "detect", "swap", "encode"}
        assert rec[name]["faces"] == 1
        (face,) = rec[name]["face_details"]
        assert face["index"] == 0 and face["swapped"] and 0.5 < face["confidence"] <= 1.0
    assert rec["noface.png"]["face_details"] == []
    assert (out / "sub" / "gray.png").is_file()  # the input tree is mirrored
    assert cv2.imread(str(out / "noface.png")) is not None  # written unchanged
    err = capsys.readouterr().err
    assert "FAILED" in err and "corrupt.jpg" in err
    assert not list(out.rglob(".*.part"))


def test_rerun_skips_finished_outputs_and_overwrite_redoes_them(mixed, tmp_path):
    src, d = mixed
    out = tmp_path / "out"
    args = [
        "batch",
        "--source",
        str(src),
        "--targets",
        str(d / "*.jpg"),
        "-o",
        str(out),
        "--quiet",
        "--workers",
        "1",
        "--format",
        "png",
    ]
    main(args)
    assert (out / "astronaut.png").is_file()
    main(args)
    assert records(out / "report.jsonl")["astronaut.jpg"]["status"] == "skipped"
    main([*args, "--overwrite"])
    assert records(out / "report.jsonl")["astronaut.jpg"]["status"] == "swapped"


def test_pairs_cannot_escape_outdir_or_overwrite_inputs(tmp_path, demo):
    for name, img in demo.items():
        cv2.imwrite(str(tmp_path / f"{name}.jpg"), img)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "source,target,output\n"
        "grace_hopper.jpg,astronaut.jpg,ok/first.png\n"
        "astronaut.jpg,grace_hopper.jpg,../escape.png\n"
        f"astronaut.jpg,grace_hopper.jpg,{tmp_path / 'abs.png'}\n"
        "astronaut.jpg,grace_hopper.jpg,astronaut.jpg\n"
        "only-one-column\n"
    )
    before = (tmp_path / "astronaut.jpg").read_bytes()
    code = main(["batch", "--pairs", str(pairs), "-o", str(tmp_path), "--quiet", "--workers", "1"])
    assert code == 1
    lines = [json.loads(x) for x in (tmp_path / "report.jsonl").read_text().splitlines()]
    status = [r["status"] for r in lines]
    assert sorted(status) == ["failed", "failed", "failed", "failed", "swapped"]
    assert (tmp_path / "ok" / "first.png").is_file()
    assert not (tmp_path.parent / "escape.png").exists() and not (tmp_path / "abs.png").exists()
    assert (tmp_path / "astronaut.jpg").read_bytes() == before
    reasons = " ".join(r["reason"] or "" for r in lines)
    assert "leave the output folder" in reasons and "same file as input" in reasons


def test_report_gives_each_faces_confidence_and_min_confidence_filters(tmp_path, demo):
    src, d = tmp_path / "source.jpg", tmp_path / "in"
    d.mkdir()
    cv2.imwrite(str(src), demo["grace_hopper"])
    cv2.imwrite(str(d / "astronaut.jpg"), demo["astronaut"])
    base = ["batch", "--source", str(src), "--targets", str(d), "--quiet", "--workers", "1"]
    assert main([*base, "-o", str(tmp_path / "a")]) == 0
    conf = records(tmp_path / "a" / "report.jsonl")["astronaut.jpg"]["face_details"][0]["confidence"]
    assert main([*base, "-o", str(tmp_path / "b"), "--min-confidence", str(min(conf + 0.01, 1.0))]) == 0
    rec = records(tmp_path / "b" / "report.jsonl")["astronaut.jpg"]
    assert rec["status"] == "no-face" and rec["faces"] == 0
    (face,) = rec["face_details"]
    assert not face["swapped"] and "confidence" in face["reason"]


def test_usage_errors(tmp_path):
    assert main(["batch", "-o", str(tmp_path)]) == 2
    assert main(["batch", "--source", "a.jpg", "-o", str(tmp_path)]) == 2


def test_sigkill_then_rerun_finishes_without_partials_or_repeats(tmp_path, demo):
    d = tmp_path / "in"
    d.mkdir()
    n = 24
    for i in range(n):
        img = demo["astronaut"] if i % 2 else demo["grace_hopper"]
        cv2.imwrite(str(d / f"p{i:02d}.png"), cv2.resize(img, None, fx=2.0, fy=2.0))
    src = tmp_path / "source.jpg"
    cv2.imwrite(str(src), demo["grace_hopper"])
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "fastswap",
        "batch",
        "--source",
        str(src),
        "--targets",
        str(d),
        "-o",
        str(out),
        "--workers",
        "2",
        "--quiet",
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("p*.png"))) < 4:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-batch
    proc.wait()
    first = sorted(p.name for p in out.glob("p*.png"))
    assert 4 <= len(first) < n, "the kill did not land mid-batch"
    for p in out.glob("p*.png"):  # every file under a final name is complete
        img = cv2.imread(str(p))
        assert img is not None and img.shape[:2] in {(1024, 1024), (1200, 1024)}
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rec = records(out / "report.jsonl")
    assert len(rec) == n
    skipped = sorted(k for k, v in rec.items() if v["status"] == "skipped")
    swapped = sorted(k for k, v in rec.items() if v["status"] == "swapped")
    assert skipped == first  # nothing done twice
    assert len(swapped) == n - len(first)
    assert sorted(p.name for p in out.glob("p*.png")) == sorted(f"p{i:02d}.png" for i in range(n))
    assert not list(out.rglob(".*.part"))  # temporaries of the killed run were cleaned


def test_default_workers_leave_no_core_idle():
    """Thread workers: one more than the CPUs (a worker waiting on MediaPipe, the disk or the GIL
    leaves its core to the extra one; measured faster in bench/bench_batch.py); processes: one per CPU."""
    from fastswap.batch import default_workers

    cpus = os.cpu_count() or 1
    assert default_workers("thread") == cpus + 1
    assert default_workers("process") == cpus
