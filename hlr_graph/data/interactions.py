"""The table every reader produces: one row per observed (user, item) event."""
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

TRAIN, VALID, TEST = 0, 1, 2
"""Fold codes of :attr:`Interactions.fold`."""


class DataFormatError(ValueError):
    r"""A raw file does not follow its format. The message names the file and,
    where one is to blame, the line."""
    def __init__(self, path: str, message: str, line: Optional[int] = None):
        where = f'{path}:{line}' if line is not None else str(path)
        super().__init__(f'{where}: {message}')
        self.path, self.line = str(path), line


@dataclass
class Interactions:
    r"""Raw interactions with their original ids.

    Attributes:
        user (np.ndarray): ``[n]`` integer codes into :obj:`user_ids`
            (``int32`` where they fit, else ``int64``).
        item (np.ndarray): ``[n]`` integer codes into :obj:`item_ids`.
        user_ids (np.ndarray): ``[num_users]`` original user ids (str).
        item_ids (np.ndarray): ``[num_items]`` original item ids (str).
        rating (np.ndarray, optional): ``[n]`` float64 ratings or play counts,
            :obj:`None` for sources that are implicit already.
        fold (np.ndarray, optional): ``[n]`` int8 fold codes
            (:obj:`TRAIN`, :obj:`VALID`, :obj:`TEST`) for sources that ship
            their own split.
    """
    user: np.ndarray
    item: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    rating: Optional[np.ndarray] = None
    fold: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.user)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def select(self, mask: np.ndarray) -> 'Interactions':
        r"""The rows where :obj:`mask` holds (a boolean or index array); the id
        tables are kept whole."""
        return replace(
            self,
            user=self.user[mask],
            item=self.item[mask],
            rating=None if self.rating is None else self.rating[mask],
            fold=None if self.fold is None else self.fold[mask],
        )

    def counts(self) -> dict:
        r"""Distinct users and items that occur in a row, and the row count
        (by :func:`numpy.bincount`, ``O(n)``)."""
        return {
            'users': int(np.count_nonzero(
                np.bincount(self.user, minlength=self.num_users))),
            'items': int(np.count_nonzero(
                np.bincount(self.item, minlength=self.num_items))),
            'interactions': len(self),
        }


def code_dtype(size: int) -> np.dtype:
    r"""``int32`` when codes ``0 .. size - 1`` fit in it, else ``int64``."""
    return np.dtype(np.int32 if size <= np.iinfo(np.int32).max else np.int64)
