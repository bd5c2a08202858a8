"""One study over many processes: this process's place in a ``torchrun`` / ``srun`` job.

``torchrun`` (or ``srun torchrun``) starts one process per GPU and tells each its
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`session` reads them and joins the
job's ``torch.distributed`` group (NCCL with one GPU per local rank when the run trains
on CUDA, gloo on the CPU), and does nothing when the process was not launched that way,
so one process behaves exactly as before. Inside the session:

- :func:`world` says which rank this is; :func:`is_main` is rank 0, which claims the
  output folder and writes the results;
- :func:`barrier` waits for every rank; :func:`all_gather_json` and :func:`on_main`
  exchange small JSON values (never pickles) over a gloo group, also under NCCL;
- :func:`share` gives this rank its contiguous block of an ordered list (the encode
  jobs, cell by cell) and :func:`balance` assigns weighted items (classifiers, by
  expected cost) to ranks; both are deterministic, so every rank computes the same
  partition without talking to the others.

A rank that dies takes the job down (``torchrun`` stops the others); every finished
piece of work is a file written atomically by exactly one rank, so rerunning the same
command resumes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from jpegai_eval.framework.errors import UsageError, UserError

T = TypeVar("T")

#: How long a rank waits at a barrier for the others (a slow rank trains a classifier
#: while the others wait for it at the end of the classify stage).
TIMEOUT = dt.timedelta(hours=48)


@dataclass(frozen=True)
class World:
    """This process's rank among ``size`` processes (1: not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_world = World()
_group: Any = None  # the gloo group for barriers and JSON exchanges


def world() -> World:
    """This process's place (``World()`` outside a distributed session)."""
    return _world


def is_main() -> bool:
    return _world.is_main


def from_environment(environ: Any = None) -> World:
    """The world ``torchrun`` (or ``srun`` with these variables) describes; ``World()``
    when ``WORLD_SIZE`` is unset. Malformed values are a :class:`UsageError`."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return World()
    try:
        size = int(env["WORLD_SIZE"])
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", "0"))
    except ValueError:
        raise UsageError(
            f"RANK={env.get('RANK')!r}, WORLD_SIZE={env.get('WORLD_SIZE')!r} and "
            f"LOCAL_RANK={env.get('LOCAL_RANK')!r} must be integers. Launch with torchrun, "
            "which sets them, or unset them for a single process."
        ) from None
    if size < 1 or not 0 <= rank < size or local_rank < 0:
        raise UsageError(
            f"RANK={rank} is not a rank of WORLD_SIZE={size}. Launch with torchrun, which "
            "sets them, or unset them for a single process."
        )
    return World(rank, size, local_rank)


def _wants_cuda(device: str) -> bool:
    if device == "cpu":
        return False
    import torch

    return bool(torch.cuda.is_available())


@contextmanager
def session(device: str = "auto") -> Iterator[World]:
    """Join the job's process group for the duration (a no-op for one process, or
    when a group is already initialised: then that group is used and left alone)."""
    global _world, _group
    import torch.distributed as dist

    launched = from_environment()
    if not launched.distributed:
        yield _world
        return
    if dist.is_available() and dist.is_initialized():
        _world = World(dist.get_rank(), dist.get_world_size(), launched.local_rank)
        _group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None
        try:
            yield _world
        finally:
            _world, _group = World(), None
        return
    backend = "gloo"
    if _wants_cuda(device):
        import torch

        # One GPU per local rank; ranks share GPUs when there are fewer GPUs than ranks.
        torch.cuda.set_device(launched.local_rank % torch.cuda.device_count())
        backend = "nccl"
    dist.init_process_group(backend, timeout=TIMEOUT)
    try:
        _world = launched
        _group = dist.new_group(backend="gloo", timeout=TIMEOUT) if backend != "gloo" else None
        yield _world
    finally:
        _world, _group = World(), None
        dist.destroy_process_group()


def leave() -> None:
    """End this ``torchrun`` rank now, after :func:`session`, without the interpreter's
    finalization; nothing to do outside ``torchrun``, or while a group the caller made
    is still up (the caller owns the process).

    ``destroy_process_group`` frees the gloo group only when nothing else holds it, and
    ``torch._dynamo`` (which ``torch.optim`` imports) does: its worker threads outlive
    the session. A worker still freeing the last collective's tensors needs the GIL,
    and a thread that asks for it while the interpreter finalizes is unwound through a
    ``noexcept`` destructor: the rank aborts after its work is done (``terminate called
    without an active exception``) and ``torchrun`` stops the others."""
    if not from_environment().distributed:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(0)


def rank_device(device: str) -> str:
    """``cuda`` becomes this rank's own GPU (``cuda:N``) in a distributed session."""
    if device == "cuda" and _world.distributed:
        import torch

        return f"cuda:{torch.cuda.current_device()}"
    return device


