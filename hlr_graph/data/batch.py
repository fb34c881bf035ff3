r"""Training triplets with user histories as plain index tensors: what a
model's loss takes, however the triplets were sampled."""
from dataclasses import dataclass
from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.utils import cumsum

from hlr_graph.data.graph import ITEM, REV_INTERACTS, USER
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
        src = user_store.src_index
        pos = item_store.n_id[item_store.dst_pos_index]
        neg = item_store.n_id[item_store.dst_neg_index]
        local_item, local_user = batch[REV_INTERACTS].edge_index
        order = local_user.argsort(stable=True)  # CSR over local users.
        rowptr = cumsum(torch.bincount(local_user,
                                       minlength=user_store.num_nodes))
        query, position = csr_gather(rowptr, src)
        item = item_store.n_id[local_item[order[position]]]
        keep = item != pos[query]
        return cls(user_store.n_id[src], pos, neg,
                   torch.stack([item[keep], query[keep]]))

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

    def to(self, device) -> 'TripletBatch':
        return TripletBatch(self.user.to(device), self.pos.to(device),
                            self.neg.to(device), self.history.to(device))
