"""Fan the pairs out: local processes (``concurrent.futures``) or Ray tasks.

Both yield :class:`PairOutcome` as pairs finish. Locally the worker count is the smaller
of the CPU count and what the available memory holds, at an estimate per pair from the
model files' sizes; on Ray each task asks for one CPU and that memory, and Ray schedules.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..startup import own_process
from .pair import PairOutcome, run_pair
from .spec import PairSpec

# A process that has imported the frameworks, before any model is loaded.
_BASE_BYTES = 600 * 2**20
# Loaded weights, the capture copies and two sides' activations, per byte of model file.
_PER_FILE_BYTE = 4


def pair_memory(spec: PairSpec) -> int:
    """Bytes one pair is expected to need at its peak (an estimate, for scheduling)."""
    files = sum(path.stat().st_size for path in spec.model_files() if path.is_file())
    return _BASE_BYTES + _PER_FILE_BYTE * files


def local_workers(pairs: Sequence[PairSpec], jobs: int | None = None) -> int:
    """How many pairs run at once locally: ``jobs``, else CPUs and memory allow."""
    if jobs is not None:
        if jobs < 1:
            raise UsageError("--jobs must be at least 1")
        return min(jobs, max(len(pairs), 1))
    need = max((pair_memory(p) for p in pairs), default=_BASE_BYTES)
    by_memory = available_memory() // need
    return max(1, min(_cpus(), by_memory, len(pairs)))


def available_memory() -> int:
    """Bytes the system can give without swapping (``MemAvailable``)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def run_pairs(pairs: Sequence[PairSpec], *, workers: int = 1, ray_address: str | None = None,
              save_tensors: Path | None = None) -> Iterator[PairOutcome]:
    """Run every pair once, yielding outcomes as they finish (in no fixed order).

    ``ray_address``: run each pair as a Ray task ("" starts a local instance unless one is
    already initialised in this process; else a cluster address, "auto" included).
    ``workers``: local processes when not on Ray (1 runs the pairs in this process).
    """
    folders = [str(save_tensors / p.slug) if save_tensors else None for p in pairs]
    if ray_address is not None:
        yield from _on_ray(pairs, folders, ray_address)
    elif workers == 1:
        for pair, folder in zip(pairs, folders):
            yield run_pair(pair, folder)
    else:
        yield from _in_processes(pairs, folders, workers)


def _in_processes(pairs: Sequence[PairSpec], folders: list[str | None],
                  workers: int) -> Iterator[PairOutcome]:
    # spawn: a fresh interpreter per worker, never a fork of a process holding frameworks.
    threads = max(1, _cpus() // workers)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_start_worker, initargs=(threads,)) as pool:
        futures = [pool.submit(run_pair, pair, folder) for pair, folder in zip(pairs, folders)]
        for future in as_completed(futures):
            yield future.result()


def _start_worker(threads: int) -> None:
    """A local worker: parity's own process, its frameworks' thread pools sized to its share
    of the CPUs (as Ray does for a task), unless the environment sizes them already. Two
    workers of two threads each on two cores ran a ResNet-50 sweep slower than one."""
    own_process()
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _on_ray(pairs: Sequence[PairSpec], folders: list[str | None],
            address: str) -> Iterator[PairOutcome]:
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    try:
        limit = ray.cluster_resources().get("memory")
        task = ray.remote(_run_pair_in_worker)
        pending = [task.options(num_cpus=1, memory=_capped(pair_memory(pair), limit))
                   .remote(pair, folder) for pair, folder in zip(pairs, folders)]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()


def _run_pair_in_worker(spec: PairSpec, save_tensors: str | None) -> PairOutcome:
    """:func:`run_pair` in a Ray worker, a process that runs parity's tasks only."""
    own_process()
    return run_pair(spec, save_tensors)


def _capped(need: int, limit: float | None) -> int:
    """A task's memory request no larger than the cluster has (else it would never run)."""
    return int(min(need, 0.9 * limit)) if limit else need


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs the ray package: pip install 'parity[ray]'") from None
    return ray
