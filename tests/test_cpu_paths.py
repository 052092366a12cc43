"""The cpu backend's AVX2 code paths (the multigrid solver compiled for AVX2, the 3-channel warp's
gathers) and its plain x86-64 paths give the same bytes: a subprocess with FASTSWAP_NO_AVX2=1 runs
the same warps and blends as this process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

cpu = pytest.importorskip("fastswap._cpu", reason="the C++ extension is not built")

CASES = textwrap.dedent(
    """
    import numpy as np, cv2
    import fastswap._cpu as cpu
    from fastswap import mesh

    def cases():
        rng = np.random.default_rng(11)
        out = []
        for k in range(12):
            h, w = int(rng.integers(20, 260)), int(rng.integers(20, 260))
            c = (3, 3, 1, 4)[k % 4]
            src = cv2.GaussianBlur(rng.integers(0, 256, (h, w, c), np.uint8), (0, 0), 1.5).reshape(h, w, c)
            dst = rng.integers(0, 256, (h, w, c), np.uint8)
            mask = np.zeros((h, w), np.uint8)
            cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, 255, -1)
            if k % 3:
                mask[rng.random((h, w)) < 0.03] = 0
            else:  # deep inside: the finest level relaxes only a band along the edge (normal mode)
                mask[h // 3 : h // 3 + 5, w // 3 : w // 3 + 7] = 0
            n = 40
            s_pts = (rng.random((3 * n, 2)) * [w - 1, h - 1]).astype(np.float32)  # up to the edges
            d_pts = (rng.random((3 * n, 2)) * [w + 20, h + 20] - 10).astype(np.float32)
            tris = np.arange(3 * n, dtype=np.int32).reshape(n, 3)
            out.append(cpu.warp_triangles(src, s_pts, d_pts, tris, (h, w), bool(k % 2))[0])
            out.append(cpu.warp_triangles(src, s_pts * 0.5 + 5, d_pts, tris, (h, w), False)[0])  # inside
            out.append(cpu.poisson_blend(src, dst, mask, ("normal", "mixed")[k % 2], 4, 2, 2, 0.2, 12))
        return out
    """
)


def test_avx2_and_plain_paths_give_the_same_bytes(tmp_path):
    if not cpu.uses_avx2():
        pytest.skip("this CPU has no AVX2 (or FASTSWAP_NO_AVX2 is set): only the plain paths run")
    script = tmp_path / "cases.py"
    script.write_text(CASES + "\nnp.savez(__import__('sys').argv[1], *cases())\n")
    plain = tmp_path / "plain.npz"
    env = dict(os.environ, FASTSWAP_NO_AVX2="1")
    subprocess.run([sys.executable, str(script), str(plain)], env=env, check=True, cwd=tmp_path)
    namespace: dict = {}
    exec(CASES, namespace)
    here = namespace["cases"]()
    with np.load(plain) as z:
        other = [z[f"arr_{i}"] for i in range(len(here))]
    for i, (a, b) in enumerate(zip(here, other)):
        assert a.shape == b.shape and np.array_equal(a, b), f"case {i} differs between the AVX2 and plain paths"
