r"""The link-prediction loader of training triplets, and the triplets it
yields as plain index tensors."""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.loader import LinkLoader
from torch_geometric.sampler import NegativeSampling
from torch_geometric.utils import cumsum

from hlr_graph.data.graph import INTERACTS, ITEM, REV_INTERACTS, USER
from hlr_graph.loader.history import csr_gather
from hlr_graph.loader.sampler import TripletSampler


class TripletLoader(LinkLoader):
    r"""Mini-batches of (user, positive item, negative item, the user's
    sampled history) over the supervision edges :obj:`edge_label_index`,
    as :class:`~torch_geometric.data.HeteroData` mini-batches of a
    :class:`~torch_geometric.loader.LinkLoader` with a
    :class:`~hlr_graph.loader.TripletSampler`.

    Read a mini-batch with :meth:`TripletBatch.from_hetero`.

    Args:
        data (HeteroData): The graph; its ``('user', 'interacts', 'item')``
            ``edge_index`` holds the interactions histories are drawn from.
        edge_label_index (torch.Tensor, optional): ``[2, B_total]``
            supervision edges (default: the training edges themselves).
        max_history (int): The history size :math:`L`, required: ``0``
            draws no history (CML's batches), ``-1`` every item. Pass the
            model's :attr:`~hlr_graph.models.Recommender.max_history`: a
            model with relations fed batches without histories trains as
            plain CML.
        history_sampling (str): ``'random'`` or ``'unpop'``.
        positives (torch.Tensor, optional): ``[2, P]`` interactions negatives
            must avoid (default: the graph's edges).
        seed (int, optional): Seeds the shuffling and the sampler.
        **kwargs: :class:`torch.utils.data.DataLoader` arguments such as
            :obj:`batch_size`, :obj:`shuffle` or :obj:`num_workers`.
    """
    def __init__(
        self,
        data: HeteroData,
        edge_label_index: Optional[Tensor] = None,
        *,
        max_history: int,
        history_sampling: str = 'random',
        positives: Optional[Tensor] = None,
        seed: Optional[int] = None,
        **kwargs,
    ):
        num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
        edge_index = data[INTERACTS].edge_index
        graph = HeteroData()  # Only what mini-batches need to carry.
        graph[USER].num_nodes, graph[ITEM].num_nodes = num_users, num_items
        graph[INTERACTS].edge_index = edge_index
        graph[REV_INTERACTS].edge_index = edge_index.flip(0)
        if edge_label_index is None:
            edge_label_index = edge_index

        sampler = TripletSampler(edge_index, num_users, num_items, max_history,
                                 history_sampling, positives, seed)
        if seed is not None and 'generator' not in kwargs:
            kwargs['generator'] = torch.Generator().manual_seed(seed)
        super().__init__(graph, sampler,
                         edge_label_index=(INTERACTS, edge_label_index),
                         neg_sampling=NegativeSampling('triplet'), **kwargs)


@dataclass
class TripletBatch:
    r"""Training triplets in global ids.

    Attributes:
        user (torch.Tensor): ``[B]`` users.
        pos (torch.Tensor): ``[B]`` positive items.
        neg (torch.Tensor): ``[B]`` negative items.
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
        item_nodes, item = torch.cat([self.pos, self.neg,
                                      self.history[0]]).unique(
                                          return_inverse=True)
        pos, neg, history = item.split([self.pos.numel(), self.neg.numel(),
                                        self.history.size(1)])
        return user_nodes, item_nodes, TripletBatch(
            user, pos, neg, torch.stack([history, self.history[1]]))

    def to(self, device) -> 'TripletBatch':
        return TripletBatch(self.user.to(device), self.pos.to(device),
                            self.neg.to(device), self.history.to(device))
