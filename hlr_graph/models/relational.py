r"""The base of CML models whose relations are mixes of a key-value memory
(LRML, HLR, HLR++): memory, clipping, and exact blocked full ranking."""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from hlr_graph.data.batch import SharedTripletBatch, TripletBatch
from hlr_graph.models.cml import CML, gather_rows
from hlr_graph.nn.distance import squared_distance, translation_distance
from hlr_graph.nn.memory import KeyValueMemory

DENSE_BLOCKS = {'cpu': (16, 2**22), 'cuda': (256, 2**26)}
r"""``{device type: (users, logits)}``: exact full ranking works on blocks
of that many users and as many items as keep about that many key logits at
once (16 MB of float32 on a CPU, 256 MB on a GPU); other devices take the
CPU's. On 2 CPU cores the CPU's measured fastest; on an H100 the CUDA entry
came within 0.3 s of the fastest size for 8,820 Yelp2018 users with a
quarter of its memory (``benchmarks/dense_scoring.py``)."""


def dense_blocks(device: torch.device) -> Tuple[int, int]:
    r"""``(users, logits)`` per block of exact full ranking on
    :obj:`device` (:obj:`DENSE_BLOCKS`)."""
    return DENSE_BLOCKS.get(device.type, DENSE_BLOCKS['cpu'])


class RelationalCML(CML):
    r"""CML with a translation :math:`r_{u,v} = W_{u,v}^\top \mathbf{M}`
    mixed from the memories of a :class:`~hlr_graph.nn.KeyValueMemory`
    (eq. 4). Subclasses define :meth:`translate` for training and
    :meth:`memory_weights` for ranking; :meth:`score` then ranks every item
    exactly through :func:`~hlr_graph.nn.translation_distance`, block by
    block, never building a ``[U, I, d]`` tensor.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        embedding_dim (int): :math:`d`. (default: ``100``)
        num_memories (int): :math:`N`. (default: ``20``)
        margin (float): :math:`m`. (default: ``0.5``)
        copy (bool): The negative reuses the positive's relation (the
            authors' ``copy``; eq. (8) does not). (default: :obj:`False`)
        clip_ram (bool): Also clip memories and key columns to
            :obj:`max_norm` after every step (the authors' ``clip_ram``).
            (default: :obj:`False`)
        max_norm (float): The norm bound. (default: ``1.0``)
        temperature (float): The temperature :math:`\tau` of the key
            softmax (:class:`~hlr_graph.nn.KeyValueMemory`; not in the
            paper). (default: ``1.0``)
        loss (str): The objective (:class:`~hlr_graph.models.CML`).
            (default: ``'hinge'``)
        negative_weight (float): The weight of the negatives in ``'ccl'``.
            (default: ``1.0``)
    """
    def __init__(self, num_users: int, num_items: int,
                 embedding_dim: int = 100, num_memories: int = 20,
                 margin: float = 0.5, copy: bool = False,
                 clip_ram: bool = False, max_norm: float = 1.0,
                 temperature: float = 1.0, loss: str = 'hinge',
                 negative_weight: float = 1.0):
        super().__init__(num_users, num_items, embedding_dim, margin,
                         max_norm, loss, negative_weight)
        self.memory = KeyValueMemory(embedding_dim, num_memories, temperature)
        self.num_memories, self.copy, self.clip_ram = (num_memories, copy,
                                                       clip_ram)

    def reset_parameters(self):
        super().reset_parameters()
        if hasattr(self, 'memory'):  # Not built yet while CML's init runs.
            self.memory.reset_parameters()

    def memory_weights(self, item: Tensor, history: Tensor, mask: Tensor,
                       user: Tensor) -> Tensor:
        r"""``[U, N, I]`` memory weights of the relations of every (user,
        item) pair.

        Args:
            item (torch.Tensor): ``[I, d]`` candidate items.
            history (torch.Tensor): ``[U, L, d]`` history items, padded.
            mask (torch.Tensor): ``[U, L]`` which history slots are real.
            user (torch.Tensor): ``[U, d]`` users.
        """
        raise NotImplementedError

    def shares_product(self, batch: TripletBatch) -> bool:
        r"""Only with :attr:`copy`: otherwise the shared negatives take
        the memory path of :meth:`negative_distances`."""
        return isinstance(batch, SharedTripletBatch) and self.copy

    def negative_distances(self, users: Tensor, items: Tensor,
                           batch: TripletBatch, to_pos: Tensor) -> Tensor:
        r"""``[B, K]`` distances of every triplet's :math:`K` negatives,
        each with its own relation (eq. 8). From :math:`K \geq N`
        negatives on, through the factorised exact path of :meth:`score`
        (:meth:`memory_weights` with ``[B, K, d]`` candidates): each query's
        ``[N, L + 1, d]`` slot-key products are formed once and its
        :math:`K` negatives take one batched product, instead of
        ``[K (L + 1), d]`` edge products of message passing over the
        history repeated :math:`K` times (:meth:`CML.negative_distances`,
        used below :math:`N`, where it moves less memory). Both give the
        same distances (tested); measured on a Yelp2018-sized batch in
        ``docs/performance.md``. Negatives shared by the batch
        (:class:`~hlr_graph.data.batch.SharedTripletBatch`) are ``[K, d]``
        candidates of every query, as in :meth:`score`: one product of all
        slot keys with them, and no ``[B, K, d]`` tensor
        (:func:`~hlr_graph.nn.distance.translation_distance`). With
        :attr:`copy`, the positive's relation."""
        neg = batch.negatives()  # [B, K]
        shared = isinstance(batch, SharedTripletBatch)
        if self.copy or (neg.size(1) < self.num_memories and not shared):
            return super().negative_distances(users, items, batch, to_pos)
        item, query = batch.history  # Sorted by query.
        context, mask = to_dense_batch(items.index_select(0, item), query,
                                       batch_size=neg.size(0))
        p = users.index_select(0, batch.user)
        if shared:
            q = items.index_select(0, batch.shared)  # [K, d]
            return translation_distance(
                p, q, self.memory_weights(q, context, mask, p),
                self.memory.memories)
        q = gather_rows(items, neg)
        weight = self.memory_weights(q, context, mask, p)  # [B, N, K]
        relation = weight.transpose(1, 2) @ self.memory.memories
        return squared_distance(p.unsqueeze(1) + relation, q)

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        r"""``[U, num_items]`` exact scores :math:`-d(u, v)` of every item,
        computed in blocks (:obj:`DENSE_BLOCKS`)."""
        p, items, context, mask = self.dense_history(user, history)
        users, logits = dense_blocks(p.device)
        block_users = max(1, min(user.numel(), users))
        block_items = max(1, logits // (
            block_users * (context.size(1) + 1) * self.num_memories))
        out = p.new_empty(user.numel(), items.size(0))
        for u in range(0, user.numel(), block_users):
            us = slice(u, u + block_users)
            for i in range(0, items.size(0), block_items):
                its = slice(i, i + block_items)
                weight = self.memory_weights(items[its], context[us],
                                             mask[us], p[us])
                out[us, its] = -translation_distance(
                    p[us], items[its], weight, self.memory.memories)
        return out

    @torch.no_grad()
    def constrain_(self, rows: Optional[Dict[str, Tensor]] = None):
        r"""Clips user and item rows (:meth:`CML.constrain_`, :obj:`rows`
        as there) and, with :obj:`clip_ram`, the memories and key
        columns."""
        super().constrain_(rows)
        if self.clip_ram:
            self.memory.clip_(self.max_norm)
