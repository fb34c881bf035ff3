r"""Training triplets with user histories as plain index tensors: what a
model's loss takes, however the triplets were sampled."""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.utils import cumsum

from hlr_graph.data.graph import INTERACTS, ITEM, REV_INTERACTS, USER
from hlr_graph.data.index import csr_gather

HISTORY_SAMPLING = ('random', 'unpop')
r"""How a history of at most :math:`L` of a user's items may be drawn:
uniformly without replacement, or with replacement and probability
``~ 1 / popularity``
(:class:`~hlr_graph.loader.HistorySampler`)."""


@dataclass
class TripletBatch:
    r"""Training triplets in global ids.

    Attributes:
        user (torch.Tensor): ``[B]`` users.
        pos (torch.Tensor): ``[B]`` positive items.
        neg (torch.Tensor): ``[B]`` negative items, or ``[B, K]``: :math:`K`
            negatives per triplet (:meth:`negatives` views both as
            ``[B, K]``).
        history (torch.Tensor): ``[2, E]`` history edges ``(source,
            target)`` = (history item, query), sorted by query: an edge
            ``(j, b)`` puts item ``j`` in the history of triplet ``b``; never
            the triplet's own positive item. Messages flow from the history
            item to the query, as in PyG's ``source_to_target`` flow.
    """
    user: Tensor
    pos: Tensor
    neg: Tensor
    history: Tensor

    @classmethod
    def from_hetero(cls, batch: HeteroData) -> 'TripletBatch':
        r"""Reads a ``neg_sampling='triplet'`` mini-batch of
        :class:`TripletLoader`, or of
        :class:`~torch_geometric.loader.LinkNeighborLoader` (disjoint or not,
        where ``pyg-lib`` or ``torch-sparse`` is installed) that samples
        users' items along ``('item', 'rev_interacts', 'user')``::

            LinkNeighborLoader(data, num_neighbors={
                ('item', 'rev_interacts', 'user'): [L],
                ('user', 'interacts', 'item'): [0]},
                edge_label_index=(('user', 'interacts', 'item'), edges),
                neg_sampling='triplet', batch_size=1000)

        The history of a triplet is the set of items whose
        ``('item', 'rev_interacts', 'user')`` edges reach its user node,
        except the triplet's own positive item, so that the target never
        leaks into its history even when the sampler drew that edge.
        PyG's negative sampling does not avoid known positives; this
        package's :class:`TripletLoader` does.
        """
        user_store, item_store = batch[USER], batch[ITEM]
        local = _local_triplets(batch)
        return cls(user_store.n_id[local.user], item_store.n_id[local.pos],
                   item_store.n_id[local.neg],
                   torch.stack([item_store.n_id[local.history[0]],
                                local.history[1]]))

    def compact(self) -> Tuple[Tensor, Tensor, 'TripletBatch']:
        r"""``(user_nodes, item_nodes, batch)``: the distinct users and
        items of the batch, and the batch in indices into them. Models
        gather their embedding rows once per table with these, so that the
        backward pass builds one full-size gradient per table instead of one
        per lookup."""
        user_nodes, user = self.user.unique(return_inverse=True)
        item_nodes, item = torch.cat([self.pos, self.neg.reshape(-1),
                                      self.history[0]]).unique(
                                          return_inverse=True)
        pos, neg, history = item.split([self.pos.numel(), self.neg.numel(),
                                        self.history.size(1)])
        return user_nodes, item_nodes, TripletBatch(
            user, pos, neg.view_as(self.neg),
            torch.stack([history, self.history[1]]))

    def negatives(self) -> Tensor:
        r"""``[B, K]`` the negatives of every triplet (:attr:`neg` viewed
        with one column when it holds one per triplet)."""
        return self.neg.view(self.user.numel(), -1)

    def mask_negatives(self, distance: Tensor) -> Tensor:
        r"""``[B, K]`` negative distances of :meth:`negatives` with the
        pairs that must not count as negatives set to :math:`+\infty`, so
        that every loss of :func:`~hlr_graph.nn.metric_loss` ignores them
        and sends them no gradient: none here (a triplet's own negatives
        avoid its user's items); see :class:`SharedTripletBatch`."""
        return distance

    def negative_counts(self) -> Optional[Tensor]:
        r"""``[B]`` how many of each triplet's :math:`K` negatives count
        (:meth:`mask_negatives`), for the means over them
        (:func:`~hlr_graph.nn.metric_loss`'s ``counts``): :obj:`None` here,
        all :math:`K`."""
        return None

    def negative_mean(self, values: Tensor) -> Tensor:
        r"""``[B]`` the mean of ``[B, K]`` :obj:`values` of every
        triplet's negatives over those that count (:meth:`mask_negatives`):
        all :math:`K` here."""
        return values.mean(dim=1)

    def to(self, device) -> 'TripletBatch':
        return TripletBatch(self.user.to(device), self.pos.to(device),
                            self.neg.to(device), self.history.to(device))


