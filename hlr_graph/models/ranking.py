r"""Full ranking: score every item for a set of users in bounded memory,
leave out known items, keep the top :math:`k` with deterministic ties."""
from typing import Callable, Optional, Tuple, Union

import torch
from torch import Tensor

from hlr_graph.data.index import UserItemIndex, csr_gather
from hlr_graph.progress import Progress

MAX_SCORES = 2**24
r"""Scores held at once by :func:`rank_items` (64 MB of float32)."""


def top_k(scores: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    r"""The :obj:`k` best columns of every row of ``[U, I]`` :obj:`scores`,
    best first; equal scores are ordered by column index, so that the result
    depends on the scores alone. Returns ``(values, indices)``, each
    ``[U, k]``."""
    k = min(k, scores.size(1))
    values, index = scores.topk(k, dim=1)
    # Rows where the k-th value is shared with a column outside the top k
    # need the lowest-index tied columns instead:
    kth = values[:, -1:]
    tied = (scores == kth).sum(dim=1) > (values == kth).sum(dim=1)
    if tied.any():
        rows = tied.nonzero().view(-1)
        sub = scores[rows]
        above = sub > kth[rows]
        equal = sub == kth[rows]
        room = k - above.sum(dim=1, keepdim=True)
        take = above | (equal & (equal.cumsum(dim=1) <= room))
        index[rows] = take.nonzero()[:, 1].view(-1, k)
    index = index.sort(dim=1).values  # By column, then stable by score:
    values = scores.gather(1, index)
    order = values.argsort(dim=1, descending=True, stable=True)
    return values.gather(1, order), index.gather(1, order)


def rank_items(
    score: Callable[[Tensor, Optional[Tensor]], Tensor],
    user: Tensor,
    k: int,
    num_items: int,
    exclude: Optional[UserItemIndex] = None,
    history: Optional[Tensor] = None,
    max_scores: int = MAX_SCORES,
    progress: Optional[Union[Progress, Callable[[int], None]]] = None,
) -> Tuple[Tensor, Tensor]:
    r"""The top-:obj:`k` items of every user.

    Args:
        score (callable): ``score(user [U], history [2, E] or None)`` returns
            ``[U, num_items]`` scores, higher is better
            (:meth:`Recommender.score`); the history edges it gets are
            ``(source, target)`` = (history item, row in its ``user``).
        user (torch.Tensor): ``[U]`` users, on the scoring device.
        k (int): The list length.
        num_items (int): The number of items.
        exclude (UserItemIndex, optional): Pairs never recommended.
        history (torch.Tensor, optional): ``[2, E]`` history edges
            ``(source, target)`` = (history item, row in :obj:`user`), sorted
            by row, for models that read histories
            (:meth:`HistorySampler.sample_rows`).
        max_scores (int): Users are scored in chunks of about this many
            scores.
        progress (Progress or callable, optional): Told the number of users
            ranked after every chunk: a
            :class:`~hlr_graph.progress.Progress` (its :meth:`update`) or a
            function of that number.

    Returns:
        ``(items, scores)``, each ``[U, k]``, best first; rows with fewer
        than :obj:`k` candidates end in item ``-1`` with score ``-inf``.
    """
    chunk = max(1, max_scores // max(num_items, 1))
    cpu_user = user.cpu()
    if history is not None:
        bounds = torch.searchsorted(
            history[1].cpu(),
            torch.arange(0, user.numel() + chunk, chunk)).tolist()
    items, values = [], []
    for i, start in enumerate(range(0, user.numel(), chunk)):
        users = user[start:start + chunk]
        sampled = None
        if history is not None:
            part = history[:, bounds[i]:bounds[i + 1]]
            sampled = torch.stack([part[0], part[1] - start]).to(users.device)
        scores = score(users, sampled)
        if scores.isnan().any():
            raise FloatingPointError('the model scored an item as NaN')
        if exclude is not None:
            row, col = _neighbours(exclude, cpu_user[start:start + chunk])
            scores[row.to(scores.device), col.to(scores.device)] = -torch.inf
        value, index = top_k(scores, k)
        index[value == -torch.inf] = -1
        items.append(index)
        values.append(value)
        if progress is not None:
            update = getattr(progress, 'update', progress)
            update(users.numel())
    return torch.cat(items), torch.cat(values)


def _neighbours(index: UserItemIndex, user: Tensor) -> Tuple[Tensor, Tensor]:
    r"""``(row, item)`` for every item of every user, ``row`` indexing
    :obj:`user`."""
    row, position = csr_gather(index.rowptr, user)
    return row, index.col[position]
