r"""Sampling of user histories and of negative items on the bipartite graph."""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import cumsum

from hlr_graph.data.batch import HISTORY_SAMPLING
from hlr_graph.data.index import UserItemIndex, csr_gather, segment_search


def sample_negatives(positives: UserItemIndex, user: Tensor,
                     generator: Optional[torch.Generator] = None,
                     max_rounds: int = 1000) -> Tensor:
    r"""One item per user drawn uniformly from all items and drawn again while
    it is one of the user's :obj:`positives` (the paper's triplet sampling,
    section 4.3.2), on the device of :obj:`user` (that of
    :obj:`positives` and :obj:`generator`)."""
    neg = torch.randint(positives.num_items, user.shape, generator=generator,
                        device=user.device)
    bad = torch.arange(user.numel(), device=user.device)
    for _ in range(max_rounds):
        bad = bad[positives.contains(user[bad], neg[bad])]
        if bad.numel() == 0:
            return neg
        neg[bad] = torch.randint(positives.num_items, bad.shape,
                                 generator=generator, device=user.device)
    full = user[bad[positives.degree(user[bad]) >= positives.num_items]]
    raise RuntimeError(f'could not draw a negative item for users '
                       f'{full.unique().tolist()[:10]}: they interacted with '
                       f'every item')


class HistorySampler:
    r"""Draws at most :obj:`max_history` items from each query user's
    neighbourhood, never the query's own target item (the user history
    :math:`\mathcal{N}_u` of eq. 5, as the authors' code samples it,
    ``huitre/data/generators/generator.py`` in
    https://github.com/deezer/recsys21-hlr).

    Users with at most :obj:`max_history` candidates keep all of them.
    Larger neighbourhoods are subsampled afresh at each call, either
    uniformly without replacement (``'random'``) or with replacement and
    probability proportional to ``1 / popularity`` (``'unpop'``), where the
    popularity of an item is its number of users in :obj:`graph`.

    Every draw is a tensor operation on the device of :obj:`graph`'s
    tensors (:meth:`UserItemIndex.to`), so a sampler on the model's GPU
    does no per-batch work on the host.

    Args:
        graph (UserItemIndex): The interactions histories are drawn from.
        max_history (int): The largest history :math:`L`; ``0`` draws none,
            a negative value keeps every neighbour.
        sampling (str): ``'random'`` or ``'unpop'``.
    """
    def __init__(self, graph: UserItemIndex, max_history: int,
                 sampling: str = 'random'):
        if sampling not in HISTORY_SAMPLING:
            raise ValueError(f'history sampling must be one of '
                             f"{HISTORY_SAMPLING}, got '{sampling}'")
        self.graph, self.max_history, self.sampling = graph, max_history, \
            sampling
        if sampling == 'unpop':
            popularity = torch.bincount(graph.col, minlength=graph.num_items)
            weight = 1.0 / popularity[graph.col].double()
            self.cum_weight = cumsum(weight)

    def __call__(self, user: Tensor, target: Optional[Tensor] = None,
                 generator: Optional[torch.Generator] = None
                 ) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Samples the histories of ``[Q]`` queries.

        Args:
            user (torch.Tensor): ``[Q]`` query users.
            target (torch.Tensor, optional): ``[Q]`` target items left out of
                their own query's history.
            generator (torch.Generator, optional): The random source.

        Returns:
            ``(query, item, position)``, each ``[E]``: the query index, the
            history item, and its CSR position in the graph (its edge id
            after :attr:`UserItemIndex.perm`), sorted by query.
        """
        graph = self.graph
        start = graph.rowptr[user]
        degree = graph.rowptr[user + 1] - start
        skip = torch.full_like(user, -1)  # Target offset in the row.
        if target is not None:
            pos = graph.find(user, target)
            skip = torch.where(pos >= 0, pos - start, -1)
        count = degree - (skip >= 0).long()
        limit = count if self.max_history < 0 else count.clamp(
            max=self.max_history)

        big = count > limit
        ptr = cumsum(limit)
        query, slot = csr_gather(ptr, torch.arange(user.numel(),
                                                   device=user.device))
        rank = slot - ptr[query]  # Rank of each slot in its query.
        offset = torch.empty(rank.numel(), dtype=torch.long,
                             device=user.device)

        small = ~big[query]  # Take every candidate.
        offset[small] = rank[small]
        if big.any():
            rows = big.nonzero().view(-1)
            drawn = (self._unpop(start[rows], degree[rows], skip[rows],
                                 generator) if self.sampling == 'unpop' else
                     _floyd(count[rows], self.max_history, generator))
            offset[~small] = drawn.view(-1)
        # Offsets count candidates; step over the left-out target:
        offset += (skip[query] >= 0) & (offset >= skip[query])
        position = start[query] + offset
        return query, graph.col[position], position

    def sample_rows(self, user: Tensor,
                    generator: Optional[torch.Generator] = None) -> Tensor:
        r"""``[2, E]`` history edges ``(source, target)`` = (history item,
        row in :obj:`user`) of ``[U]`` users, sorted by row: the histories
        models read at scoring time
        (:meth:`~hlr_graph.models.Recommender.score`), drawn once for all
        users."""
        query, item, _ = self(user, generator=generator)
        return torch.stack([item, query])

    def _unpop(self, start: Tensor, degree: Tensor, skip: Tensor,
               generator: Optional[torch.Generator]) -> Tensor:
        r"""``[R, L]`` candidate offsets (row offsets that leave out
        :obj:`skip`) drawn with replacement, with probability
        ``~ 1 / popularity``."""
        cum = self.cum_weight
        low = cum[start].unsqueeze(1)
        total = cum[start + degree].unsqueeze(1) - low
        skip = skip.unsqueeze(1)
        at = start.unsqueeze(1) + skip.clamp(min=0)
        skip_low = cum[at] - low
        skip_weight = torch.where(skip >= 0, cum[at + 1] - cum[at], 0.0)
        draw = torch.rand((start.numel(), self.max_history),
                          generator=generator, dtype=torch.float64,
                          device=start.device)
        draw = draw * (total - skip_weight)
        draw = draw + torch.where(draw >= skip_low, skip_weight, 0.0)
        # The last cumulative weight at or below each draw, searched
        # within the user's own row of weights:
        first = start.unsqueeze(1).expand_as(draw)
        position = segment_search(cum, first, first + degree.unsqueeze(1) + 1,
                                  low + draw, right=True) - 1
        offset = torch.minimum(position - start.unsqueeze(1),
                               degree.unsqueeze(1) - 1)
        # Rounding can land on the left-out offset itself: keep the one
        # before it (its left neighbour is a candidate, or offset 0 is).
        offset = offset - ((skip >= 0) & (offset >= skip)).long()
        return offset.clamp(min=0)


def _floyd(count: Tensor, size: int,
           generator: Optional[torch.Generator]) -> Tensor:
    r"""``[R, size]`` distinct offsets drawn uniformly from
    ``range(count[r])`` for every row (R. Floyd's algorithm, vectorised over
    rows; expects ``count > size``)."""
    out = torch.empty((count.numel(), size), dtype=torch.long,
                      device=count.device)
    for k in range(size):
        top = count - size + k  # Draw from range(top + 1).
        draw = (torch.rand(count.shape, generator=generator,
                           dtype=torch.float64, device=count.device)
                * (top + 1)).long().clamp(max=top)
        seen = (out[:, :k] == draw.unsqueeze(1)).any(dim=1)
        out[:, k] = torch.where(seen, top, draw)
    return out
