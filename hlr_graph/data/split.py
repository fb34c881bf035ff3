r"""Train / validation / test splits of interactions, seeded.

Every function returns a fold code per row (:obj:`TRAIN`, :obj:`VALID`,
:obj:`TEST`).
"""
import math

import numpy as np

from hlr_graph.data.interactions import TEST, TRAIN, VALID, Interactions

SPLITS = ('reference', 'per_user', 'given')


def reference_split(data: Interactions, seed: int, test_fraction: float = 0.2,
                    val_fraction: float = 0.1) -> np.ndarray:
    r"""The authors' split: a global, uniformly random split of the rows,
    :obj:`test_fraction` to test, then :obj:`val_fraction` of the rest to
    validation (72 / 8 / 20 with the defaults). Sizes are rounded up, as
    scikit-learn's ``train_test_split`` rounds them."""
    perm = np.random.default_rng(seed).permutation(len(data))
    num_test = math.ceil(test_fraction * len(data))
    num_val = math.ceil(val_fraction * (len(data) - num_test))
    fold = np.full(len(data), TRAIN, dtype=np.int8)
    fold[perm[:num_test]] = TEST
    fold[perm[num_test:num_test + num_val]] = VALID
    return fold


def per_user_split(data: Interactions, seed: int, test_fraction: float = 0.1,
                   val_fraction: float = 0.1) -> np.ndarray:
    r"""Splits each user's interactions at random: :obj:`test_fraction` of
    them to test and :obj:`val_fraction` to validation, each rounded half up
    per user (80 / 10 / 10 with the defaults, the protocol of Sun et al.
    (2020) that the paper cites)."""
    return _carve_per_user(data.user, np.full(len(data), TRAIN, np.int8),
                           seed, [(TEST, test_fraction),
                                  (VALID, val_fraction)])


def given_split(data: Interactions, seed: int,
                val_fraction: float = 0.1) -> np.ndarray:
    r"""Keeps the source's own train / test folds and carves
    :obj:`val_fraction` of each user's training rows (rounded half up) into
    validation."""
    if data.fold is None:
        raise ValueError("split 'given' needs a source with its own train "
                         "and test files")
    fold = data.fold.astype(np.int8).copy()
    train = np.flatnonzero(fold == TRAIN)
    fold[train] = _carve_per_user(data.user[train], fold[train], seed,
                                  [(VALID, val_fraction)])
    return fold


def _carve_per_user(user: np.ndarray, fold: np.ndarray, seed: int,
                    parts) -> np.ndarray:
    r"""Gives each of :obj:`parts` (``(fold, fraction)``) the first
    ``round(fraction * n_u)`` of every user's rows in a random order.

    Vectorised: one :func:`numpy.lexsort` of the rows by (user, random
    number), then each row's rank within its user compared with its user's
    bounds, in sorted order."""
    noise = np.random.default_rng(seed).random(len(user))
    order = np.lexsort((noise, user))
    del noise
    count = np.bincount(user, minlength=int(user.max()) + 1 if len(user) else 0)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    user = user[order]  # Sorted by user from here on.
    rank = np.arange(len(user)) - start[user]
    out = fold.copy()
    low = np.zeros_like(count)
    for code, fraction in parts:
        high = low + np.floor(count * fraction + 0.5).astype(np.int64)
        out[order[(rank >= low[user]) & (rank < high[user])]] = code
        low = high
    return out
