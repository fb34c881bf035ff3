r"""The interface every recommender implements."""
import warnings
from itertools import chain
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from hlr_graph.data.batch import HISTORY_SAMPLING, TripletBatch
from hlr_graph.data.index import UserItemIndex
from hlr_graph.models.ranking import rank_items


class Recommender(torch.nn.Module):
    r"""A recommender over :obj:`num_users` users and :obj:`num_items` items.

    Models trained by gradient implement :meth:`loss` on triplet batches;
    models with a closed-form fit (most-popular, ALS) implement :meth:`fit`.
    All implement :meth:`score`, the exact score of every item, which
    :meth:`recommend` and the evaluator rank.

    Attributes:
        max_history (int): The history size :math:`L` the model reads at
            scoring time (``0``: it reads none).
        history_sampling (str): How that history is drawn (``'random'`` or
            ``'unpop'``).
        sparse_tables (Tuple[str, ...]): The :class:`~torch.nn.Embedding`
            submodules whose rows a training step reads only by looking up
            the batch's rows, so that their gradients can be sparse and
            their rows updated one by one (the trainer's ``'sparse_adam'``,
            :meth:`sparse_gradients_`). Empty (the default): the step reads
            whole tables, and every parameter needs dense updates.
        multiple_negatives (bool): Whether :meth:`loss` takes batches of
            :math:`K > 1` negatives per triplet (a ``[B, K]``
            :attr:`TripletBatch.neg`).
        sparse_gradients (bool): Whether the lookups of
            :attr:`sparse_tables` return sparse gradients now
            (:meth:`sparse_gradients_`).
    """
    max_history: int = 0
    history_sampling: str = 'random'
    multiple_negatives: bool = False
    sparse_tables: Tuple[str, ...] = ()
    sparse_gradients: bool = False

    def __init__(self, num_users: int, num_items: int):
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self._warned_no_history = False

    @property
    def device(self) -> torch.device:
        r"""Where the model's parameters and buffers live."""
        tensor = next(chain(self.parameters(), self.buffers()), None)
        return tensor.device if tensor is not None else torch.device('cpu')

    def read_history(self, max_history: int, sampling: str = 'random'):
        r"""Makes the model read histories of at most :obj:`max_history`
        items (``-1``: all of them) drawn by :obj:`sampling`."""
        if sampling not in HISTORY_SAMPLING:
            raise ValueError(f'history_sampling must be one of '
                             f"{HISTORY_SAMPLING}, got '{sampling}'")
        self.max_history, self.history_sampling = max_history, sampling

    def check_history(self, batch: TripletBatch):
        r"""Warns (once per model) when a model that reads histories
        (:attr:`max_history` ``!= 0``) gets a training batch without any
        history edge: built with ``max_history=0``, a loader silently turns
        HLR into CML. Pass the model's :attr:`max_history` to
        :class:`~hlr_graph.loader.TripletLoader`."""
        if (self.max_history != 0 and batch.history.size(1) == 0
                and not self._warned_no_history):
            self._warned_no_history = True
            warnings.warn(
                f'{self.__class__.__name__} reads histories of '
                f'max_history={self.max_history} items, but a training batch '
                f'holds no history edge, so the relations are left out '
                f'(it trains as CML); build the loader with '
                f'TripletLoader(..., max_history=model.max_history) (or the '
                f'batch only has users with a single item)',
                stacklevel=3)

    def loss(self, batch: TripletBatch) -> Tensor:
        r"""The training loss of a triplet batch, summed over triplets."""
        raise NotImplementedError(f'{self.__class__.__name__} is not trained '
                                  f'by gradient; call fit()')

    def fit(self, edge_index: Tensor):
        r"""Fits the model in closed form to ``[2, E]`` training
        interactions ``(source, target)`` = (user, item)."""
        raise NotImplementedError(f'{self.__class__.__name__} is trained by '
                                  f'gradient on triplets')

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        r"""``[U, num_items]`` scores of every item for ``[U]`` users, higher
        is better. :obj:`history` holds, for models with
        :attr:`max_history` ``!= 0``, ``[2, E]`` edges ``(source, target)``
        = (history item, row in :obj:`user`), sorted by row
        (:meth:`~hlr_graph.loader.HistorySampler.sample_rows`)."""
        raise NotImplementedError

    @classmethod
    def sparse_refusal(cls) -> Optional[str]:
        r"""Why the model cannot be trained with sparse updates, or
        :obj:`None` when it can (it names :attr:`sparse_tables`)."""
        if not cls.sparse_tables:
            return 'its training step reads whole embedding tables'
        return None

    def sparse_gradients_(self, enabled: bool = True) -> 'Recommender':
        r"""Makes the training step's lookups of :attr:`sparse_tables`
        return sparse gradients (``[T, d]`` rows of the ``[num_rows, d]``
        table as a sparse COO tensor) instead of dense ones, or dense ones
        again with :obj:`enabled` ``=False``. Scores and the forward pass
        do not change.

        Raises:
            ValueError: The model cannot be trained with sparse updates
                (:meth:`sparse_refusal`).
        """
        if enabled:
            reason = type(self).sparse_refusal()
            missing = [name for name in self.sparse_tables if not isinstance(
                getattr(self, name, None), torch.nn.Embedding)]
            if reason is None and missing:
                reason = f'it has no embedding table {missing[0]!r}'
            if reason is not None:
                raise ValueError(f'{type(self).__name__} cannot be trained '
                                 f"with sparse updates ('sparse_adam'): "
                                 f"{reason}; use 'adam'")
        for name in self.sparse_tables:
            if isinstance(getattr(self, name, None), torch.nn.Embedding):
                getattr(self, name).sparse = enabled
        self.sparse_gradients = enabled
        return self

    def sparse_parameters(self) -> Dict[str, torch.nn.Parameter]:
        r"""``{table name: weight}`` of :attr:`sparse_tables`."""
        return {name: getattr(self, name).weight
                for name in self.sparse_tables}

    def constrain_(self, rows: Optional[Dict[str, Tensor]] = None):
        r"""Projects parameters back onto their constraints after an
        optimiser step (no-op by default).

        Args:
            rows (Dict[str, torch.Tensor], optional): After a sparse
                update, the rows of each table of :attr:`sparse_tables`
                that the step changed, by table name: only they can have
                left their constraint, so only they are projected (default:
                :obj:`None`, every row of every table).
        """

    @torch.no_grad()
    def recommend(
        self,
        user: Tensor,
        k: int,
        exclude: Optional[Union[Tensor, UserItemIndex]] = None,
        history: Optional[Tensor] = None,
        explain: bool = False,
    ) -> Union[Tuple[Tensor, Tensor], Tuple[Tensor, Tensor, Any]]:
        r"""The top-:obj:`k` items of every user in one batched call.

        The model samples nothing: a model that reads histories
        (:attr:`max_history` ``!= 0``) is given them, drawn by
        :class:`~hlr_graph.loader.HistorySampler` (its
        :meth:`~hlr_graph.loader.HistorySampler.sample_rows`), as
        :func:`hlr_graph.evaluation.recommend` and the evaluator do.

        Args:
            user (torch.Tensor): ``[U]`` users.
            k (int): The list length.
            exclude (torch.Tensor or UserItemIndex, optional): ``[2, X]``
                edges ``(source, target)`` = (user, item) never recommended,
                such as the training ones, or their index (default:
                :obj:`None`, nothing left out).
            history (torch.Tensor, optional): ``[2, E]`` history edges
                ``(source, target)`` = (history item, row in :obj:`user`),
                sorted by row; required by models that read histories.
            explain (bool): Also return the model's :meth:`explain` of the
                recommendations, from the same histories.

        Returns:
            ``(items, scores)``, each ``[U, k]``, best first; ``-1`` / ``-inf``
            pad users with fewer than :obj:`k` candidates.

        Raises:
            ValueError: The model reads histories and :obj:`history` is
                missing.
        """
        if self.max_history != 0 and history is None:
            raise ValueError(
                f'{self.__class__.__name__} reads histories of '
                f'max_history={self.max_history} items: pass history= '
                f'(HistorySampler(...).sample_rows(user)), or call '
                f'hlr_graph.evaluation.recommend(model, user, k, edge_index)'
                f', which draws them')
        was_training = self.training
        self.eval()
        excluded = exclude
        if isinstance(exclude, Tensor):
            excluded = UserItemIndex(exclude.cpu(), self.num_users,
                                     self.num_items)
        out = rank_items(self.score, user, k, self.num_items, excluded,
                         history)
        if explain:
            out = (*out, self.explain(user, out[0], history))
        self.train(was_training)
        return out

    def explain(self, user: Tensor, item: Tensor, history: Optional[Tensor]):
        r"""Why ``[U, k]`` recommended items scored as they did, given the
        ``[2, E]`` history edges ``(source, target)`` = (history item, row in
        :obj:`user`) that scored them."""
        raise NotImplementedError(f'{self.__class__.__name__} has no '
                                  f'explanations')
