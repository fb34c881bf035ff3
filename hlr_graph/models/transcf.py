r"""Collaborative Translational Metric Learning (Park et al., ICDM 2018)."""
import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import cumsum, scatter, spmm

from hlr_graph.data.index import csr_gather
from hlr_graph.models.cml import CML
from hlr_graph.nn.distance import pairwise_squared_distance, squared_distance
from hlr_graph.nn.objectives import metric_loss


class TransCF(CML):
    r"""Translations from neighbourhoods: a user's neighbourhood vector is
    the mean of their training items, an item's the mean of its training
    users, and

    .. math::
        r_{u,v} = \mathrm{nbr}_u \odot \mathrm{nbr}_v, \quad
        d(u, v) = \|p_u + r_{u,v} - q_v\|_2^2.

    As in the authors' code (``huitre/models/trans/transcf.py`` in
    https://github.com/deezer/recsys21-hlr), the neighbourhoods are
    recomputed from the current embeddings at every batch and carry no
    gradient, and the loss adds two regularisers to the hinge,

    .. math::
        \alpha_{nbr} \sum (\|p_u - \mathrm{nbr}_u\|^2 +
        \|q_v - \mathrm{nbr}_v\|^2 + \|q_{v^-} - \mathrm{nbr}_{v^-}\|^2)
        + \alpha_{dist} \sum \|p_u + r_{u,v} - q_v\|^2.

    Neighbourhoods always come from the training interactions (the
    authors' code uses training and validation ones for its validation
    loss).

    With :math:`K` negatives per triplet (a ``[B, K]``
    :attr:`TripletBatch.neg`) the hinge becomes the model's :obj:`loss`
    over them (:func:`~hlr_graph.nn.metric_loss`, as for
    :class:`~hlr_graph.models.CML`), and the negatives' regulariser is
    their mean, :math:`\frac{1}{K} \sum_k \|q_{v^-_k} -
    \mathrm{nbr}_{v^-_k}\|^2`, so that its weight does not grow with
    :math:`K` (over the :math:`K_b` negatives that count, with negatives
    shared by the batch:
    :meth:`~hlr_graph.data.batch.TripletBatch.negative_mean`); with one
    negative and ``'hinge'`` the loss is the one above, computed as
    before.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        edge_index (torch.Tensor): ``[2, E]`` training (user, item) pairs.
        alpha_nbr (float): :math:`\alpha_{nbr}`. (default: ``0.1``)
        alpha_dist (float): :math:`\alpha_{dist}`. (default: ``0.1``)
        **kwargs: :obj:`embedding_dim`, :obj:`margin`, :obj:`max_norm`,
            :obj:`loss`, :obj:`negative_weight` of
            :class:`~hlr_graph.models.CML`.
    """

    def __init__(self, num_users: int, num_items: int, edge_index: Tensor,
                 alpha_nbr: float = 0.1, alpha_dist: float = 0.1, **kwargs):
        super().__init__(num_users, num_items, **kwargs)
        self.alpha_nbr, self.alpha_dist = alpha_nbr, alpha_dist
        for name, (row, col, size) in {
                'user': (edge_index[0], edge_index[1], num_users),
                'item': (edge_index[1], edge_index[0], num_items)}.items():
            # Columns sorted within each row, as a CSR matrix needs them.
            order = (row * (num_users + num_items) + col).argsort()
            self.register_buffer(f'{name}_rowptr', cumsum(
                torch.bincount(row, minlength=size)), persistent=False)
            self.register_buffer(f'{name}_col', col[order], persistent=False)

    def neighbourhood(self, table: Tensor, rowptr: Tensor, col: Tensor,
                      index: Tensor) -> Tensor:
        r"""``[B, d]`` mean of the :obj:`table` rows neighbouring each of
        ``[B]`` nodes, without gradient (zero for a node without
        neighbours): a sparse-dense product over the rows of the distinct
        nodes (:math:`K` negatives a triplet repeat popular items), which
        reads the table's rows in place instead of gathering a copy of
        each (``benchmarks/train_speed.py``)."""
        table = table.detach()
        nodes, inverse = index.unique(return_inverse=True)
        owner, position = csr_gather(rowptr, nodes)
        if table.device.type not in ('cpu', 'cuda'):  # No sparse CSR there.
            return scatter(table.index_select(0, col[position]), owner,
                           dim=0, dim_size=nodes.numel(),
                           reduce='mean').index_select(0, inverse)
        with warnings.catch_warnings():  # torch's "beta" notes on CSR.
            warnings.simplefilter('ignore', UserWarning)
            adjacency = torch.sparse_csr_tensor(
                cumsum(rowptr[nodes + 1] - rowptr[nodes]), col[position],
                table.new_ones(position.numel()),
                (nodes.numel(), table.size(0)))
        return spmm(adjacency, table, reduce='mean').index_select(0, inverse)

    def _neighbourhoods(self, users: Tensor, items: Tensor, user: Tensor,
                        item: Tensor) -> Tuple[Tensor, Tensor]:
        return (self.neighbourhood(items, self.user_rowptr, self.user_col,
                                   user),
                self.neighbourhood(users, self.item_rowptr, self.item_col,
                                   item))

    def translate(self, users: Tensor, items: Tensor, user: Tensor,
                  target: Tensor, history: Tensor) -> Tensor:
        nbr_user, nbr_item = self._neighbourhoods(users, items, user, target)
        return users.index_select(0, user) + nbr_user * nbr_item

    def loss(self, batch) -> Tensor:
        r"""The hinge (or the model's :obj:`loss` over the batch's
        :math:`K` negatives) plus both regularisers, summed over the batch;
        the gradient reaches the batch's rows only (the neighbourhoods
        carry none), so sparse updates apply."""
        users, items = self.embeddings()
        negatives = batch.negatives()  # [B, K]
        size, num = negatives.shape
        p, pos_neg = self.lookup(batch.user, torch.cat([
            batch.pos, negatives.reshape(-1)]))
        pos, neg = pos_neg[:size], pos_neg[size:]
        nbr_user, nbr_pos = self._neighbourhoods(users, items, batch.user,
                                                 batch.pos)
        nbr_neg = self.neighbourhood(users, self.item_rowptr, self.item_col,
                                     negatives.reshape(-1))
        d_pos = squared_distance(p + nbr_user * nbr_pos, pos)
        regulariser = (squared_distance(p, nbr_user) +
                       squared_distance(pos, nbr_pos))
        if batch.neg.dim() == 1 and self.objective == 'hinge':
            d_neg = squared_distance(p + nbr_user * nbr_neg, neg)
            ranking = torch.relu(d_pos - d_neg + self.margin).sum()
            regulariser = regulariser + squared_distance(neg, nbr_neg)
        else:
            neg, nbr_neg = neg.view(size, num, -1), nbr_neg.view(
                size, num, -1)
            d_neg = squared_distance(
                p.unsqueeze(1) + nbr_user.unsqueeze(1) * nbr_neg, neg)
            ranking = metric_loss(d_pos, batch.mask_negatives(d_neg),
                                  self.margin, self.objective,
                                  self.num_items, self.negative_weight,
                                  batch.negative_counts())
            regulariser = regulariser + batch.negative_mean(
                squared_distance(neg, nbr_neg))
        return (ranking + self.alpha_nbr * regulariser.sum() +
                self.alpha_dist * d_pos.sum())

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        r"""``[U, num_items]`` exact scores :math:`-d(u, v)`, with
        :math:`\|p + n_u \odot n_v - q_v\|^2 = \|p - q_v\|^2 +
        (n_u^2)^\top n_v^2 + 2 (p \odot n_u)^\top n_v - 2 n_u^\top (n_v \odot
        q_v)` as matrix products."""
        users, items = self.embeddings()
        p = users.index_select(0, user)
        all_items = torch.arange(items.size(0), device=user.device)
        nbr_user, nbr_item = self._neighbourhoods(users, items, user,
                                                  all_items)
        distance = (pairwise_squared_distance(p, items) +
                    nbr_user.pow(2) @ nbr_item.pow(2).t() +
                    2 * (p * nbr_user) @ nbr_item.t() -
                    2 * nbr_user @ (nbr_item * items).t())
        return -distance
