"""Ray integration: the same swap as ``fastswap batch``, as a Ray Data ``map_batches`` stage.

Needs the ``[ray]`` extra (``pip install 'fastswap[ray]'``). Two entries:

* :func:`swap_dataset` — for a Ray Dataset of images (column ``image``: host (H, W, 3) uint8 BGR arrays)
  or of paths (column ``path``): returns a Dataset with ``swapped`` (host (H, W, 3) uint8 BGR), ``faces``
  (faces swapped) and ``status`` columns. One :class:`~fastswap.pipeline.FaceSwapper` per actor, the
  source face detected once on the driver and shipped to the actors.
* :func:`run_batch_ray` — what ``fastswap batch --engine ray`` runs: the files, outputs, skipping,
  atomic writes and report of the local engine, with the work done by Ray actors.

Actors ask for a GPU (``num_gpus=1``) when the ``cuda`` backend is usable on the driver.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from . import backends
from .batch import BatchOptions, Job, Record, Reporter, Summary
from .errors import FastswapError, InputError
from .imageio import ImageLike


def _ray():
    try:
        import ray
    except ImportError as e:
        raise InputError("the Ray engine needs the [ray] extra: pip install 'fastswap[ray]'") from e
    return ray


def _gpus() -> int:
    return 1 if backends.status()["cuda"] is None else 0


class _SwapImages:
    """Ray Data actor: one FaceSwapper, kept for the actor's life."""

    def __init__(self, prepared, backend: str, blend: str, faces, options: dict | None = None) -> None:
        from .pipeline import FaceSwapper

        self.faces = faces
        self.swapper = FaceSwapper(prepared, backend=backend, blend=blend, **(options or {}))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        images = batch["image"] if "image" in batch else batch["path"]
        swapped, faces, status = [], [], []
        for item in images:
            try:
                res = self.swapper.swap_report(item if isinstance(item, np.ndarray) else str(item), faces=self.faces)
                swapped.append(res.image)
                faces.append(len(res.faces_swapped))
                status.append("swapped" if res.faces_swapped else "no-face")
            except FastswapError as e:
                swapped.append(np.zeros((1, 1, 3), np.uint8))
                faces.append(0)
                status.append(f"failed: {e}")
        out = dict(batch)
        out["swapped"] = np.array(swapped + [None], dtype=object)[:-1]  # ragged images: an object column
        out["faces"] = np.array(faces)
        out["status"] = np.array(status, dtype=object)
        return out


def swap_dataset(
    ds,
    source: ImageLike,
    *,
    faces: str | int | list[int] = "all",
    backend: str = "auto",
    blend: str = "normal",
    concurrency: int | None = None,
    batch_size: int = 4,
    **options,
):
    """Swap ``source``'s face into every image of a Ray Dataset (see the module docstring for columns).

    Args:
        ds: ``ray.data.Dataset`` with an ``image`` or a ``path`` column.
        source: path or host (H, W, 3) uint8 BGR array of the source face (detected once, here).
        concurrency: number of actors (default: the cluster's CPUs, or GPUs for the cuda backend).
        options: the quality options of :class:`fastswap.FaceSwapper` (``color_correct``, ``shape``,
            ``keep_mouth``, ...), checked here before any actor starts.
    Returns:
        a lazy ``ray.data.Dataset``.
    """
    ray = _ray()
    from .detect import FaceDetector
    from .pipeline import FaceSwapper, prepare_source

    with FaceDetector() as det:
        prepared = prepare_source(source, det)
        FaceSwapper(prepared, detector=det, backend="numpy", blend=blend, **options)  # bad options fail here
    gpus = _gpus() if backend in ("auto", "cuda") else 0
    if concurrency is None:
        res = ray.cluster_resources()
        concurrency = max(1, int(res.get("GPU", 0) if gpus else res.get("CPU", 1)))
    return ds.map_batches(
        _SwapImages,
        fn_constructor_kwargs={
            "prepared": prepared,
            "backend": backend,
            "blend": blend,
            "faces": faces,
            "options": options,
        },
        batch_size=batch_size,
        concurrency=concurrency,
        num_gpus=gpus,
        batch_format="numpy",
    )


class _RunJobs:
    """Ray Data actor running :func:`fastswap.batch.run_job` on rows (source, target, output)."""

    def __init__(self, opts: BatchOptions, prepared: dict) -> None:
        from . import batch

        batch._set_options(opts, prepared)
        self.run_job = batch.run_job

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        recs = [
            self.run_job(Job(Path(s), Path(t), Path(o)))
            for s, t, o in zip(rows["source"], rows["target"], rows["output"], strict=True)
        ]
        return {"record": np.array([json.dumps(asdict(r)) for r in recs], dtype=object)}


def run_batch_ray(
    jobs,
    outdir: Path,
    opts: BatchOptions,
    *,
    address: str | None = None,
    quiet: bool = False,
    prepared: dict | None = None,
    report: Path | None = None,
    concurrency: int | None = None,
) -> Summary:
    """``fastswap batch --engine ray``: like :func:`fastswap.batch.run_batch`, on a Ray cluster
    (``address``; default: a local instance, or the one ``ray.init`` finds)."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    items = list(jobs)
    rep = Reporter(outdir, items, opts, report, quiet)
    try:
        todo = [
            {"source": str(j.source), "target": str(j.target), "output": str(j.output)}
            for j in map(rep.precheck, items)
            if j is not None
        ]
        if todo:
            gpus = _gpus() if opts.swapper.get("backend", "auto") in ("auto", "cuda") else 0
            if concurrency is None:
                res = ray.cluster_resources()
                concurrency = max(1, int(res.get("GPU", 0) if gpus else res.get("CPU", 1)))
            ds = ray.data.from_items(todo).map_batches(
                _RunJobs,
                fn_constructor_kwargs={"opts": opts, "prepared": prepared or {}},
                batch_size=1,
                concurrency=concurrency,
                num_gpus=gpus,
                batch_format="numpy",
            )
            for row in ds.iter_rows():
                rep.emit(Record(**json.loads(row["record"])))
    finally:
        summary = rep.close()
    return summary
