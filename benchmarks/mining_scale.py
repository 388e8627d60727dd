"""BUCC-scale bitext mining: the chunked k-nn + ratio margin of ``harness.kinds.mining`` at 100k × 100k.

Two parts, in one process, in this order (so the dense reference cannot inflate the first peak):

1. **Scale**: ``--n`` source and ``--n`` target random unit vectors (``--dim``, float32, seeded) go through
   the scoring step the kind runs on a split — ``margin_scores`` (k = 4 nearest neighbours in both
   directions, from one pass over ``--chunk`` × ``--chunk`` similarity blocks) and ``max_candidates``.
   Reported: wall time; peak RSS during the step above the RSS before it (sampled every 10 ms; this sees
   torch's block buffers, which tracemalloc does not); the tracemalloc peak of the step (numpy arrays);
   ``resource.getrusage`` peak RSS of the process; and the size of the full n × n float32 similarity
   matrix the step never allocates (40 GB at n = 100k).
2. **Check**: ``--check-n`` × ``--check-n`` vectors through the same chunked k-nn and through a dense
   numpy reference (the full matrix, ``argpartition`` + sort in both directions): identical neighbours
   (and, where they differ, the similarity gap, i.e. float32 near-ties), identical mined candidates, and
   the wall-time ratio chunked / dense.

    HF_HUB_OFFLINE=1 python benchmarks/mining_scale.py [--n 100000] [--dim 384] [--chunk 4096] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import psutil
import torch

from harness.kinds.mining import DEFAULT_K, knn_both, margin_scores, margins_from_neighbours, max_candidates

T = TypeVar("T")
GB = 1024**3
MB = 1024**2


class PeakRSS:
    """Peak resident set size of this process while the block runs, sampled in a thread."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.process = psutil.Process(os.getpid())
        self.before = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.before = self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def ru_maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def random_unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def scale_run(n: int, dim: int, chunk: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x, y = random_unit(rng, n, dim), random_unit(rng, n, dim)
    inputs = x.nbytes + y.nbytes
    tracemalloc.start()
    tracemalloc.reset_peak()

    def step() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return max_candidates(margin_scores(x, y, DEFAULT_K, chunk))

    with PeakRSS() as rss:
        candidates, seconds = timed(step)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full = n * n * 4
    return {
        "n": n,
        "dim": dim,
        "chunk": chunk,
        "k": DEFAULT_K,
        "seconds": round(seconds, 2),
        "candidates": len(candidates[0]),
        "inputs_mb": round(inputs / MB, 1),
        "step_peak_rss_extra_mb": round((rss.peak - rss.before) / MB, 1),
        "step_tracemalloc_peak_mb": round(traced_peak / MB, 1),
        "process_ru_maxrss_mb": round(ru_maxrss_bytes() / MB, 1),
        "full_matrix_gb": round(full / 1e9, 1),
        "full_matrix_over_step_peak": round(full / max(rss.peak - rss.before, 1), 1),
        "similarity_block_mb": round(min(chunk, n) ** 2 * 4 / MB, 1),
        "mean_margin_of_candidates": round(float(candidates[2].mean()), 4),
    }


def dense_topk(sims: np.ndarray, k: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k along ``axis`` of a full matrix, as (n, k) arrays sorted by descending similarity."""
    matrix = sims if axis == 1 else sims.T
    part = np.argpartition(-matrix, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(matrix, part, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(part, order, axis=1)


def dense_knn_both(x: np.ndarray, y: np.ndarray, k: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    sims = x @ y.T  # the full matrix
    return dense_topk(sims, k, axis=1), dense_topk(sims, k, axis=0)


def neighbour_agreement(
    ours: tuple[np.ndarray, np.ndarray], dense: tuple[np.ndarray, np.ndarray]
) -> dict[str, Any]:
    differ = ours[1] != dense[1]
    gap = np.abs(ours[0][differ] - dense[0][differ]) if differ.any() else np.zeros(1)
    return {
        "identical_fraction": float(1 - differ.mean()),
        "differing_entries": int(differ.sum()),
        "max_sim_gap_where_differing": float(gap.max()),
        "max_sim_abs_diff": float(np.abs(ours[0] - dense[0]).max()),
    }


def check_run(n: int, dim: int, chunk: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 1)
    x, y = random_unit(rng, n, dim), random_unit(rng, n, dim)
    x[: n // 2] = y[: n // 2] + 0.05 * random_unit(
        rng, n // 2, dim
    )  # some true pairs, so mining finds something
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    (ours_fwd, ours_bwd), ours_s = timed(lambda: knn_both(x, y, DEFAULT_K, chunk))
    (dense_fwd, dense_bwd), dense_s = timed(lambda: dense_knn_both(x, y, DEFAULT_K))
    ours_cands = max_candidates(margins_from_neighbours(ours_fwd, ours_bwd))
    dense_cands = max_candidates(margins_from_neighbours(dense_fwd, dense_bwd))
    pairs = set(zip(*[a.tolist() for a in ours_cands[:2]], strict=True))
    dense_pairs = set(zip(*[a.tolist() for a in dense_cands[:2]], strict=True))
    return {
        "n": n,
        "dim": dim,
        "chunk": chunk,
        "chunked_seconds": round(ours_s, 2),
        "dense_seconds": round(dense_s, 2),
        "chunked_over_dense_time": round(ours_s / dense_s, 2),
        "forward": neighbour_agreement(ours_fwd, dense_fwd),
        "backward": neighbour_agreement(ours_bwd, dense_bwd),
        "identical_candidates": pairs == dense_pairs,
        "candidates": len(pairs),
        "dense_matrix_mb": round(n * n * 4 / MB, 1),
        "process_ru_maxrss_mb_after": round(ru_maxrss_bytes() / MB, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="sentences per side in the scale run")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--chunk", type=int, default=4096, help="query and key block size")
    parser.add_argument("--check-n", type=int, default=10_000, help="sentences per side in the dense check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args(argv)
    result = {
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "scale": scale_run(args.n, args.dim, args.chunk, args.seed),
        "check": check_run(args.check_n, args.dim, args.chunk, args.seed),
    }
    result["environment"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for section, values in result.items():
            print(f"[{section}]")
            for key, value in values.items():
                print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
