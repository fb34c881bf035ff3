r"""Top-:math:`K` metrics of ranked lists against held-out interactions.

For a user with relevant (held-out) items :math:`R` and hits
:math:`h_1, \dots, h_K \in \{0, 1\}` at ranks :math:`1..K`:

* ``precision@K`` :math:`= \sum_i h_i / K`;
* ``recall@K`` :math:`= \sum_i h_i / |R|`;
* ``ndcg@K`` :math:`= \sum_i h_i / \log_2(i + 1)` divided by the same sum for
  :math:`\min(|R|, K)` hits at the top (the reference's "global" NDCG);
* ``map@K`` :math:`= \frac{1}{\min(|R|, K)} \sum_{i: h_i = 1} P@i`, with
  :math:`P@i` the precision of the first :math:`i` items;
* ``mrr@K``: the reciprocal rank of the first hit (``0`` without one);
* ``hit@K``: ``1`` when some :math:`h_i = 1`.

These are :mod:`torch_geometric.metrics` definitions, averaged over users.
The ``'reference'`` mode replaces MAP and MRR with the authors' code
(``huitre/evaluators/map.py`` and ``mrr.py`` in
https://github.com/deezer/recsys21-hlr): ``map@K``
:math:`= \frac{1}{K} \sum_{i: h_i = 1} P@i` and ``mrr@K``
:math:`= \sum_{i: h_i = 1} 1 / i` (every hit counts, so it can exceed 1).

Over the whole set of users, ``coverage@K`` is the share of the catalogue
recommended to someone, and ``popularity@K`` the median training popularity
(number of training users) of the distinct recommended items, the paper's
popularity column (the mean of the two middle values for an even count, as
``numpy.median``).
"""
from typing import Dict, Sequence

import torch
from torch import Tensor
from torch_geometric.metrics import (
    LinkPredHitRatio,
    LinkPredMAP,
    LinkPredMetric,
    LinkPredMetricCollection,
    LinkPredMRR,
    LinkPredNDCG,
    LinkPredPrecision,
    LinkPredRecall,
)
from torch_geometric.metrics.link_pred import LinkPredMetricData

METRIC_MODES = ('standard', 'reference')


class ReferenceMAP(LinkPredMetric):
    r"""MAP@K as the authors' code computes it (``huitre/evaluators/map.py``
    in https://github.com/deezer/recsys21-hlr): the sum of precisions at the
    hits, divided by :math:`K`."""
    higher_is_better: bool = True
    weighted: bool = False

    def _compute(self, data: LinkPredMetricData) -> Tensor:
        hits = data.pred_rel_mat[:, :self.k].float()
        rank = torch.arange(1, hits.size(1) + 1, device=hits.device)
        return (hits.cumsum(dim=1) / rank * hits).sum(dim=1) / self.k


class ReferenceMRR(LinkPredMetric):
    r"""MRR@K as the authors' code computes it (``huitre/evaluators/mrr.py``
    in https://github.com/deezer/recsys21-hlr): the sum of reciprocal ranks
    over all hits."""
    higher_is_better: bool = True
    weighted: bool = False

    def _compute(self, data: LinkPredMetricData) -> Tensor:
        hits = data.pred_rel_mat[:, :self.k].float()
        rank = torch.arange(1, hits.size(1) + 1, device=hits.device)
        return (hits / rank).sum(dim=1)


def _collection(ks: Sequence[int], mode: str) -> LinkPredMetricCollection:
    if mode not in METRIC_MODES:
        raise ValueError(f'metric mode must be one of {METRIC_MODES}, got '
                         f"'{mode}'")
    map_cls, mrr_cls = ((LinkPredMAP, LinkPredMRR) if mode == 'standard' else
                        (ReferenceMAP, ReferenceMRR))
    classes = {'precision': LinkPredPrecision, 'recall': LinkPredRecall,
               'ndcg': LinkPredNDCG, 'map': map_cls, 'mrr': mrr_cls,
               'hit': LinkPredHitRatio}
    return LinkPredMetricCollection({
        f'{name}@{k}': cls(k)
        for k in ks for name, cls in classes.items()
    })


def ranking_metrics(items: Tensor, targets: Tensor, ks: Sequence[int],
                    popularity: Tensor, mode: str = 'standard'
                    ) -> Dict[str, float]:
    r"""Metrics of ranked lists, averaged over their users.

    Args:
        items (torch.Tensor): ``[U, K]`` ranked item lists, best first;
            ``-1`` pads a short list.
        targets (torch.Tensor): ``[2, T]`` held-out ``(row of items, item)``
            pairs; every row has at least one.
        ks (Sequence[int]): The cut-offs, each at most ``K``.
        popularity (torch.Tensor): ``[num_items]`` training popularity.
        mode (str): ``'standard'`` or ``'reference'`` MAP and MRR.
    """
    num_items = popularity.numel()
    padded = torch.where(items < 0, num_items, items)  # Never a target.
    metrics = _collection(ks, mode)
    metrics.update(padded, targets)
    out = {name: float(value) for name, value in metrics.compute().items()}
    for k in ks:
        distinct = items[:, :k].unique()
        distinct = distinct[distinct >= 0]
        out[f'coverage@{k}'] = distinct.numel() / num_items
        out[f'popularity@{k}'] = (float(
            popularity[distinct].double().quantile(0.5))
                                  if distinct.numel() else float('nan'))
    return out
