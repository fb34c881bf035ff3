r"""The bipartite graph's (user, item) pairs in CSR form: neighbour lookups
and membership tests as tensor operations, on whatever device the edges
are."""
from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.utils import cumsum


def csr_gather(rowptr: Tensor, rows: Tensor) -> Tuple[Tensor, Tensor]:
    r"""Every CSR position of every requested row: returns ``(owner,
    position)``, where ``owner`` indexes :obj:`rows` (ascending) and
    ``position`` runs over ``rowptr[r]:rowptr[r + 1]`` for each row ``r``.
    """
    start = rowptr[rows]
    count = rowptr[rows + 1] - start
    owner = torch.repeat_interleave(torch.arange(rows.numel(),
                                                 device=rows.device), count)
    first = cumsum(count)[:-1]
    position = (torch.arange(owner.numel(), device=rows.device) -
                first[owner] + start[owner])
    return owner, position


class UserItemIndex:
    r"""The (user, item) pairs of a bipartite graph in CSR form, for neighbour
    lookups and membership tests, its tensors on the device of
    :obj:`edge_index`.

    Args:
        edge_index (torch.Tensor): ``[2, E]`` edges ``(source, target)`` =
            (user, item), no duplicates.
        num_users (int): The number of users.
        num_items (int): The number of items.
    """
    def __init__(self, edge_index: Tensor, num_users: int, num_items: int):
        self.num_users, self.num_items = num_users, num_items
        key = edge_index[0] * num_items + edge_index[1]
        self.key, self.perm = key.sort()
        self.col = edge_index[1][self.perm]
        self.rowptr = cumsum(torch.bincount(edge_index[0],
                                            minlength=num_users))

    @property
    def device(self) -> torch.device:
        return self.key.device

    def to(self, device) -> 'UserItemIndex':
        r"""This index with its tensors on :obj:`device`."""
        out = UserItemIndex.__new__(UserItemIndex)
        out.num_users, out.num_items = self.num_users, self.num_items
        for name in ('key', 'perm', 'col', 'rowptr'):
            setattr(out, name, getattr(self, name).to(device))
        return out

    def degree(self, user: Tensor) -> Tensor:
        return self.rowptr[user + 1] - self.rowptr[user]

    def find(self, user: Tensor, item: Tensor) -> Tensor:
        r"""The CSR position of each (user, item) pair, ``-1`` where the pair
        is not in the graph."""
        key = user * self.num_items + item
        pos = torch.searchsorted(self.key, key)
        found = pos < self.key.numel()
        found[found.clone()] &= self.key[pos[found]] == key[found]
        return torch.where(found, pos, -1)

    def contains(self, user: Tensor, item: Tensor) -> Tensor:
        return self.find(user, item) >= 0