def check_gpus_for_ddp(device: str, environ: Any = None, gpus: int | None = None) -> None:
    """``--ddp`` on CUDA needs a GPU per rank: NCCL, which DistributedDataParallel and
    SyncBatchNorm then use, refuses two ranks of a job on one GPU (whole classifiers per
    rank share GPUs fine: they exchange nothing over NCCL). A :class:`UsageError` when
    this node runs more ranks (``LOCAL_WORLD_SIZE``) than it has GPUs."""
    if not device.startswith("cuda"):
        return
    env = os.environ if environ is None else environ
    local = int(env.get("LOCAL_WORLD_SIZE", "1") or 1)
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    if local > gpus:
        raise UsageError(
            f"--ddp trains over NCCL, which needs one GPU per rank, but this node runs "
            f"{local} ranks on {gpus} GPU(s). Launch --nproc_per_node={gpus} (or fewer), "
            "or leave out --ddp: the ranks then take whole classifiers and may share GPUs."
        )


def barrier() -> None:
    """Wait until every rank gets here (nothing to wait for with one process)."""
    if _world.distributed:
        import torch.distributed as dist

        dist.barrier(group=_group)


def all_gather_json(value: Any) -> list[Any]:
    """Every rank's ``value`` (JSON-serialisable), in rank order, on every rank.
    Also a barrier."""
    if not _world.distributed:
        return [value]
    import torch
    import torch.distributed as dist

    data = json.dumps(value, sort_keys=True, default=str).encode()
    size = torch.tensor([len(data)], dtype=torch.int64)
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(_world.size)]
    dist.all_gather(sizes, size, group=_group)
    longest = max(int(s.item()) for s in sizes)
    mine = torch.zeros(longest, dtype=torch.uint8)
    if data:
        mine[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    buffers = [torch.zeros(longest, dtype=torch.uint8) for _ in range(_world.size)]
    dist.all_gather(buffers, mine, group=_group)
    return [
        json.loads(bytes(b[: int(s.item())].tolist()).decode())
        for b, s in zip(buffers, sizes, strict=True)
    ]


def _broadcast_json(value: Any) -> Any:
    """Rank 0's ``value`` on every rank."""
    import torch
    import torch.distributed as dist

    data = json.dumps(value).encode() if _world.is_main else b""
    size = torch.tensor([len(data)], dtype=torch.int64)
    dist.broadcast(size, src=0, group=_group)
    buffer = torch.zeros(int(size.item()), dtype=torch.uint8)
    if _world.is_main and data:
        buffer[:] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    dist.broadcast(buffer, src=0, group=_group)
    return json.loads(bytes(buffer.tolist()).decode())


class MainOutcome(TypedDict):
    """What rank 0 tells the others after :func:`on_main`'s ``fn``: whether it ran, and
    if not whether the error was the user's, and its message."""

    ok: bool
    user: bool
    message: str


def on_main(fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 while the others wait; its result on rank 0, None elsewhere.

    If ``fn`` raises on rank 0, every other rank raises a :class:`UserError` (with the
    same message for a user error) instead of waiting for a rank that will not come."""
    if not _world.distributed:
        return fn()
    result: T | None = None
    outcome = MainOutcome(ok=True, user=False, message="")
    if _world.is_main:
        try:
            result = fn()
        except UserError as exc:
            _broadcast_json(MainOutcome(ok=False, user=True, message=exc.message))
            raise
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
            _broadcast_json(MainOutcome(ok=False, user=False, message=message))
            raise
    told: MainOutcome = _broadcast_json(outcome)
    if not told["ok"]:
        if told["user"]:
            raise UserError(told["message"])
        raise UserError(f"Rank 0 failed ({told['message']}); see its output.")
    return result


# ------------------------------------------------------------------------ partitions


def share_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """The ``[start, stop)`` of rank ``rank``'s contiguous block of ``n`` items: blocks
    differ in length by at most one and cover every item exactly once."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def share(items: Sequence[T], w: World | None = None) -> list[T]:
    """This rank's contiguous block of ``items`` (all of them for one process). Items
    ordered cell by cell give each rank few cells, so it loads few models."""
    w = w or _world
    start, stop = share_bounds(len(items), w.rank, w.size)
    return list(items[start:stop])


def balance(costs: dict[str, float], size: int) -> dict[str, int]:
    """Assign each named item to a rank, balancing the summed cost: largest first to
    the least loaded rank (ties: the lower rank; equal costs: by name). Deterministic,
    so every rank computes the same assignment."""
    load = [0.0] * size
    assigned: dict[str, int] = {}
    for name in sorted(costs, key=lambda k: (-costs[k], k)):
        rank = min(range(size), key=lambda r: (load[r], r))
        assigned[name] = rank
        load[rank] += costs[name]
    return assigned
