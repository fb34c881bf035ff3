r"""Training and ranking in several processes with :mod:`torch.distributed`
(one process per CPU socket or GPU, started by ``torchrun``): the process
group from torchrun's environment, per-process seeds, contiguous shares of
users and batches, and the few collectives the trainer and the evaluator
need. Every helper is a no-op (one process, rank ``0``) when no process
group is initialised."""
import os
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

ENVIRONMENT = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
               'MASTER_PORT')
r"""The variables ``torchrun`` sets in every process it starts, which
:func:`init` reads."""


def missing_environment() -> List[str]:
    r"""The variables of :obj:`ENVIRONMENT` this process lacks (all of
    them when it was not started by ``torchrun``)."""
    return [name for name in ENVIRONMENT if name not in os.environ]


def launched_size() -> int:
    r"""The ``WORLD_SIZE`` of the environment (``1`` without one)."""
    try:
        return int(os.environ.get('WORLD_SIZE', '1'))
    except ValueError:
        return 1


def process_device(device: str) -> torch.device:
    r"""This process's device for :obj:`device`: ``'cuda'`` without an
    index becomes ``cuda:LOCAL_RANK`` (one GPU per process on each
    machine); any other device is kept."""
    out = torch.device(device)
    if out.type == 'cuda' and out.index is None:
        out = torch.device('cuda', int(os.environ.get('LOCAL_RANK', '0')))
    return out


def init():
    r"""Joins the process group that ``torchrun`` describes in the
    environment (:obj:`ENVIRONMENT`), unless one is initialised already:
    with ``nccl`` for CUDA tensors (where this torch has CUDA and NCCL) and
    ``gloo`` for CPU tensors, so that gradients of GPU replicas travel by
    NCCL while the small exchanges of this module (losses, ranked lists,
    random states) go through ``gloo`` on the CPU.

    Raises:
        RuntimeError: A variable of :obj:`ENVIRONMENT` is missing.
    """
    missing = missing_environment()
    if missing:
        raise RuntimeError(f"no {', '.join(missing)} in the environment: "
                           'start the processes with torchrun')
    if not dist.is_initialized():
        cuda = torch.cuda.is_available() and dist.is_nccl_available()
        dist.init_process_group('cpu:gloo,cuda:nccl' if cuda else 'gloo')


def close():
    r"""Leaves the process group (if there is one)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    r"""This process's rank (``0`` without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    r"""The number of processes (``1`` without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    r"""Whether this process is rank ``0``, the one that writes files and
    prints."""
    return rank() == 0


def barrier():
    r"""Waits for every process (returns at once without a group)."""
    if dist.is_initialized():
        dist.barrier()


def process_seed(seed: int, rank: int) -> int:
    r"""The seed of process :obj:`rank`'s sampling stream in a run seeded
    with :obj:`seed`: :obj:`seed` itself for rank ``0`` (so one process
    draws what a run without ``torch.distributed`` draws), and for the
    others 63 bits of :class:`numpy.random.SeedSequence` ``((seed, rank))``,
    streams unrelated to each other and to the run's other seeds."""
    if rank == 0:
        return seed
    state = np.random.SeedSequence((seed, rank)).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def share(num: int, part: int, num_parts: int) -> Tuple[int, int]:
    r"""``(start, end)`` of part :obj:`part` of :obj:`num` items cut into
    :obj:`num_parts` contiguous parts whose sizes differ by at most one
    (those of :func:`torch.tensor_split`)."""
    size, extra = divmod(num, num_parts)
    start = part * size + min(part, extra)
    return start, start + size + (part < extra)


def all_reduce_sum(values: Sequence[float]) -> List[float]:
    r"""The sums over all processes of :obj:`values` (in ``float64``, on
    the CPU); every process gets the same numbers."""
    if not dist.is_initialized():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_gather_rows(tensor: Tensor, counts: Sequence[int]) -> Tensor:
    r"""The ``[sum(counts), ...]`` concatenation, in rank order, of every
    process's :obj:`tensor` (``[counts[rank], ...]``), on every process, on
    :obj:`tensor`'s device (exchanged on the CPU)."""
    if not dist.is_initialized():
        return tensor
    device, rows = tensor.device, max(counts)
    padded = tensor.new_zeros((rows, *tensor.shape[1:]), device='cpu')
    padded[:tensor.size(0)] = tensor
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded)
    return torch.cat([part[:count] for part, count in zip(parts, counts)]
                     ).to(device)