@dataclass
class SharedTripletBatch(TripletBatch):
    r"""Training triplets whose :math:`K` negatives are one draw shared by
    the whole batch (``TripletBatches(..., share_negatives=True)``): every
    triplet's negatives are the same :math:`K` items, so a model may
    compute their distances to all :math:`B` queries as one matrix product
    (:meth:`~hlr_graph.models.CML.negative_distances`) instead of
    :math:`B K` gathered rows. A shared item may be one of a user's own
    items; :attr:`valid` says which pairs count.

    Attributes:
        neg (torch.Tensor): ``[B, K]``, every row the same :math:`K` items
            (an expanded view of :attr:`shared`): any model reads it as
            per-triplet negatives.
        valid (torch.Tensor): ``[B, K]`` :obj:`torch.bool`, :obj:`False`
            where negative :math:`k` is one of triplet :math:`b`'s user's
            items (those the sampler's ``positives`` hold).
    """
    valid: Tensor

    @property
    def shared(self) -> Tensor:
        r"""``[K]`` the negatives of every triplet."""
        return self.neg[0]

    def compact(self) -> Tuple[Tensor, Tensor, 'SharedTripletBatch']:
        r"""As :meth:`TripletBatch.compact`, reading the :math:`K` shared
        items once instead of :math:`B K` times."""
        user_nodes, user = self.user.unique(return_inverse=True)
        item_nodes, item = torch.cat([self.pos, self.shared,
                                      self.history[0]]).unique(
                                          return_inverse=True)
        pos, shared, history = item.split([self.pos.numel(),
                                           self.shared.numel(),
                                           self.history.size(1)])
        return user_nodes, item_nodes, SharedTripletBatch(
            user, pos, shared.expand_as(self.neg),
            torch.stack([history, self.history[1]]), self.valid)

    def mask_negatives(self, distance: Tensor) -> Tensor:
        r"""``[B, K]`` :obj:`distance` with :math:`+\infty` where
        :attr:`valid` is :obj:`False`."""
        return distance.masked_fill(~self.valid, torch.inf)

    def negative_counts(self) -> Tensor:
        r"""``[B]`` the number of :attr:`valid` pairs of each triplet."""
        return self.valid.sum(dim=1)

    def negative_mean(self, values: Tensor) -> Tensor:
        r"""``[B]`` the mean of each row of :obj:`values` over its
        :attr:`valid` pairs (``0`` for a row with none)."""
        return values.masked_fill(~self.valid, 0.0).sum(
            dim=1) / self.negative_counts().clamp(min=1)

    def to(self, device) -> 'SharedTripletBatch':
        return SharedTripletBatch(
            self.user.to(device), self.pos.to(device),
            self.shared.to(device).expand_as(self.neg),
            self.history.to(device), self.valid.to(device))


