r"""The paper's preprocessing (section 4.1): binarise, drop duplicate pairs,
keep a recursive k-core, re-index contiguously."""
from dataclasses import replace
from typing import Optional, Tuple

import numpy as np

from hlr_graph.data.interactions import Interactions


def binarize(data: Interactions, threshold: Optional[float]) -> Interactions:
    r"""Keeps the rows whose rating (or play count) is at least
    :obj:`threshold` and drops the ratings. Implicit sources (no rating) and
    :obj:`threshold=None` keep every row."""
    if data.rating is None or threshold is None:
        return replace(data, rating=None)
    return replace(data.select(data.rating >= threshold), rating=None)


def drop_duplicates(data: Interactions) -> Tuple[Interactions, int]:
    r"""Keeps the first row of every (user, item) pair; rows are ordered by
    fold first, so that a pair in both a given train and test file stays a
    training pair. Returns the rows kept and how many were dropped."""
    order = (np.argsort(data.fold, kind='stable') if data.fold is not None
             else np.arange(len(data)))
    key = data.user[order] * data.num_items + data.item[order]
    _, first = np.unique(key, return_index=True)
    keep = np.sort(order[first])
    return data.select(keep), len(data) - len(keep)


def k_core(data: Interactions, k: int) -> Interactions:
    r"""The recursive :obj:`k`-core of the bipartite user-item graph: drops
    users and items with fewer than :obj:`k` interactions until none is left
    (Sun et al., 2020). Expects duplicate pairs to be dropped already, so that
    a degree counts distinct neighbours."""
    keep = np.ones(len(data), dtype=bool)
    while k > 1:
        user_deg = np.bincount(data.user[keep], minlength=data.num_users)
        item_deg = np.bincount(data.item[keep], minlength=data.num_items)
        drop = keep & ((user_deg[data.user] < k) | (item_deg[data.item] < k))
        if not drop.any():
            break
        keep &= ~drop
    return data.select(keep)


def reindex(data: Interactions) -> Interactions:
    r"""Renumbers users and items ``0, 1, ...`` in the order of their codes,
    dropping ids that no row uses."""
    users, user = np.unique(data.user, return_inverse=True)
    items, item = np.unique(data.item, return_inverse=True)
    return replace(data, user=user.astype(np.int64),
                   item=item.astype(np.int64), user_ids=data.user_ids[users],
                   item_ids=data.item_ids[items])
