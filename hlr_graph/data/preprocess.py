r"""The paper's preprocessing (section 4.1): binarise, drop duplicate pairs,
keep a recursive k-core, re-index contiguously."""
from dataclasses import replace
from typing import Optional, Tuple

import numpy as np

from hlr_graph.data.interactions import Interactions, code_dtype


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
    training pair. Returns the rows kept and how many were dropped.

    One stable sort of the ``int64`` pair keys (``O(n log n)``, about
    ``24 n`` bytes at its peak); rows sorted by user, then item, already
    (such as a generator's) are recognised in one pass and returned as
    they are."""
    if data.fold is None and sorted_pairs(data.user, data.item, strict=True):
        return data, 0
    key = pair_keys(data)
    order = (np.argsort(key, kind='stable') if data.fold is None else
             np.lexsort((data.fold, key)))
    key = key[order]
    first = np.empty(len(key), dtype=bool)
    first[:1] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    del key
    if first.all():
        return data, 0
    keep = np.sort(order[first])
    return data.select(keep), len(data) - len(keep)


def k_core(data: Interactions, k: int) -> Interactions:
    r"""The recursive :obj:`k`-core of the bipartite user-item graph: drops
    users and items with fewer than :obj:`k` interactions until none is left
    (Sun et al., 2020). Expects duplicate pairs to be dropped already, so that
    a degree counts distinct neighbours.

    Each round is two :func:`numpy.bincount` and two boolean gathers over the
    rows kept; :obj:`data` itself comes back when no row is dropped."""
    keep = None
    while k > 1:
        user = data.user if keep is None else data.user[keep]
        user_deg = np.bincount(user, minlength=data.num_users)
        del user
        item = data.item if keep is None else data.item[keep]
        item_deg = np.bincount(item, minlength=data.num_items)
        del item
        low_user = user_deg < k
        low_item = item_deg < k
        if not ((low_user & (user_deg > 0)).any()
                or (low_item & (item_deg > 0)).any()):
            break
        drop = low_user[data.user]
        drop |= low_item[data.item]
        if keep is None:
            keep = ~drop
        else:
            keep &= ~drop
    return data if keep is None else data.select(keep)


def reindex(data: Interactions) -> Interactions:
    r"""Renumbers users and items ``0, 1, ...`` in the order of their codes,
    dropping ids that no row uses. Codes are ``int32`` where they fit."""
    user, user_ids = _renumber(data.user, data.user_ids)
    item, item_ids = _renumber(data.item, data.item_ids)
    return replace(data, user=user, item=item, user_ids=user_ids,
                   item_ids=item_ids)


def _renumber(codes: np.ndarray, ids: np.ndarray
              ) -> Tuple[np.ndarray, np.ndarray]:
    used = np.bincount(codes, minlength=len(ids)) > 0
    dtype = code_dtype(int(used.sum()))
    if used.all():
        return codes.astype(dtype, copy=False), ids
    new = (np.cumsum(used) - 1).astype(dtype)
    return new[codes], ids[used]


def pair_keys(data: Interactions) -> np.ndarray:
    r"""``[n]`` ``int64`` keys ``user * num_items + item`` of the rows."""
    key = data.user.astype(np.int64)
    key *= data.num_items
    key += data.item
    return key


def sorted_pairs(user: np.ndarray, item: np.ndarray, strict: bool = False,
                 chunk: int = 1 << 22) -> bool:
    r"""Whether the rows are sorted by user, then item (and, with
    :obj:`strict`, hold no pair twice), checked in chunks of :obj:`chunk`
    rows so that the temporaries stay small."""
    n = len(user)
    for lo in range(0, max(n - 1, 0), chunk):
        hi = min(lo + chunk, n - 1)
        u0, u1 = user[lo:hi], user[lo + 1:hi + 1]
        i0, i1 = item[lo:hi], item[lo + 1:hi + 1]
        same = u0 == u1
        if (u0 > u1).any() or (same & ((i0 >= i1) if strict else
                                       (i0 > i1))).any():
            return False
    return True
