r"""Collaborative Metric Learning (Hsieh et al., 2017) as the paper states it
(eq. 1), and the base of its translational extensions."""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Embedding
from torch_geometric.utils import to_dense_batch, to_undirected

from hlr_graph.data.batch import SharedTripletBatch, SubgraphBatch, TripletBatch
from hlr_graph.data.graph import INTERACTS, ITEM, REV_INTERACTS, USER
from hlr_graph.models.base import Recommender
from hlr_graph.nn.distance import pairwise_squared_distance, squared_distance
from hlr_graph.nn.encoder import encode_graph
from hlr_graph.nn.objectives import (
    CLOSEST_ONLY,
    ccl_negative_term,
    check_negatives,
    metric_loss,
)


class CML(Recommender):
    r"""Users :math:`p_u` and items :math:`q_v` in one metric space, trained
    with the hinge loss of eq. (1),

    .. math::
        \sum_{(u, v, v^-)} [\|p_u - q_v\|_2^2 - \|p_u - q_{v^-}\|_2^2 + m]_+,

    summed over the batch, under :math:`\|p_u\|_2, \|q_v\|_2 \leq 1`, which
    :meth:`constrain_` enforces by clipping every row after each optimiser
    step, as the authors' code does (``huitre/models/model.py`` and
    ``cml.py`` in https://github.com/deezer/recsys21-hlr). As there, no
    covariance regulariser or WARP weight of the original CML is used.
    Items are ranked by :math:`-\|p_u - q_v\|_2^2`. A training step reads
    only the batch's rows of both tables (:meth:`lookup`), so it can be
    trained with sparse updates (:meth:`sparse_gradients_`), clipping only
    the rows a step changed.

    It is also the base of the models that translate the user towards the
    target, :math:`d(u, v) = \|p_u + r_{u,v} - q_v\|_2^2` (LRML, TransCF,
    AdaCML, HLR, HLR++): they override :meth:`translate` (and :meth:`score`
    for exact full ranking); with :attr:`copy` the negative reuses the
    positive's translation.

    The paper's objective is the default; :obj:`loss` chooses another over
    the :math:`K` negatives of each triplet (a ``[B, K]``
    :attr:`TripletBatch.neg`, from ``TripletBatches(..., num_negatives=K)``):
    :func:`~hlr_graph.nn.metric_loss` with ``'hinge'`` (every negative),
    ``'hardest'``, ``'warp'`` or ``'ccl'``. Every negative gets its own
    translation (eq. 8) unless :attr:`copy`. Negatives shared by the whole
    batch (a :class:`~hlr_graph.data.batch.SharedTripletBatch`, from
    ``share_negatives=True``) that are a user's own items are left out of
    the loss (:meth:`TripletBatch.mask_negatives`).

    :meth:`set_encoder` puts any of them on top of a graph encoder: the
    tables become the encoder's inputs and its outputs the user and item
    vectors, computed on each batch's sampled subgraph in training
    (:class:`~hlr_graph.data.batch.SubgraphBatch`) and for every node at
    once, layer by layer, for ranking.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        embedding_dim (int): :math:`d`. (default: ``100``)
        margin (float): :math:`m`; for ``'ccl'`` the distance out to which
            negatives are pushed. (default: ``0.5``)
        max_norm (float): The norm bound of every row. (default: ``1.0``)
        loss (str): The objective, one of :obj:`~hlr_graph.nn.LOSSES`.
            (default: ``'hinge'``, the paper's)
        negative_weight (float): The weight :math:`w` of the negatives in
            ``'ccl'`` (another loss refuses a weight other than ``1``).
            (default: ``1.0``)
    """
    copy: bool = False
    multiple_negatives = True
    sparse_tables = ('user_emb', 'item_emb')
    _encoded: bool = False

    def __init__(self, num_users: int, num_items: int,
                 embedding_dim: int = 100, margin: float = 0.5,
                 max_norm: float = 1.0, loss: str = 'hinge',
                 negative_weight: float = 1.0):
        super().__init__(num_users, num_items)
        check_negatives(loss, negative_weight)
        self.margin, self.max_norm = margin, max_norm
        self.objective, self.negative_weight = loss, negative_weight
        self.user_emb = Embedding(num_users, embedding_dim)
        self.item_emb = Embedding(num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self):
        r"""Normal(0, 1 / sqrt(d)) initialisation, as the authors' code
        (``huitre/models/model.py``)."""
        for emb in (self.user_emb, self.item_emb):
            torch.nn.init.normal_(emb.weight, std=emb.embedding_dim**-0.5)

    def set_encoder(self, encoder: torch.nn.Module, edge_index: Tensor,
                    chunk_size: int = 2048) -> 'CML':
        r"""Puts the model on top of a graph encoder; returns the model.

        The encoder contract: :obj:`encoder(x, edge_index)` maps ``[N, d]``
        node inputs and ``[2, E]`` edges ``(source, target)`` (messages
        flow from source to target) of the user-item graph seen as one node
        set (users first, then items) to ``[N, d]`` node vectors, any
        homogeneous PyG model (:class:`~hlr_graph.nn.encoder.GNNEncoder`
        over :class:`~torch_geometric.nn.conv.LGConv`,
        :class:`~torch_geometric.nn.conv.SAGEConv`,
        :class:`~torch_geometric.nn.conv.GATConv`, or
        :class:`~torch_geometric.nn.models.GraphSAGE`, ...). The inputs are
        the model's user and item tables (still clipped to
        :obj:`max_norm` after each step), and the outputs are scaled into
        the ball of radius :obj:`max_norm` (differentiably) before they
        enter the distance, as CML's vectors are.

        * A :class:`~hlr_graph.data.batch.SubgraphBatch` (neighbour
          loaders, ``num_neighbors``) is encoded on its subgraph only,
          its triplets read in the subgraph's rows (:meth:`encode`).
        * A plain :class:`~hlr_graph.data.batch.TripletBatch` is encoded
          on the whole graph at every step.
        * Ranking, explanations and the other callers of
          :meth:`embeddings` without gradients get every node's vector
          once, computed layer by layer in chunks of :obj:`chunk_size`
          targets (:meth:`~hlr_graph.nn.encoder.GNNEncoder.inference`;
          one full pass for other encoders) and kept until a parameter
          changes.

        Such a model trains with dense updates only.

        Args:
            encoder (torch.nn.Module): The encoder.
            edge_index (torch.Tensor): ``[2, E]`` training edges
                ``(source, target)`` = (user, item), the graph ranking
                encodes (in both directions).
            chunk_size (int): Targets per chunk of layer-wise inference.
                (default: ``2048``)
        """
        self.encoder, self.chunk_size = encoder, chunk_size
        user, item = edge_index.to(self.user_emb.weight.device)
        self.register_buffer('graph', to_undirected(
            torch.stack([user, item + self.num_users]),
            num_nodes=self.num_users + self.num_items), persistent=False)
        self._encoded, self._cache = True, None
        return self

    def _bound(self, out: Tensor) -> Tensor:
        r"""Rows of :obj:`out` scaled into the ball of radius
        :obj:`max_norm`, differentiably."""
        norm = torch.linalg.vector_norm(out, dim=1, keepdim=True)
        return out * (self.max_norm / norm.clamp(min=1e-12)).clamp(max=1.0)

    def encode(self, subgraph) -> Tuple[Tensor, Tensor]:
        r"""``([U', d], [I', d])`` encoder outputs of the user and item
        nodes of a sampled subgraph (``subgraph['user'].n_id``,
        ``subgraph['item'].n_id``, with ``('user', 'interacts', 'item')``
        and ``('item', 'rev_interacts', 'user')`` edges in local ids), in
        the order of its nodes (:meth:`set_encoder`)."""
        user_id, item_id = subgraph[USER].n_id, subgraph[ITEM].n_id
        num = user_id.numel()
        x = torch.cat([self.user_emb.weight.index_select(0, user_id),
                       self.item_emb.weight.index_select(0, item_id)])
        user, item = subgraph[INTERACTS].edge_index
        rev_item, rev_user = subgraph[REV_INTERACTS].edge_index
        edge_index = torch.cat([torch.stack([user, item + num]),
                                torch.stack([rev_item + num, rev_user])],
                               dim=1)
        out = self._bound(self.encoder(x, edge_index))
        return out[:num], out[num:]

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        r"""``([num_users, d], [num_items, d])`` user and item vectors: the
        tables, or with an encoder (:meth:`set_encoder`) its outputs over
        the whole graph."""
        if not self._encoded:
            return self.user_emb.weight, self.item_emb.weight
        x = torch.cat([self.user_emb.weight, self.item_emb.weight])
        if torch.is_grad_enabled():
            out = self._bound(self.encoder(x, self.graph))
        else:
            key = tuple((p.data_ptr(), p._version)
                        for p in self.parameters())
            if self._cache is None or self._cache[0] != key:
                self._cache = None  # Free the old vectors first.
                self._cache = (key, self._bound(encode_graph(
                    self.encoder, x, self.graph, self.chunk_size)))
            out = self._cache[1]
        return out[:self.num_users], out[self.num_users:]

    def sparse_gradients_(self, enabled: bool = True) -> 'CML':
        if enabled and self._encoded:
            raise ValueError(f'{type(self).__name__} cannot be trained with '
                             f"sparse updates ('sparse_adam'): its encoder "
                             f"reads whole tables; use 'adam'")
        return super().sparse_gradients_(enabled)

    @classmethod
    def sparse_refusal(cls) -> Optional[str]:
        if cls.embeddings is not CML.embeddings:
            return ('its embeddings() computes the vectors from whole '
                    'tables')
        return super().sparse_refusal()

    def lookup(self, user: Tensor, item: Tensor) -> Tuple[Tensor, Tensor]:
        r"""``([U, d], [I, d])`` vectors of ``[U]`` users and ``[I]`` items
        for a training step: rows of :meth:`embeddings`, or, with
        :attr:`sparse_gradients`, lookups of the tables (:obj:`Embedding`
        calls) whose gradients are sparse ``[num_rows, d]`` tensors holding
        only these rows."""
        if self.sparse_gradients:
            return self.user_emb(user), self.item_emb(item)
        users, items = self.embeddings()
        return users.index_select(0, user), items.index_select(0, item)

    def translate(self, users: Tensor, items: Tensor, user: Tensor,
                  target: Tensor, history: Tensor) -> Tensor:
        r"""``[B]`` users moved towards their ``[B]`` target items,
        :math:`p_u + r_{u,v}` (plain :math:`p_u` for CML).

        Args:
            users (torch.Tensor): ``[num_users, d]`` all user vectors.
            items (torch.Tensor): ``[num_items, d]`` all item vectors.
            user (torch.Tensor): ``[B]`` user ids.
            target (torch.Tensor): ``[B]`` target item ids.
            history (torch.Tensor): ``[2, E]`` history edges ``(source,
                target)`` = (history item, query), a query being one of the
                ``[B]`` pairs.
        """
        return users.index_select(0, user)

    def forward(self, user: Tensor, item: Tensor,
                history: Optional[Tensor] = None) -> Tensor:
        r"""``[B]`` squared distances :math:`d(u, v)` of (user, item) pairs,
        with ``[2, E]`` history edges ``(source, target)`` = (history item,
        pair) for models that read them."""
        users, items = self.embeddings()
        if history is None:
            history = user.new_empty(2, 0)
        return squared_distance(
            self.translate(users, items, user, item, history),
            items.index_select(0, item))

    def loss(self, batch: TripletBatch) -> Tensor:
        r"""The hinge loss of eq. (1) (eq. (8) with translations), or the
        model's :obj:`loss` over the batch's :math:`K` negatives, summed
        over the batch. :meth:`translate` sees the batch's rows of the
        tables and the batch in indices into them
        (:meth:`TripletBatch.compact`), or with an encoder and a
        :class:`~hlr_graph.data.batch.SubgraphBatch` the encoder's vectors
        of the subgraph's nodes and the batch in its rows. A model that
        reads histories warns once when a batch has none
        (:meth:`Recommender.check_history`). With ``'ccl'`` over negatives
        shared by the batch and one product for their distances
        (:meth:`shares_product`), the negative term is
        :func:`~hlr_graph.nn.objectives.ccl_negative_term`: the value and
        gradient of :func:`~hlr_graph.nn.metric_loss` on them up to float
        rounding, in about two thirds of the time of autograd through it
        on one CPU thread (``benchmarks/ccl_shared.py``)."""
        self.check_history(batch)
        if self._encoded and isinstance(batch, SubgraphBatch):
            users, items = self.encode(batch.subgraph)
            batch = batch.local
        else:
            user_nodes, item_nodes, batch = batch.compact()
            users, items = self.lookup(user_nodes, item_nodes)
        to_pos = self.translate(users, items, batch.user, batch.pos,
                                batch.history)
        pos = squared_distance(to_pos, items.index_select(0, batch.pos))
        if batch.neg.dim() == 1 and self.objective == 'hinge':
            to_neg = to_pos if self.copy else self.translate(
                users, items, batch.user, batch.neg, batch.history)
            neg = squared_distance(to_neg, items.index_select(0, batch.neg))
            return torch.relu(pos - neg + self.margin).sum()
        if self.objective == 'ccl' and self.shares_product(batch):
            return pos.sum() + ccl_negative_term(
                to_pos, items.index_select(0, batch.shared), self.margin,
                self.negative_weight, batch.valid)
        if self.objective in CLOSEST_ONLY and batch.negatives().size(1) > 1:
            neg = self.closest_negative_distances(users, items, batch, to_pos)
        else:
            neg = batch.mask_negatives(
                self.negative_distances(users, items, batch, to_pos))
        return metric_loss(pos, neg, self.margin, self.objective,
                           self.num_items, self.negative_weight,
                           batch.negative_counts())

    def closest_negative_distances(self, users: Tensor, items: Tensor,
                                   batch: TripletBatch, to_pos: Tensor
                                   ) -> Tensor:
        r"""The ``[B, K]`` distances of :meth:`negative_distances` for a
        loss whose gradient reaches only each triplet's closest negative
        (:obj:`~hlr_graph.nn.objectives.CLOSEST_ONLY`): all :math:`K` are
        computed without autograd, and the closest once more with it, its
        gradient added to the value through a zero (:math:`d - d` with the
        second term detached). The values are bitwise those of
        :meth:`negative_distances`, so :func:`metric_loss` picks the same
        negative and returns the same loss; its gradient is the same up to
        float rounding (tested), at the backward cost of one negative
        instead of :math:`K` (docs/performance.md, section 4)."""
        with torch.no_grad():
            neg = batch.mask_negatives(
                self.negative_distances(users, items, batch, to_pos))
        # min's own index, as metric_loss takes it: a negative drawn twice
        # ties, and the gradient must land on the column min reads.
        closest = neg.min(dim=1, keepdim=True).indices  # [B, 1]
        hard = self.negative_distances(users, items, TripletBatch(
            batch.user, batch.pos, batch.negatives().gather(1, closest),
            batch.history), to_pos)  # [B, 1]
        return neg.scatter_add(1, closest, hard - hard.detach())

    def negative_distances(self, users: Tensor, items: Tensor,
                           batch: TripletBatch, to_pos: Tensor) -> Tensor:
        r"""``[B, K]`` distances :math:`d(u, v^-_k)` of every triplet's
        negatives (:meth:`TripletBatch.negatives`), each with its own
        translation (or the positive's, ``to_pos``, with :attr:`copy`): the
        :math:`K` negatives of a query are :math:`K` queries of
        :meth:`translate` sharing its history edges. Negatives shared by
        the batch whose translation is the positive's (CML's :math:`p_u`,
        or :attr:`copy`) take one ``[B, d] x [d, K]`` product
        (:func:`~hlr_graph.nn.distance.pairwise_squared_distance`)."""
        neg = batch.negatives()  # [B, K]
        size, num = neg.shape
        if self.shares_product(batch):
            return pairwise_squared_distance(
                to_pos, items.index_select(0, batch.shared))
        if self.copy:
            to_neg = to_pos.unsqueeze(1).expand(-1, num, -1)
        else:  # Query k * B + b is negative k of triplet b.
            item, query = batch.history
            shift = torch.arange(num, device=query.device).repeat_interleave(
                query.numel()) * size
            history = torch.stack([item.repeat(num), query.repeat(num) +
                                   shift])
            to_neg = self.translate(users, items, batch.user.repeat(num),
                                    neg.t().reshape(-1), history)
            to_neg = to_neg.view(num, size, -1).transpose(0, 1)
        return squared_distance(to_neg, gather_rows(items, neg))

    def shares_product(self, batch: TripletBatch) -> bool:
        r"""Whether the batch's negatives are shared
        (:class:`~hlr_graph.data.batch.SharedTripletBatch`) and every
        query's translation to them is the positive's (CML's :math:`p_u`,
        or :attr:`copy`): then their distances are one product
        (:meth:`negative_distances`), and ``'ccl'`` takes its negative term
        from the products alone
        (:func:`~hlr_graph.nn.objectives.ccl_negative_term`). A model whose
        :meth:`negative_distances` computes them otherwise overrides this
        too, so that :meth:`loss` takes the same path."""
        return isinstance(batch, SharedTripletBatch) and (
            self.copy or type(self).translate is CML.translate)

    def dense_history(self, user: Tensor, history: Optional[Tensor]
                      ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        r"""For scoring ``[U]`` users with ``[2, E]`` history edges
        ``(source, target)`` = (history item, row in :obj:`user`), sorted by
        row: ``(p [U, d], items [num_items, d], context [U, L, d], mask [U,
        L])``, the histories padded to the longest."""
        users, items = self.embeddings()
        if history is None:
            history = user.new_empty(2, 0)
        context, mask = to_dense_batch(items[history[0]], history[1],
                                       batch_size=user.numel())
        return users.index_select(0, user), items, context, mask

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        users, items = self.embeddings()
        return -pairwise_squared_distance(users.index_select(0, user), items)

    @torch.no_grad()
    def constrain_(self, rows: Optional[Dict[str, Tensor]] = None):
        r"""Clips the user and item rows to norm :obj:`max_norm`: every row,
        or after a sparse update only the :obj:`rows` it changed
        (``{'user_emb': [R], 'item_emb': [R']}``; a table left out is
        clipped whole)."""
        rows = rows or {}
        for name in ('user_emb', 'item_emb'):
            clip_rows_(getattr(self, name).weight, self.max_norm,
                       rows.get(name))


def gather_rows(table: Tensor, index: Tensor) -> Tensor:
    r"""``[*index.shape, d]`` rows of the ``[R, d]`` :obj:`table`:
    ``table[index]`` through :func:`torch.index_select`, whose backward
    is an ``index_add`` rather than indexing's accumulating
    ``index_put`` (no difference measurable on a whole training step on
    this project's shared machine, docs/performance.md section 4)."""
    return table.index_select(0, index.reshape(-1)).view(
        *index.shape, table.size(-1))


def clip_rows_(weight: Tensor, max_norm: float,
               rows: Optional[Tensor] = None) -> Tensor:
    r"""Scales every row of :obj:`weight` whose L2 norm exceeds
    :obj:`max_norm` back to it, in place (as :func:`torch.renorm`, but
    touching only those rows: after an optimiser step most rows are
    within the bound).

    Args:
        weight (torch.Tensor): ``[num_rows, d]``.
        max_norm (float): The norm bound.
        rows (torch.Tensor, optional): ``[R]`` distinct rows to look at
            (default: :obj:`None`, all of them); the others are left as
            they are.
    """
    if rows is None:
        norm = torch.linalg.vector_norm(weight, dim=1)
        rows = (norm > max_norm).nonzero().view(-1)
        weight[rows] *= (max_norm / norm[rows]).unsqueeze(1)
        return weight
    norm = torch.linalg.vector_norm(weight.index_select(0, rows), dim=1)
    over = norm > max_norm
    rows, norm = rows[over], norm[over]
    weight[rows] *= (max_norm / norm).unsqueeze(1)
    return weight
