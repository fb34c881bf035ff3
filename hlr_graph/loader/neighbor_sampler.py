r"""A pure-torch multi-hop neighbour sampler of training triplets: the
sampled :math:`k`-hop subgraph around every batch's users and items, in the
layout of PyG's :class:`~torch_geometric.loader.LinkNeighborLoader`, with no
compiled extension (``pyg-lib``, ``torch-sparse``)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.sampler import (
    EdgeSamplerInput,
    HeteroSamplerOutput,
    NegativeSampling,
)

from hlr_graph.data.batch import SubgraphBatch
from hlr_graph.data.graph import INTERACTS, ITEM, REV_INTERACTS, USER
from hlr_graph.data.index import UserItemIndex, csr_gather
from hlr_graph.loader.history import _floyd, sample_negatives
from hlr_graph.loader.sampler import SeededEdgeSampler


def sample_neighbours(index: UserItemIndex, rows: Tensor, num: int,
                      excluded: Tensor,
                      generator: Optional[torch.Generator] = None
                      ) -> Tuple[Tensor, Tensor]:
    r"""At most :obj:`num` neighbours of every row of :obj:`index` in
    :obj:`rows`, drawn uniformly without replacement (all of them when
    :obj:`num` is negative or the row has no more), never at a CSR position
    that :obj:`excluded` marks.

    A row with more candidates draws :obj:`num` distinct ones by R. Floyd's
    algorithm, vectorised over rows: the cost is linear in the rows'
    degrees (gathering their candidates) plus :math:`O(\text{num}^2)` per
    drawn row.

    Args:
        index (UserItemIndex): The CSR adjacency (rows: the sampling nodes).
        rows (torch.Tensor): ``[R]`` distinct rows.
        num (int): The fan-out.
        excluded (torch.Tensor): ``[E]`` bool, per CSR position.
        generator (torch.Generator, optional): The random source.

    Returns:
        ``(owner, position)``, each ``[S]``: the index into :obj:`rows` of
        each drawn edge and its CSR position, grouped by owner.
    """
    owner, position = csr_gather(index.rowptr, rows)
    keep = ~excluded[position]
    owner, position = owner[keep], position[keep]
    if num < 0 or owner.numel() == 0:
        return owner, position
    count = torch.bincount(owner, minlength=rows.numel())
    big = count > num
    if not bool(big.any()):
        return owner, position
    # Rows with more candidates draw `num` distinct offsets into their
    # (contiguous) candidates; the others keep all of them.
    start = torch.cumsum(count, 0) - count
    small = ~big[owner]
    big_rows = big.nonzero().view(-1)
    drawn = (start[big_rows].unsqueeze(1) +
             _floyd(count[big_rows], num, generator)).view(-1)
    take = torch.cat([small.nonzero().view(-1), drawn]).sort().values
    return owner[take], position[take]


class TripletNeighborSampler(SeededEdgeSampler):
    r"""Samples, for a batch of supervision edges :math:`(u, v)`, one
    negative item :math:`v^-` each and the :math:`k`-hop subgraph around the
    batch's users and items, hop by hop as PyG's
    :class:`~torch_geometric.sampler.NeighborSampler` does
    (``disjoint=False``): at hop :math:`h`, every node reached at hop
    :math:`h - 1` (the seeds at hop 1) draws at most
    :obj:`num_neighbors[h - 1]` of its neighbours uniformly without
    replacement; a user's items become ``('item', 'rev_interacts',
    'user')`` edges, an item's users ``('user', 'interacts', 'item')``
    edges, each ``(source, target)`` = (neighbour, sampling node), the
    direction messages flow.

    No edge of the batch's supervision edges is ever drawn, in either
    direction: message passing never sees the edge it predicts. A triplet's
    history (:meth:`~hlr_graph.data.batch.TripletBatch.from_hetero`) is
    then its user's first hop: at most :obj:`num_neighbors[0]` of the
    user's items, never one of the batch's positive items of that user.

    The output is that of
    :class:`~torch_geometric.loader.LinkNeighborLoader` with
    ``neg_sampling='triplet'``: the batch's distinct users are the first
    user nodes (``src_index`` points at them), the distinct positive and
    negative items the first item nodes (``dst_pos_index``,
    ``dst_neg_index``), and the nodes of later hops follow; ``e_id`` holds
    edge ids of :obj:`graph` for both edge types. Unlike PyG's negative
    sampling, negatives avoid known :obj:`positives`.

    :meth:`sample` draws the same batch as a
    :class:`~hlr_graph.data.batch.SubgraphBatch` with tensor operations on
    :obj:`device` (the model's), as
    :class:`~hlr_graph.loader.TripletBatches` uses it.

    Args:
        graph (torch.Tensor): ``[2, E]`` interactions ``(source, target)``
            = (user, item), no duplicates: the message-passing edges.
        num_users (int): The number of users.
        num_items (int): The number of items.
        num_neighbors (Sequence[int]): The fan-out of each hop (``-1``:
            every neighbour), as many hops as the encoder has layers.
        positives (torch.Tensor, optional): ``[2, P]`` interactions a
            negative must not be (default: :obj:`graph`).
        seed (int, optional): Seeds the random draws.
        device (torch.device or str, optional): Where the index and the
            draws live (default: the CPU, as loader workers need).
    """
    def __init__(
        self,
        graph: Tensor,
        num_users: int,
        num_items: int,
        num_neighbors: Sequence[int],
        positives: Optional[Tensor] = None,
        seed: Optional[int] = None,
        device=None,
    ):
        self.num_neighbors = [int(n) for n in num_neighbors]
        if any(n < -1 for n in self.num_neighbors):
            raise ValueError(f'num_neighbors must be -1 (every neighbour) or '
                             f'at least 0, got {self.num_neighbors}')
        self.init_random(seed, device)
        graph = graph.to(self.device)
        self.num_users, self.num_items = num_users, num_items
        self.user_items = UserItemIndex(graph, num_users, num_items)
        # Items as rows: its perm still maps positions to ids of `graph`.
        self.item_users = UserItemIndex(graph.flip(0), num_items, num_users)
        self.positives = (self.user_items if positives is None else
                          UserItemIndex(positives.to(self.device), num_users,
                                        num_items))
        # Reused per batch and reset after it: global -> local ids, and the
        # CSR positions of the batch's supervision edges.
        self._local = {
            USER: torch.full((num_users, ), -1, device=self.device),
            ITEM: torch.full((num_items, ), -1, device=self.device)}
        num_edges = graph.size(1)
        self._excluded = {
            USER: torch.zeros(num_edges, dtype=torch.bool,
                              device=self.device),
            ITEM: torch.zeros(num_edges, dtype=torch.bool,
                              device=self.device)}

    def sample_from_edges(
        self,
        index: EdgeSamplerInput,
        neg_sampling: Optional[NegativeSampling] = None,
    ) -> HeteroSamplerOutput:
        self.follow_worker()
        if neg_sampling is None or not neg_sampling.is_triplet() or \
                neg_sampling.amount != 1:
            raise ValueError(f"{self.__class__.__name__} supports "
                             f"neg_sampling='triplet' with one negative")
        out, src_index, dst_index = self._draw(index.row, index.col)
        num_pos = index.row.numel()
        out.metadata = (index.input_id, src_index, dst_index[:num_pos],
                        dst_index[num_pos:], index.time)
        return out

    def sample(self, user: Tensor, pos: Tensor) -> SubgraphBatch:
        r"""The batch of ``[B]`` supervision edges (:obj:`user`, :obj:`pos`)
        on :attr:`device`, drawn as :meth:`sample_from_edges` draws it (the
        same stream gives the same batch)."""
        user, pos = user.to(self.device), pos.to(self.device)
        out, src_index, dst_index = self._draw(user, pos)
        num_pos = user.numel()
        subgraph = HeteroData()
        for node_type in (USER, ITEM):
            subgraph[node_type].n_id = out.node[node_type]
            subgraph[node_type].num_nodes = out.node[node_type].numel()
            subgraph[node_type].num_sampled_nodes = out.num_sampled_nodes[
                node_type]
        for edge_type in (INTERACTS, REV_INTERACTS):
            subgraph[edge_type].edge_index = torch.stack(
                [out.row[edge_type], out.col[edge_type]])
            subgraph[edge_type].e_id = out.edge[edge_type]
            subgraph[edge_type].num_sampled_edges = out.num_sampled_edges[
                edge_type]
        subgraph[USER].src_index = src_index
        subgraph[ITEM].dst_pos_index = dst_index[:num_pos]
        subgraph[ITEM].dst_neg_index = dst_index[num_pos:]
        return SubgraphBatch.from_hetero(subgraph)

    def _draw(self, user: Tensor, pos: Tensor
              ) -> Tuple[HeteroSamplerOutput, Tensor, Tensor]:
        r"""``(out, src_index, dst_index)``: the negatives, then the hops,
        in this order from :attr:`generator`; ``dst_index`` ``[2B]`` points
        the positives, then the negatives, at their item nodes."""
        neg = sample_negatives(self.positives, user, self.generator)
        users, src_index = user.unique(return_inverse=True)
        items, dst_index = torch.cat([pos, neg]).unique(return_inverse=True)

        local, excluded = self._local, self._excluded
        # The batch's supervision edges that are message-passing edges:
        at = {USER: self.user_items.find(user, pos),
              ITEM: self.item_users.find(pos, user)}
        at = {key: value[value >= 0] for key, value in at.items()}
        for key, value in at.items():
            excluded[key][value] = True

        nodes = {USER: [users], ITEM: [items]}
        count = {USER: users.numel(), ITEM: items.numel()}
        local[USER][users] = torch.arange(count[USER], device=self.device)
        local[ITEM][items] = torch.arange(count[ITEM], device=self.device)
        row: Dict = {INTERACTS: [], REV_INTERACTS: []}
        col: Dict = {INTERACTS: [], REV_INTERACTS: []}
        edge: Dict = {INTERACTS: [], REV_INTERACTS: []}
        frontier = {USER: users, ITEM: items}
        # (sampling node type, its adjacency, neighbour type, edge type):
        hops = ((USER, self.user_items, ITEM, REV_INTERACTS),
                (ITEM, self.item_users, USER, INTERACTS))
        for num in self.num_neighbors:
            drawn = {}
            for node_type, index, other, edge_type in hops:
                owner, position = sample_neighbours(
                    index, frontier[node_type], num, excluded[node_type],
                    self.generator)
                drawn[edge_type] = (local[node_type][frontier[node_type][
                    owner]], index.col[position], index.perm[position])
            for node_type, _, other, edge_type in hops:
                target, neighbour, edge_id = drawn[edge_type]
                new = neighbour[local[other][neighbour] < 0].unique()
                local[other][new] = torch.arange(
                    count[other], count[other] + new.numel(),
                    device=self.device)
                count[other] += new.numel()
                nodes[other].append(new)
                frontier[other] = new
                row[edge_type].append(local[other][neighbour])
                col[edge_type].append(target)
                edge[edge_type].append(edge_id)

        node = {key: torch.cat(value) for key, value in nodes.items()}
        local[USER][node[USER]] = -1
        local[ITEM][node[ITEM]] = -1
        for key, value in at.items():
            excluded[key][value] = False

        def cat(parts: List[Tensor]) -> Tensor:
            return (torch.cat(parts) if parts else
                    torch.empty(0, dtype=torch.long, device=self.device))

        out = HeteroSamplerOutput(
            node=node,
            row={key: cat(value) for key, value in row.items()},
            col={key: cat(value) for key, value in col.items()},
            edge={key: cat(value) for key, value in edge.items()},
            batch=None,
            num_sampled_nodes={key: [v.numel() for v in value]
                               for key, value in nodes.items()},
            num_sampled_edges={key: [v.numel() for v in value]
                               for key, value in row.items()},
        )
        return out, src_index, dst_index
