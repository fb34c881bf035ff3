r"""Adaptive Collaborative Metric Learning (Zhang et al., DASFAA 2019)."""
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from hlr_graph.data.batch import TripletBatch
from hlr_graph.models.cml import CML, gather_rows
from hlr_graph.models.relational import dense_blocks
from hlr_graph.nn.attention import UserAttention
from hlr_graph.nn.distance import pairwise_squared_distance, squared_distance


class AdaCML(CML):
    r"""Item-item relations only: the user moves towards an attention mix of
    their history items, with the target item as the query,

    .. math::
        r_{u,v} = \sum_{j \in \mathcal{N}_u} \alpha_j q_j, \quad
        \alpha_j \propto \exp(q_v^\top q_j), \quad
        d(u, v) = \|p_u + r_{u,v} - q_v\|_2^2,

    as the authors' code computes it (``AttCML``,
    ``huitre/models/atts/attcml.py`` in
    https://github.com/deezer/recsys21-hlr: attention over item embeddings,
    no memory, no user slot; the negative's attention uses the negative as
    query). The attention is :class:`~hlr_graph.nn.UserAttention`'s scatter
    softmax over each query's history edges ``(source, target)`` =
    (history item, query); the :math:`K` negatives of a triplet compute
    the same softmax densely over their query's padded history
    (:meth:`negative_distances`), as ranking does (:meth:`score`). Unlike
    the authors' code, training and ranking mask padding the same way, and
    none leaks into the softmax.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        max_history (int): :math:`L`. (default: ``50``)
        history_sampling (str): ``'random'`` or ``'unpop'``.
        **kwargs: :obj:`embedding_dim`, :obj:`margin`, :obj:`max_norm` of
            :class:`~hlr_graph.models.CML`.
    """
    def __init__(self, num_users: int, num_items: int,
                 max_history: int = 50, history_sampling: str = 'random',
                 **kwargs):
        super().__init__(num_users, num_items, **kwargs)
        self.read_history(max_history, history_sampling)
        self.attention = UserAttention()

    def translate(self, users: Tensor, items: Tensor, user: Tensor,
                  target: Tensor, history: Tensor) -> Tensor:
        item, query = history  # (source, target) = (history item, query).
        relation, _ = self.attention(items.index_select(0, target),
                                     items.index_select(0, item), query,
                                     user.numel())
        return users.index_select(0, user) + relation

    def shares_product(self, batch: TripletBatch) -> bool:
        r"""Never: each negative attends over the history itself
        (:meth:`negative_distances`)."""
        return False

    def negative_distances(self, users: Tensor, items: Tensor,
                           batch: TripletBatch, to_pos: Tensor) -> Tensor:
        r"""``[B, K]`` distances of every triplet's :math:`K` negatives,
        each attending over its query's history with itself as the query
        vector: the history is padded once per query (``[B, L, d]``) and
        its :math:`K` negatives take one batched product of ``[B, K, L]``
        logits, instead of message passing over the history repeated
        :math:`K` times (:meth:`CML.negative_distances`; the same
        distances, tested), which moved :math:`K L d` floats a triplet
        through gathers (``benchmarks/train_speed.py``). A query without
        history gets no relation, as there."""
        neg = batch.negatives()  # [B, K]
        item, query = batch.history  # Sorted by query.
        context, mask = to_dense_batch(items.index_select(0, item), query,
                                       batch_size=neg.size(0))
        q = gather_rows(items, neg)  # [B, K, d]
        logit = (q @ context.transpose(1, 2)).masked_fill(
            ~mask.unsqueeze(1), torch.finfo(q.dtype).min)  # [B, K, L]
        alpha = torch.softmax(logit, dim=-1) * mask.unsqueeze(1)
        relation = alpha @ context  # [B, K, d]
        p = users.index_select(0, batch.user).unsqueeze(1)
        return squared_distance(p + relation, q)

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        r"""``[U, num_items]`` exact scores :math:`-d(u, v)`: with
        :math:`C` the ``[L, d]`` history, :math:`\alpha = \mathrm{softmax}
        (C q_v)` and :math:`r = \alpha^\top C`,
        :math:`d = \|p - q_v\|^2 + 2 \alpha^\top C p - 2 \alpha^\top C q_v +
        \alpha^\top C C^\top \alpha`, computed in blocks of items that hold
        about as many attention weights as :func:`dense_blocks` allows key
        logits."""
        p, items, context, mask = self.dense_history(user, history)
        to_user = (context @ p.unsqueeze(-1))  # [U, L, 1]
        gram = context @ context.transpose(1, 2)  # [U, L, L]
        out = -pairwise_squared_distance(p, items)
        block = max(1, dense_blocks(p.device)[1] //
                    max(user.numel() * context.size(1), 1))
        for i in range(0, items.size(0), block):
            logit = context @ items[i:i + block].t()  # [U, L, I]
            logit = logit.masked_fill(~mask.unsqueeze(-1), -torch.inf)
            alpha = torch.softmax(logit, dim=1).nan_to_num_(0.0)
            logit = logit.nan_to_num_(0.0, neginf=0.0)
            out[:, i:i + block] -= (
                2 * (alpha * to_user).sum(1) - 2 * (alpha * logit).sum(1) +
                ((gram @ alpha) * alpha).sum(1))
        return out
