"""Command line: ``fastswap swap | video | batch | demo | info``.

Exit codes (also in the README):
    0 done; 1 unexpected internal error; 2 usage error or unreadable/invalid input (or an output path
    equal to an input); 3 no face in the source; 4 no face in the target (the target is written
    unchanged); 5 model missing or wrong; 6 requested backend unavailable; 7 output not writable.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from .errors import FastswapError, InputError

SHAPE_DEFAULT = 0.2  # = fastswap.pipeline.SHAPE (not imported here: --help stays light; a test keeps them equal)
FADE_DEFAULT = 0.1  # = fastswap.quality.FADE (same reason; the same test keeps them equal)
# = fastswap.video.H264_PRESETS, the first the default (the same reason; the same test keeps them equal)
H264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")

EXIT_NO_TARGET_FACE = 4


def _faces_arg(text: str):
    if text in ("all", "largest"):
        return text
    try:
        idx = [int(t) for t in text.split(",") if t.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected all, largest or indices like 0,2; got {text!r}") from None
    if not idx or min(idx) < 0:
        raise argparse.ArgumentTypeError(f"expected all, largest or indices >= 0; got {text!r}")
    return idx


def _source_face_arg(text: str):
    if text == "largest":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected largest or an index; got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fastswap",
        description="Fast classical face swapping (MediaPipe landmarks, mesh warp, Poisson blend).",
        epilog="Exit codes: 0 done, 1 internal error, 2 usage or unreadable input, 3 no face in source, "
        "4 no face in target (written unchanged), 5 model missing/wrong, 6 backend unavailable, "
        "7 output not writable.",
    )
    p.add_argument("--version", action="version", version=f"fastswap {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        """Options shared by swap, batch and demo: backend, blending and quality, model, limits."""
        sp.add_argument(
            "--backend",
            default="auto",
            choices=["auto", "numpy", "cpu", "cuda"],
            help="kernel backend (default: the fastest available)",
        )
        sp.add_argument(
            "--blend",
            default="poisson",
            choices=["poisson", "mixed", "alpha", "multiband", "normal"],
            help="poisson (default; normal is an alias), mixed (Poisson, stronger of source and target "
            "gradients), alpha (feathered), multiband (Laplacian pyramid)",
        )
        sp.add_argument(
            "--no-color-correct",
            dest="color_correct",
            action="store_false",
            help="do not match the face's colour statistics to the target first",
        )
        sp.add_argument(
            "--no-keep-mouth",
            dest="keep_mouth",
            action="store_false",
            help="draw the source's mouth even where the target's mouth is open",
        )
        sp.add_argument(
            "--no-keep-eyes",
            dest="keep_eyes",
            action="store_false",
            help="draw the source's eyes even where their openness differs from the target's",
        )
        sp.add_argument(
            "--keep-hair",
            dest="keep_hair",
            action="store_true",
            help="leave the target's hair where it reaches over the target's face in front of the new face "
            "(off by default: see the README's Quality section)",
        )
        sp.add_argument(
            "--no-cull",
            dest="cull_backfacing",
            action="store_false",
            help="also draw triangles that face away from the camera in the target",
        )
        sp.add_argument(
            "--no-mirror",
            dest="mirror",
            action="store_false",
            help="leave out source triangles covered by hair (or draw turned-away ones stretched) instead of "
            "drawing them from the face's other side",
        )
        sp.add_argument(
            "--no-fill-hair",
            dest="fill_hair",
            action="store_false",
            help="draw light (blond) hair over the source's face onto the target instead of painting it "
            "over with the source's skin colour",
        )
        sp.add_argument(
            "--mask-region",
            default="face",
            choices=["face", "brows"],
            help="face: the whole mesh outline; brows: only below the eyebrows (no forehead)",
        )
        sp.add_argument(
            "--shape",
            type=float,
            default=SHAPE_DEFAULT,
            help=f"share (0..1) of the source's face proportions carried over (default {SHAPE_DEFAULT}; 0: the "
            "target's mesh exactly)",
        )
        sp.add_argument(
            "--fade",
            type=float,
            default=FADE_DEFAULT,
            help=f"with poisson and colour correction: the solve's correction fades inwards from the mask's "
            f"edge over this share of the face size (default {FADE_DEFAULT}; 0: the plain Poisson solve)",
        )
        sp.add_argument(
            "--min-confidence",
            type=float,
            default=0.0,
            help="leave target faces with a lower confidence (score x visible share) alone",
        )
        sp.add_argument("--model", default=None, help="path of face_landmarker.task (default: packaged)")
        sp.add_argument(
            "--max-pixels",
            type=int,
            default=100_000_000,
            help="refuse images with more pixels than this (default 100000000)",
        )

    def selection(sp: argparse.ArgumentParser, faces_help: str) -> None:
        """--faces, --source-face and --reference (swap and video)."""
        sp.add_argument("--faces", type=_faces_arg, default="all", help=faces_help)
        sp.add_argument(
            "--source-face",
            type=_source_face_arg,
            default="largest",
            help="which source face to use: largest (default) or an index left to right",
        )
        sp.add_argument(
            "--reference",
            default=None,
            metavar="FACE",
            help="swap only the target faces that resemble this photo's face (needs fastswap[reference])",
        )

    s = sub.add_parser(
        "swap",
        help="swap the source's face into the target's faces",
        description="Swap the source's face into the target's faces and write OUT.",
    )
    s.add_argument("source", help="image with the face to use")
    s.add_argument("target", help="image whose faces are replaced")
    s.add_argument("-o", "--output", required=True, help="output image path (format from extension)")
    selection(s, "target faces to replace: all, largest, or indices left to right like 0,2")
    s.add_argument(
        "--debug",
        default=None,
        metavar="PNG",
        help="also write a panel: source and target with mesh, mask, warped face, result",
    )
    common(s)

    v = sub.add_parser(
        "video",
        help="swap the source's face into every frame of a video",
        description="Swap the source's face into every frame of a video and write OUT (.mp4, .mov or .mkv in "
        "H.264, .avi in Motion JPEG) with the input's sound (copied, or re-encoded where the container needs "
        "it). Each face is tracked from frame to frame: its landmarks are smoothed over time, its kept "
        "regions (an open mouth, a closed eye) do not switch on and off, and a cut to another shot starts "
        "afresh, so the swap does not flicker or jump. Exit code 4 when no face is swapped in any frame "
        "(none found, or none selected; the video is written without a swap, re-encoded).",
    )
    v.add_argument("source", help="image with the face to use")
    v.add_argument("video", help="input video (any format OpenCV's FFmpeg reads)")
    v.add_argument("-o", "--output", required=True, help="output video path (.mp4, .mov, .avi or .mkv)")
    selection(
        v,
        "faces to replace in each frame: all, largest, or indices left to right like 0,2 (each held by its "
        "track: the largest until another is clearly larger, an index on the face it first counted)",
    )
    v.add_argument(
        "--no-smooth",
        dest="smooth",
        action="store_false",
        help="use each frame's landmarks as detected (no smoothing over time)",
    )
    v.add_argument(
        "--preset",
        default=None,
        choices=H264_PRESETS,
        help="libx264's preset for .mp4, .mov and .mkv (default ultrafast: the fastest; superfast writes "
        "files about half the size, veryfast a third, each slower)",
    )
    v.add_argument(
        "--no-audio",
        dest="audio",
        action="store_false",
        help="write the video without the input's sound",
    )
    v.add_argument("--quiet", action="store_true", help="no progress output")
    common(v)

    d = sub.add_parser(
        "demo",
        help="swap grace_hopper and astronaut both ways (package-shipped photos)",
        description="Swap the two package-shipped portraits both ways and write a picture.",
    )
    d.add_argument("-o", "--output-dir", default="fastswap-demo", help="directory (default fastswap-demo)")
    common(d)

    b = sub.add_parser(
        "batch",
        help="swap one face into many photos, or source/target pairs from a CSV",
        description="Swap one face into a set of photos (--source with --targets), or swap the pairs of "
        "a CSV (--pairs: columns source,target[,output]). Outputs mirror the input tree under OUTDIR; "
        "finished outputs are skipped on a re-run; OUTDIR/report.jsonl gets one line per input. "
        "Exit code 0 when no input failed, 1 when some did (listed), 2 on usage errors.",
    )
    b.add_argument("--source", help="image with the face to use")
    b.add_argument("--targets", help="a directory (searched recursively), a glob pattern, or a .txt list")
    b.add_argument("--pairs", help="CSV file with columns source,target[,output]")
    b.add_argument("-o", "--output-dir", required=True, help="output folder (created)")
    b.add_argument("--faces", type=_faces_arg, default="all", help="all, largest, or indices like 0,2")
    b.add_argument(
        "--format",
        choices=["jpg", "png", "webp", "bmp", "tiff"],
        default=None,
        help="output format of images (default: the input's; videos keep theirs)",
    )
    b.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")
    b.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel workers (default: CPU count + 1 threads, or CPU count processes)",
    )
    b.add_argument(
        "--executor",
        choices=["thread", "process"],
        default="thread",
        help="worker kind (default thread: measured faster on 2 cores, see README)",
    )
    b.add_argument("--engine", choices=["local", "ray"], default="local", help="local pool or a Ray cluster")
    b.add_argument("--address", default=None, help="Ray cluster address (with --engine ray)")
    b.add_argument("--report", default=None, help="JSON Lines report path (default OUTDIR/report.jsonl)")
    b.add_argument("--quiet", action="store_true", help="no progress output")
    common(b)

    sub.add_parser(
        "info",
        help="version, backends (and why any is missing), model, GPU",
        description="Print version, backends and why any is missing, model path and hash, GPU.",
    )
    return p


def quality_options(a: argparse.Namespace) -> dict:
    """FaceSwapper keyword arguments from the common command-line options."""
    return {
        "backend": a.backend,
        "blend": a.blend,
        "color_correct": a.color_correct,
        "keep_mouth": a.keep_mouth,
        "keep_eyes": a.keep_eyes,
        "keep_hair": a.keep_hair,
        "cull_backfacing": a.cull_backfacing,
        "mirror": a.mirror,
        "fill_hair": a.fill_hair,
        "mask_region": a.mask_region,
        "shape": a.shape,
        "fade": a.fade,
        "min_confidence": a.min_confidence,
    }


def debug_picture(fs, target: np.ndarray, res) -> np.ndarray:
    """Source and target with landmarks and mesh, each face's mask and warped face, the result."""
    import cv2

    from . import quality

    src = fs.prepared
    # triangles tinted: blue drawn from the face's other side, red not drawn; light hair painted over
    # (fill_hair) outlined in yellow
    drawn = quality.draw_mesh(src.image, src.points, triangle_source=fs.triangle_source)
    if src.hair is not None:
        contours, _ = cv2.findContours(src.hair, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(drawn, contours, -1, (0, 255, 255), max(1, round(src.face.size / 300)))
    tiles = [("source", drawn)]
    tgt = target.copy()
    for f in fs.detector.detect(target):
        tgt = quality.draw_mesh(tgt, f.points)
    tiles.append(("target", tgt))
    for info in res.faces:
        if info.mask is not None:
            x0, y0, x1, y1 = info.roi
            tiles.append((f"mask {info.index}", info.mask))
            tiles.append((f"warped {info.index} ({info.confidence:.2f})", info.warped))
            tiles.append((f"result {info.index}", res.image[y0:y1, x0:x1]))
    tiles.append(("result", res.image))
    return quality.panel(tiles)


def _cmd_swap(a: argparse.Namespace) -> int:
    from .imageio import same_file, write_image_atomic
    from .pipeline import FaceSwapper

    for inp in (a.source, a.target):
        if same_file(a.output, inp):
            raise InputError(f"{a.output}: output path is the same file as input {inp}; refusing to overwrite")
    with FaceSwapper(
        a.source,
        model=a.model,
        source_face=a.source_face,
        max_pixels=a.max_pixels,
        debug=bool(a.debug),
        **quality_options(a),
    ) as fs:
        faces = a.faces
        if a.reference:
            fs.set_reference(a.reference)
            faces = "reference"
        res = fs.swap_report(a.target, faces=faces)
        if a.debug:
            from .imageio import read_image

            picture = debug_picture(fs, read_image(a.target, max_pixels=a.max_pixels), res)
            write_image_atomic(a.debug, picture, inputs=(a.source, a.target, a.output))
    write_image_atomic(a.output, res.image, inputs=(a.source, a.target))
    if res.faces_found == 0:
        print(f"fastswap: {a.target}: no face found in the target; wrote it unchanged to {a.output}", file=sys.stderr)
        return EXIT_NO_TARGET_FACE
    print(f"{a.output}: swapped {len(res.faces_swapped)} of {res.faces_found} face(s)")
    return 0


def _cmd_video(a: argparse.Namespace) -> int:
    from .imageio import same_file
    from .pipeline import FaceSwapper
    from .video import frame_count, swap_video

    if same_file(a.output, a.source):
        raise InputError(f"{a.output}: output path is the same file as input {a.source}; refusing to overwrite")
    with FaceSwapper(
        a.source, model=a.model, source_face=a.source_face, max_pixels=a.max_pixels, **quality_options(a)
    ) as fs:
        faces = a.faces
        if a.reference:
            fs.set_reference(a.reference)
            faces = "reference"
        show, bar = None, None
        if not a.quiet and sys.stderr.isatty():  # a tqdm bar over the frames the container announces
            from tqdm import tqdm

            bar = tqdm(total=max(frame_count(a.video), 0) or None, unit="frame", file=sys.stderr, smoothing=0.1)

            def show(n: int) -> None:
                bar.update(n - bar.n)

        elif not a.quiet:  # a plain line every 5 s
            last = [time.monotonic()]

            def show(n: int) -> None:
                now = time.monotonic()
                if now - last[0] >= 5.0:
                    last[0] = now
                    print(f"{a.video}: {n} frames", file=sys.stderr, flush=True)

        try:
            rep = swap_video(
                fs,
                a.video,
                a.output,
                faces=faces,
                smooth=a.smooth,
                inputs=(a.source,),
                progress=show,
                audio=a.audio,
                preset=a.preset,
            )
        finally:
            if bar is not None:
                bar.close()
    rate = rep.frames / rep.seconds if rep.seconds else 0.0
    print(
        f"{a.output}: {rep.frames} frames at {rep.fps:g} fps in {rep.codec} ({rate:.1f} frames/s), "
        f"{rep.faces_swapped} face(s) swapped, {rep.frames - rep.frames_with_faces} frame(s) without a face; "
        f"sound: {rep.audio}"
    )
    if rep.audio.startswith("dropped"):
        print(f"fastswap: warning: {a.output}: written without the input's sound ({rep.audio})", file=sys.stderr)
    if rep.faces_swapped == 0:  # as batch reports it: no face found, or none selected (a reference, an index)
        why = "no face in any frame" if rep.frames_with_faces == 0 else "no selected face in any frame"
        print(f"fastswap: {a.video}: {why}; wrote it without a swap to {a.output}", file=sys.stderr)
        return EXIT_NO_TARGET_FACE
    return 0


def demo_images() -> dict[str, np.ndarray]:
    """The two package-shipped portraits as host (H, W, 3) uint8 BGR arrays."""
    import cv2
    import skimage.data
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        grace = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    return {"grace_hopper": grace, "astronaut": astronaut}


def _cmd_demo(a: argparse.Namespace) -> int:
    from .detect import FaceDetector
    from .imageio import write_image_atomic
    from .pipeline import FaceSwapper
    from .quality import panel

    imgs = demo_images()
    out_dir = Path(a.output_dir)
    rows = []
    with FaceDetector(a.model) as det:
        for src_name, dst_name in (("grace_hopper", "astronaut"), ("astronaut", "grace_hopper")):
            with FaceSwapper(imgs[src_name], detector=det, **quality_options(a)) as fs:
                res = fs.swap_report(imgs[dst_name])
            path = write_image_atomic(out_dir / f"{src_name}_into_{dst_name}.png", res.image)
            print(
                f"{path}: {src_name}'s face in {dst_name} ({len(res.faces_swapped)} face(s), backend {fs.backend.NAME})"
            )
            tiles = [("source", imgs[src_name]), ("target", imgs[dst_name]), ("result", res.image)]
            rows.append(panel(tiles, height=400))
    width = max(r.shape[1] for r in rows)
    canvas = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path = write_image_atomic(out_dir / "side_by_side.png", np.vstack(canvas))
    print(f"{path}: source | target | result, both ways")
    return 0


def _cmd_info(a: argparse.Namespace) -> int:
    from . import backends
    from .model import PACKAGED_MODEL, model_path, sha256_of

    print(f"fastswap {__version__} (Python {platform.python_version()}, {platform.machine()})")
    print("backends (fastest first):")
    st = backends.status()
    for name in backends.PREFERENCE:
        why = st[name]
        print(f"  {name:6s} {'available' if why is None else 'missing: ' + why}")
    auto = next((n for n in backends.PREFERENCE if st[n] is None), None)
    print(f"  auto -> {auto}")
    try:
        mp = model_path()
        print(f"model: {mp}\n  sha256 {sha256_of(mp)} (verified)")
    except FastswapError as e:
        print(f"model: MISSING ({e})")
        print(f"  packaged location: {PACKAGED_MODEL}")
    try:
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
        gpu = ", ".join(cupy.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(n)) or "none"
        gpu += f" (CuPy {cupy.__version__}, driver {cupy.cuda.runtime.driverGetVersion()})"
    except Exception as e:  # CuPy missing or no device
        gpu = f"none ({type(e).__name__}: {e})"
    print(f"GPU: {gpu}")
    print(f"cpu threads: {os.cpu_count()}")
    if st["cpu"] is None:  # otherwise the backends list above says why it is missing
        print(f"cpu kernels: {backends.get_backend('cpu').code_paths()}")
    if st["cuda"] is None:
        print(f"cuda kernels: {backends.get_backend('cuda').device_info()}")
    from .video import FfmpegError, ffmpeg_exe

    try:
        print(f"video: ffmpeg {ffmpeg_exe()}: .mp4/.mov/.mkv in H.264, the input's sound carried over")
    except FfmpegError as e:
        print(f"video: no ffmpeg ({e}): .mp4/.mov in MPEG-4 Part 2, .mkv in Xvid, no sound")
    return 0


def _cmd_batch(a: argparse.Namespace) -> int:
    from . import batch

    if bool(a.pairs) == bool(a.source or a.targets):
        raise InputError("give either --source with --targets, or --pairs")
    if not a.pairs and not (a.source and a.targets):
        raise InputError("--source and --targets go together")
    outdir = Path(a.output_dir)
    opts = batch.BatchOptions(
        faces=a.faces,
        model=a.model,
        max_pixels=a.max_pixels,
        overwrite=a.overwrite,
        out_format=a.format,
        swapper=quality_options(a),
    )
    prepared = {}
    if a.pairs:
        jobs = batch.pair_jobs(Path(a.pairs), outdir, a.format)
    else:
        from .detect import FaceDetector
        from .pipeline import prepare_source

        with FaceDetector(a.model) as det:  # the source face is detected once, here
            prepared[str(Path(a.source))] = prepare_source(a.source, det, max_pixels=a.max_pixels)
        jobs = batch.target_jobs(Path(a.source), a.targets, outdir, a.format)
    if a.engine == "ray":
        from .ray import run_batch_ray

        summary = run_batch_ray(
            jobs,
            outdir,
            opts,
            address=a.address,
            quiet=a.quiet,
            prepared=prepared,
            report=Path(a.report) if a.report else None,
        )
    else:
        summary = batch.run_batch(
            jobs,
            outdir,
            opts,
            workers=a.workers,
            executor=a.executor,
            report=Path(a.report) if a.report else None,
            quiet=a.quiet,
            prepared=prepared,
        )
    rate = summary.total / summary.seconds if summary.seconds else 0.0
    print(
        f"{summary.total} inputs in {summary.seconds:.1f} s ({rate:.1f}/s): {summary.swapped} swapped, "
        f"{summary.no_face} without a face, {summary.skipped} skipped, {summary.failed} failed"
    )
    for target, reason in summary.failures:
        print(f"  FAILED {target}: {reason}", file=sys.stderr)
    return summary.exit_code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastswap`` command; returns the exit code (see the module docstring)."""
    args = _parser().parse_args(argv)
    handler = {"swap": _cmd_swap, "video": _cmd_video, "demo": _cmd_demo, "info": _cmd_info, "batch": _cmd_batch}[
        args.command
    ]
    try:
        return handler(args)
    except FastswapError as e:
        print(f"fastswap: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("fastswap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
