r"""The bipartite graph's (user, item) pairs in CSR form: neighbour lookups
and membership tests as tensor operations, on whatever device the edges
are."""
from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.utils import cumsum


def expand_ranges(start: Tensor, count: Tensor) -> Tuple[Tensor, Tensor]:
    r"""Every position of every range ``start[i] : start[i] + count[i]``:
    returns ``(owner, position)``, where ``owner`` is the range's index
    ``i`` (ascending) and ``position`` runs over its range."""
    owner = torch.repeat_interleave(
        torch.arange(count.numel(), device=count.device), count)
    first = cumsum(count)[:-1]
    position = (torch.arange(owner.numel(), device=count.device) -
                first[owner] + start[owner])
    return owner, position


def csr_gather(rowptr: Tensor, rows: Tensor) -> Tuple[Tensor, Tensor]:
    r"""Every CSR position of every requested row: returns ``(owner,
    position)``, where ``owner`` indexes :obj:`rows` (ascending) and
    ``position`` runs over ``rowptr[r]:rowptr[r + 1]`` for each row ``r``.
    """
    start = rowptr[rows]
    return expand_ranges(start, rowptr[rows + 1] - start)


def segment_search(values: Tensor, start: Tensor, end: Tensor,
                   query: Tensor, right: bool = False) -> Tensor:
    r"""``torch.searchsorted`` of each :obj:`query` within its own segment
    ``values[start:end]`` (sorted ascending): the first position ``p`` in
    ``[start, end)`` with ``values[p] >= query`` (``> query`` with
    :obj:`right`), or ``end`` where there is none.

    A binary search vectorised over queries, of
    :math:`\lceil \log_2 (1 + \max(\mathrm{end} - \mathrm{start}))
    \rceil` steps, each reading one value per query inside its segment: a
    lookup costs what its segment holds (a user's items), not what the
    whole array holds, and stays in the cache where a search over the
    whole array (a CSR index of :math:`10^8` edges) misses it at every
    step.

    Args:
        values (torch.Tensor): ``[V]`` values, sorted within each segment.
        start (torch.Tensor): ``[Q]`` first position of each segment.
        end (torch.Tensor): ``[Q]`` one past its last position.
        query (torch.Tensor): ``[Q]`` the values searched for.
        right (bool): Return the first position past equal values.
    """
    lo, hi = start.clone(), end.clone()
    width = int((end - start).max()) if start.numel() else 0
    for _ in range(width.bit_length()):
        open_ = lo < hi
        mid = (lo + hi) // 2
        value = values[mid.clamp(max=values.numel() - 1)]
        after = (value <= query) if right else (value < query)
        lo = torch.where(open_ & after, mid + 1, lo)
        hi = torch.where(open_ & ~after, mid, hi)
    return lo


class UserItemIndex:
    r"""The (user, item) pairs of a bipartite graph in CSR form, for neighbour
    lookups and membership tests, its tensors on the device of
    :obj:`edge_index`: :attr:`rowptr` (``[num_users + 1]``), :attr:`col`
    (every user's items, ascending) and :attr:`perm` (the edge id of each
    CSR position).

    Args:
        edge_index (torch.Tensor): ``[2, E]`` edges ``(source, target)`` =
            (user, item), no duplicates.
        num_users (int): The number of users.
        num_items (int): The number of items.
    """
    def __init__(self, edge_index: Tensor, num_users: int, num_items: int):
        self.num_users, self.num_items = num_users, num_items
        key = edge_index[0].long() * num_items + edge_index[1]
        self.perm = key.sort().indices
        del key
        self.col = edge_index[1][self.perm]
        self.rowptr = cumsum(torch.bincount(edge_index[0],
                                            minlength=num_users))

    @property
    def device(self) -> torch.device:
        return self.col.device

    def to(self, device) -> 'UserItemIndex':
        r"""This index with its tensors on :obj:`device`."""
        out = UserItemIndex.__new__(UserItemIndex)
        out.num_users, out.num_items = self.num_users, self.num_items
        for name in ('perm', 'col', 'rowptr'):
            setattr(out, name, getattr(self, name).to(device))
        return out

    def degree(self, user: Tensor) -> Tensor:
        return self.rowptr[user + 1] - self.rowptr[user]

    def find(self, user: Tensor, item: Tensor) -> Tensor:
        r"""The CSR position of each (user, item) pair, ``-1`` where the pair
        is not in the graph (a search within each user's items,
        :func:`segment_search`)."""
        start, end = self.rowptr[user], self.rowptr[user + 1]
        pos = segment_search(self.col, start, end, item)
        found = pos < end
        found[found.clone()] &= self.col[pos[found]] == item[found]
        return torch.where(found, pos, -1)

    def contains(self, user: Tensor, item: Tensor) -> Tensor:
        return self.find(user, item) >= 0

    def membership(self, user: Tensor, item: Tensor) -> Tensor:
        r"""``[U, I]`` :obj:`torch.bool`: whether each of the ``[I]`` items
        (repeats allowed) is one of each of the ``[U]`` users' items.
        Searches every item of the users among the sorted :obj:`item`
        (:math:`O(\sum_u \deg(u) \log I)`), instead of testing all
        :math:`U I` pairs."""
        sorted_item, order = item.sort()
        owner, position = csr_gather(self.rowptr, user)
        col = self.col[position]
        lo = torch.searchsorted(sorted_item, col)
        hit, slot = expand_ranges(
            lo, torch.searchsorted(sorted_item, col, right=True) - lo)
        out = torch.zeros(user.numel(), item.numel(), dtype=torch.bool,
                          device=item.device)
        out[owner[hit], order[slot]] = True
        return out