def _local_triplets(batch: HeteroData) -> TripletBatch:
    r"""The triplets of a ``neg_sampling='triplet'`` mini-batch in local
    ids: users index ``batch['user'].n_id``, items ``batch['item'].n_id``;
    the history of a triplet is the items whose
    ``('item', 'rev_interacts', 'user')`` edges reach its user node, but its
    own positive item (:meth:`TripletBatch.from_hetero`)."""
    user_store, item_store = batch[USER], batch[ITEM]
    src = user_store.src_index
    pos, neg = item_store.dst_pos_index, item_store.dst_neg_index
    local_item, local_user = batch[REV_INTERACTS].edge_index
    order = local_user.argsort(stable=True)  # CSR over local users.
    rowptr = cumsum(torch.bincount(local_user,
                                   minlength=user_store.num_nodes))
    query, position = csr_gather(rowptr, src)
    item = local_item[order[position]]
    keep = item_store.n_id[item] != item_store.n_id[pos[query]]
    return TripletBatch(src, pos, neg, torch.stack([item[keep], query[keep]]))


@dataclass
class SubgraphBatch(TripletBatch):
    r"""Training triplets with the sampled subgraph around their nodes: what a
    model with a graph encoder reads
    (:meth:`~hlr_graph.models.CML.set_encoder`). The inherited fields hold
    the triplets in global ids, as a :class:`TripletBatch`, so that any
    model can train on it; :attr:`local` holds the same triplets in rows of
    the subgraph's nodes.

    Attributes:
        subgraph (HeteroData): The sampled subgraph in the layout of PyG's
            :class:`~torch_geometric.loader.LinkNeighborLoader`:
            ``subgraph['user'].n_id`` ``[U']`` and ``subgraph['item'].n_id``
            ``[I']`` the global ids of its nodes (the batch's users first,
            then its positive and negative items), and ``edge_index``
            ``[2, E']`` ``(source, target)`` in local ids for
            ``('user', 'interacts', 'item')`` (user to item messages) and
            ``('item', 'rev_interacts', 'user')`` (item to user messages),
            with ``e_id`` their ids in the training graph, and, where the
            sampler counts them, ``num_sampled_nodes`` and
            ``num_sampled_edges`` per hop. It never holds a supervision
            edge of the batch
            (:class:`~hlr_graph.loader.TripletNeighborSampler`; PyG's
            samplers do not ensure it).
        local (TripletBatch): The triplets in local ids: users index
            ``subgraph['user'].n_id``, items ``subgraph['item'].n_id``.
    """
    subgraph: HeteroData
    local: TripletBatch

    @classmethod
    def from_hetero(cls, batch: HeteroData) -> 'SubgraphBatch':
        r"""Reads a ``neg_sampling='triplet'`` mini-batch of
        :class:`~hlr_graph.loader.TripletLoader` with ``num_neighbors``, or
        of :class:`~torch_geometric.loader.LinkNeighborLoader`, keeping its
        subgraph; the history of a triplet is its user's sampled first hop
        (:meth:`TripletBatch.from_hetero`)."""
        triplets = TripletBatch.from_hetero(batch)
        subgraph = HeteroData()
        for node_type in (USER, ITEM):
            subgraph[node_type].n_id = batch[node_type].n_id
            subgraph[node_type].num_nodes = batch[node_type].num_nodes
            if 'num_sampled_nodes' in batch[node_type]:
                subgraph[node_type].num_sampled_nodes = batch[
                    node_type].num_sampled_nodes
        for edge_type in (INTERACTS, REV_INTERACTS):
            for key in ('edge_index', 'e_id', 'num_sampled_edges'):
                if key in batch[edge_type]:
                    subgraph[edge_type][key] = batch[edge_type][key]
        return cls(triplets.user, triplets.pos, triplets.neg,
                   triplets.history, subgraph, _local_triplets(batch))

    def to(self, device) -> 'SubgraphBatch':
        return SubgraphBatch(self.user.to(device), self.pos.to(device),
                             self.neg.to(device), self.history.to(device),
                             self.subgraph.to(device), self.local.to(device))
