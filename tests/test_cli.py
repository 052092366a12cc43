from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from fastswap.cli import main


@pytest.fixture
def files(tmp_path, demo):
    paths = {}
    for name, img in demo.items():
        paths[name] = tmp_path / f"{name}.jpg"
        cv2.imwrite(str(paths[name]), img)
    paths["flat"] = tmp_path / "flat.png"
    cv2.imwrite(str(paths["flat"]), np.full((200, 240, 3), 90, np.uint8))
    paths["corrupt"] = tmp_path / "corrupt.jpg"
    paths["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return paths


def test_swap_exit_0_and_output(files, tmp_path, capsys):
    out = tmp_path / "out" / "result.png"
    assert main(["swap", str(files["grace_hopper"]), str(files["astronaut"]), "-o", str(out)]) == 0
    assert cv2.imread(str(out)).shape == (512, 512, 3)
    assert "swapped 1 of 1 face(s)" in capsys.readouterr().out


def test_unreadable_input_exit_2(files, tmp_path, capsys):
    code = main(["swap", str(files["corrupt"]), str(files["astronaut"]), "-o", str(tmp_path / "o.png")])
    assert code == 2
    err = capsys.readouterr().err
    assert "corrupt.jpg" in err and not (tmp_path / "o.png").exists()
    assert main(["swap", str(tmp_path / "nope.jpg"), str(files["astronaut"]), "-o", str(tmp_path / "o.png")]) == 2


def test_no_face_in_source_exit_3(files, tmp_path, capsys):
    assert main(["swap", str(files["flat"]), str(files["astronaut"]), "-o", str(tmp_path / "o.png")]) == 3
    assert "no face found in the source" in capsys.readouterr().err


def test_no_face_in_target_exit_4_and_target_written_unchanged(files, tmp_path):
    out = tmp_path / "o.png"
    assert main(["swap", str(files["astronaut"]), str(files["flat"]), "-o", str(out)]) == 4
    assert np.array_equal(cv2.imread(str(out)), cv2.imread(str(files["flat"])))


def test_output_equal_to_input_is_refused(files):
    before = files["astronaut"].read_bytes()
    assert main(["swap", str(files["grace_hopper"]), str(files["astronaut"]), "-o", str(files["astronaut"])]) == 2
    assert files["astronaut"].read_bytes() == before


def test_missing_backend_exit_6(files, tmp_path, capsys):
    from fastswap import backends

    missing = [n for n, why in backends.status().items() if why]
    if not missing:
        pytest.skip("every backend is available here")
    code = main(
        [
            "swap",
            str(files["grace_hopper"]),
            str(files["astronaut"]),
            "-o",
            str(tmp_path / "o.png"),
            "--backend",
            missing[0],
        ]
    )
    assert code == 6
    assert f"backend {missing[0]!r} is not available" in capsys.readouterr().err


def test_usage_errors_exit_2(files, tmp_path):
    for argv in (["swap"], ["swap", "a", "b"], ["swap", "a", "b", "-o", "c", "--faces", "x"], ["bogus"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2


def test_info_and_demo(tmp_path, capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "numpy  available" in text and "sha256 64184e22" in text and "auto -> " in text
    if "cpu    available" in text:  # which code paths the C++ kernels take on this machine
        assert "cpu kernels: " in text and "OpenMP threads" in text
    assert "video: ffmpeg " in text and "H.264" in text  # imageio-ffmpeg is a dependency
    assert main(["demo", "-o", str(tmp_path / "demo")]) == 0
    names = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert names == ["astronaut_into_grace_hopper.png", "grace_hopper_into_astronaut.png", "side_by_side.png"]


def test_help_and_entry_point(tmp_path):
    for sub in ([], ["swap"], ["demo"], ["info"]):
        r = subprocess.run(
            [sys.executable, "-m", "fastswap", *sub, "--help"], capture_output=True, text=True, cwd=tmp_path
        )
        assert r.returncode == 0 and "usage: fastswap" in r.stdout
    r = subprocess.run([sys.executable, "-m", "fastswap", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert "Exit codes" in r.stdout


@pytest.mark.parametrize(
    ("flag", "option"),
    [
        ("--no-color-correct", "color_correct"),
        ("--no-keep-mouth", "keep_mouth"),
        ("--no-keep-eyes", "keep_eyes"),
        ("--no-cull", "cull_backfacing"),
        ("--no-mirror", "mirror"),
        ("--no-fill-hair", "fill_hair"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["swap", "s.jpg", "t.jpg", "-o", "o.png"],
        ["batch", "--source", "s.jpg", "--targets", "in", "-o", "out"],
    ],
)
def test_off_switches_reach_the_swapper(command, flag, option):
    import inspect

    from fastswap import FaceSwapper
    from fastswap.cli import _parser, quality_options

    assert inspect.signature(FaceSwapper).parameters[option].default is True
    assert quality_options(_parser().parse_args(command))[option] is True
    assert quality_options(_parser().parse_args([*command, flag]))[option] is False


@pytest.mark.parametrize(
    "command",
    [
        ["swap", "s.jpg", "t.jpg", "-o", "o.png"],
        ["batch", "--source", "s.jpg", "--targets", "in", "-o", "out"],
    ],
)
def test_on_switches_reach_the_swapper(command):
    import inspect

    from fastswap import FaceSwapper
    from fastswap.cli import _parser, quality_options

    assert inspect.signature(FaceSwapper).parameters["keep_hair"].default is False
    assert quality_options(_parser().parse_args(command))["keep_hair"] is False
    assert quality_options(_parser().parse_args([*command, "--keep-hair"]))["keep_hair"] is True


@pytest.mark.parametrize(("flag", "option", "value"), [("--shape", "shape", 0.5), ("--fade", "fade", 0.0)])
def test_valued_options_reach_the_swapper(flag, option, value):
    import inspect

    from fastswap import FaceSwapper
    from fastswap.cli import _parser, quality_options

    command = ["swap", "s.jpg", "t.jpg", "-o", "o.png"]
    default = inspect.signature(FaceSwapper).parameters[option].default
    assert quality_options(_parser().parse_args(command))[option] == default
    assert quality_options(_parser().parse_args([*command, flag, str(value)]))[option] == value


def test_out_of_range_option_exit_2(files, tmp_path, capsys):
    code = main(
        ["swap", str(files["grace_hopper"]), str(files["astronaut"]), "-o", str(tmp_path / "o.png"), "--fade", "2"]
    )
    assert code == 2 and "fade must be in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
