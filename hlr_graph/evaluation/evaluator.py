r"""Full-ranking evaluation of a recommender on held-out interactions."""
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from hlr_graph import distributed as dist
from hlr_graph.data.graph import (
    ITEM,
    USER,
    item_popularity,
    known_edges,
    split_edges,
)
from hlr_graph.data.index import UserItemIndex
from hlr_graph.evaluation.metrics import ranking_metrics
from hlr_graph.loader.history import HistorySampler
from hlr_graph.models.base import Recommender
from hlr_graph.models.ranking import MAX_SCORES, rank_items
from hlr_graph.progress import Progress


def make_cohorts(users: Tensor, num_cohorts: int = 5, size: int = 10_000,
                 seed: int = 2021) -> List[Tensor]:
    r""":obj:`num_cohorts` disjoint cohorts of :obj:`size` users drawn at
    random (the authors' protocol, ``huitre/models/recommender.py`` in
    https://github.com/deezer/recsys21-hlr); smaller when there are fewer than
    ``num_cohorts * size`` users, each then holding
    ``len(users) // num_cohorts``."""
    size = min(size, users.numel() // num_cohorts)
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(
        users.numel()))
    return [users[perm[i * size:(i + 1) * size]].sort().values
            for i in range(num_cohorts)]


class Evaluator:
    r"""Ranks every item for every user with a held-out interaction in
    :obj:`split`, leaving out the items the model knew (training ones, plus
    validation ones at test time), and measures the lists.

    Users' histories (for models that read them) are the same known
    interactions, drawn once per evaluation from a generator seeded with
    :obj:`seed`, so results are reproducible and do not depend on how users
    are chunked.

    Args:
        data (HeteroData): The graph (:mod:`hlr_graph.data.graph` layout).
        split (str): ``'val'`` or ``'test'``.
        ks (Sequence[int]): The list cut-offs. (default: ``(10, 20)``)
        metric_mode (str): ``'standard'`` or ``'reference'`` MAP / MRR.
        num_cohorts (int): Disjoint cohorts of test users measured apart,
            reported as mean and (population) standard deviation;
            ``0`` measures all users only. (default: ``5``)
        cohort_size (int): Users per cohort. (default: ``10000``)
        seed (int): Seeds cohorts and histories. (default: ``2021``)
        max_users (int, optional): Evaluate a random subset of this many
            users only (for quick checks; reported in the results).
        max_scores (int): Scores held in memory at once.
        distributed (bool): Rank in the processes of the initialised
            :mod:`torch.distributed` group: each ranks its contiguous share
            of :attr:`users` (:func:`~hlr_graph.distributed.share`) and
            every process gets all the lists (gathered), the same lists as
            one process ranking them all. (default: :obj:`False`)
    """
    def __init__(
        self,
        data: HeteroData,
        split: str = 'test',
        ks: Sequence[int] = (10, 20),
        metric_mode: str = 'standard',
        num_cohorts: int = 5,
        cohort_size: int = 10_000,
        seed: int = 2021,
        max_users: Optional[int] = None,
        max_scores: int = MAX_SCORES,
        distributed: bool = False,
    ):
        self.split, self.ks, self.metric_mode = split, tuple(ks), metric_mode
        self.num_items = data[ITEM].num_nodes
        num_users = data[USER].num_nodes
        self.targets = split_edges(data, split)
        self.known = UserItemIndex(known_edges(data, split), num_users,
                                   self.num_items)
        self.popularity = item_popularity(data)
        users = self.targets[0].unique()
        if max_users is not None and max_users < users.numel():
            users = make_cohorts(users, 1, max_users, seed)[0]
        self.users = users
        self.cohorts = (make_cohorts(users, num_cohorts, cohort_size, seed)
                        if num_cohorts > 0 else [])
        self.seed, self.max_scores = seed, max_scores
        self.distributed = distributed

    @torch.no_grad()
    def rank(self, model: Recommender, k: Optional[int] = None,
             progress: bool = False) -> Tuple[Tensor, Tensor]:
        r"""``(items, scores)``, each ``[len(users), k]``, of
        :attr:`users` (default :obj:`k`: the largest cut-off).

        Models that read histories get ``[2, E]`` history edges ``(source,
        target)`` = (history item, row in :attr:`users`) of the known
        interactions (:meth:`~hlr_graph.loader.HistorySampler.sample_rows`).

        With :obj:`distributed`, this process ranks its share of the users
        (with the histories drawn for all of them, so the lists do not
        depend on the number of processes) and gathers the others'.

        Args:
            model (Recommender): The model.
            k (int, optional): The list length.
            progress (bool): Show the users ranked out of the total
                (:class:`~hlr_graph.progress.Progress`, unit ``'users'``).
                (default: :obj:`False`)
        """
        model.eval()
        history = None
        if model.max_history != 0:  # Drawn once, whatever the chunking.
            generator = torch.Generator().manual_seed(self.seed)
            history = HistorySampler(
                self.known, model.max_history,
                model.history_sampling).sample_rows(self.users, generator)
        users, counts = self.users, None
        if self.distributed:
            size = dist.world_size()
            bounds = [dist.share(users.numel(), r, size) for r in range(size)]
            counts = [end - start for start, end in bounds]
            start, end = bounds[dist.rank()]
            users = users[start:end]
            if history is not None:  # Rows of this share, renumbered.
                keep = (history[1] >= start) & (history[1] < end)
                history = torch.stack([history[0, keep],
                                       history[1, keep] - start])
            progress = progress and dist.is_main()
        k = k or max(self.ks)
        if users.numel() == 0:  # More processes than users.
            items = torch.empty((0, k), dtype=torch.long)
            scores = torch.empty((0, k))
        else:
            with Progress(users.numel(), f'ranking ({self.split})', 'users',
                          enabled=progress) as bar:
                items, scores = rank_items(
                    model.score, users.to(model.device), k, self.num_items,
                    self.known, history, self.max_scores,
                    progress=bar if progress else None)
        if counts is not None:
            items = dist.all_gather_rows(items, counts)
            scores = dist.all_gather_rows(scores, counts)
        return items.cpu(), scores.cpu()

    def measure(self, items: Tensor, users: Optional[Tensor] = None
                ) -> Dict[str, float]:
        r"""Metrics of ranked lists ``[len(self.users), K]`` over
        :obj:`users` (default: all of :attr:`users`)."""
        rows = torch.arange(self.users.numel())
        if users is not None:
            rows = torch.searchsorted(self.users, users)
        row_of_user = torch.full((int(self.users.max()) + 1, ), -1)
        row_of_user[self.users[rows]] = torch.arange(rows.numel())
        user, item = self.targets
        keep = user <= self.users.max()
        user, item = user[keep], item[keep]
        row = row_of_user[user]
        targets = torch.stack([row[row >= 0], item[row >= 0]])
        return ranking_metrics(items[rows], targets, self.ks,
                               self.popularity, self.metric_mode)

    def report(self, items: Tensor) -> Dict:
        r"""Measures ranked lists ``[len(users), K]`` of :attr:`users`:
        ``{'metrics': {name: value}, 'cohorts': {name: {'mean', 'std'}},
        'num_users', 'cohort_size'}``."""
        out = {'num_users': self.users.numel(),
               'metrics': self.measure(items)}
        if self.cohorts:
            per_cohort = [self.measure(items, c) for c in self.cohorts]
            out['cohorts'] = {
                name: {'mean': float(np.mean([m[name] for m in per_cohort])),
                       'std': float(np.std([m[name] for m in per_cohort]))}
                for name in per_cohort[0]
            }
            out['cohort_size'] = self.cohorts[0].numel()
        return out

    def evaluate(self, model: Recommender, progress: bool = False) -> Dict:
        r"""Ranks and measures (:meth:`rank`, then :meth:`report`), adding
        the time taken as ``'seconds'``; :obj:`progress` shows the users
        ranked (:meth:`rank`)."""
        start = time.perf_counter()
        out = self.report(self.rank(model, progress=progress)[0])
        out['seconds'] = time.perf_counter() - start
        return out