def all_gather_objects(obj: Any) -> List[Any]:
    r"""Every process's :obj:`obj` (picklable), in rank order."""
    if not dist.is_initialized():
        return [obj]
    out: List[Optional[Any]] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


class GradientExchange:
    r"""A communication hook (:meth:`hook`) of
    :class:`~torch.nn.parallel.DistributedDataParallel` that sums (rather
    than averages) the processes' gradients, and counts what each process
    sends.

    With a loss summed over the batch, the sum of the processes' gradients
    is the gradient of the loss summed over the global batch: the update of
    one process that takes the whole batch. A sparse gradient (an embedding
    table's, sparse in the rows) is coalesced, then every process's row
    indices and values are all-gathered and summed (:meth:`_sum_sparse`,
    what ``gloo``'s sparse all-reduce does, and NCCL has none), so the
    bytes sent scale with the distinct rows the step touched, not with the
    table.

    Attributes:
        bytes (int): Bytes of gradient this process contributed since the
            last :meth:`reset` (a dense bucket: its elements; a sparse
            gradient: its ``[R]`` distinct row indices and ``[R, d]``
            values, not counting the 8 bytes of :math:`R` itself). The
            bytes each process receives are the others' contributions.
        steps (int): Steps since the last :meth:`reset` (counted on the
            first bucket of each step).
    """
    def __init__(self):
        self.bytes, self.steps = 0, 0

    def reset(self):
        self.bytes, self.steps = 0, 0

    def hook(self, state: Any, bucket: dist.GradBucket
             ) -> torch.futures.Future[torch.Tensor]:
        r"""The hook (``register_comm_hook(None, exchange.hook)``): sums
        :obj:`bucket` over the processes."""
        tensor = bucket.buffer()
        if bucket.index() == 0:
            self.steps += 1
        if tensor.is_sparse:
            out = torch.futures.Future()
            out.set_result(self._sum_sparse(tensor.coalesce()))
            return out
        self.bytes += tensor.numel() * tensor.element_size()
        work = dist.all_reduce(tensor, async_op=True)
        return work.get_future().then(lambda fut: fut.value()[0])

    def _sum_sparse(self, tensor: Tensor) -> Tensor:
        r"""The sum over the processes of a coalesced gradient ``[N, d]``
        sparse in the rows: every process's ``[R]`` row indices and
        ``[R, d]`` values all-gathered (padded to the largest :math:`R`,
        after an all-gather of the counts), concatenated in rank order and
        coalesced, the same on every process. Works on any backend (NCCL
        has no sparse all-reduce)."""
        rows, values = tensor.indices()[0], tensor.values()
        count = torch.tensor([rows.numel()], device=rows.device)
        counts = [torch.empty_like(count) for _ in range(dist.get_world_size())]
        dist.all_gather(counts, count)
        counts = [int(c) for c in counts]
        size = max(counts)
        padded_rows = rows.new_zeros(size)
        padded_rows[:rows.numel()] = rows
        padded_values = values.new_zeros((size, *values.shape[1:]))
        padded_values[:rows.numel()] = values
        self.bytes += (rows.numel() * rows.element_size() +
                       values.numel() * values.element_size())
        all_rows = [torch.empty_like(padded_rows) for _ in counts]
        all_values = [torch.empty_like(padded_values) for _ in counts]
        dist.all_gather(all_rows, padded_rows)
        dist.all_gather(all_values, padded_values)
        rows = torch.cat([r[:c] for r, c in zip(all_rows, counts)])
        values = torch.cat([v[:c] for v, c in zip(all_values, counts)])
        return torch.sparse_coo_tensor(rows.unsqueeze(0), values,
                                       tensor.shape,
                                       check_invariants=False).coalesce()
