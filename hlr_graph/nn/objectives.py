r"""Training objectives of metric models over :math:`K` negatives per
positive, on squared distances (smaller is closer)."""
import math
from typing import Any, Optional

import torch
from torch import Tensor

LOSSES = ('hinge', 'warp', 'hardest', 'ccl')
r"""What :func:`metric_loss` computes (the ``loss`` of the metric models)."""

WEIGHTED = ('ccl',)
r"""The losses that read ``negative_weight`` (the metric models refuse a
weight other than ``1.0`` with another loss, and a ``loss`` flag naming
another drops a preset's weight,
:func:`~hlr_graph.models.registry.with_flags`)."""

CLOSEST_ONLY = ('hardest', 'warp')
r"""The losses whose gradient reaches only the closest of each triplet's
:math:`K` negatives (the others enter the value of ``'warp'``'s weight,
which carries no gradient): a model may compute the :math:`K` distances
without autograd and only the closest with it
(:meth:`~hlr_graph.models.CML.loss`)."""


def metric_loss(pos: Tensor, neg: Tensor, margin: float, loss: str = 'hinge',
                num_items: Optional[int] = None,
                negative_weight: float = 1.0,
                counts: Optional[Tensor] = None) -> Tensor:
    r"""The loss of ``[B]`` positive distances :math:`d^+ = d(u, v)` against
    ``[B, K]`` negative distances :math:`d^-_k = d(u, v^-_k)` of the same
    queries, summed over the batch.

    * ``'hinge'``: the paper's hinge (eqs. 1 and 8) on every negative,
      :math:`\sum_k [m + d^+ - d^-_k]_+`; with :math:`K = 1`, eq. (1)
      itself, computed as before to the last bit.
    * ``'hardest'``: the hinge on the closest of the :math:`K` negatives,
      :math:`[m + d^+ - \min_k d^-_k]_+` (the hard-negative stage of
      two-stage sampling, Tran et al., SIGIR 2019).
    * ``'warp'``: that hinge weighted by :math:`\log(1 + \hat{r})`, where
      :math:`\hat{r} = J \cdot |\{k : m + d^+ - d^-_k > 0\}| / K` estimates
      the positive's rank among the :math:`J` = :obj:`num_items` items from
      the :math:`K` samples (CML's WARP weighting, Hsieh et al., WWW 2017,
      eqs. 3-4, after Weston et al., 2011); the weight carries no gradient.
    * ``'ccl'``: a contrastive loss in the spirit of SimpleX's cosine
      contrastive loss (Mao et al., CIKM 2021, eq. 2), on distances:
      :math:`d^+ + \frac{w}{K} \sum_k [m - d^-_k]_+`: pull the positive in,
      push every negative out to distance :math:`m` (the negative margin)
      with weight :math:`w` = :obj:`negative_weight`.

    A negative distance of :math:`+\infty` is a pair that does not count
    (:meth:`~hlr_graph.data.batch.TripletBatch.mask_negatives`): every loss
    gives it no value and no gradient, and with :obj:`counts`, the number
    :math:`K_b \leq K` of each row's negatives that count, ``'ccl'``'s mean
    and ``'warp'``'s rank estimate take :math:`K_b` for :math:`K`, so a
    row's loss is the one its :math:`K_b` negatives alone would give.

    Args:
        pos (torch.Tensor): ``[B]`` positive distances.
        neg (torch.Tensor): ``[B, K]`` negative distances (``[B]``: one).
        margin (float): :math:`m`.
        loss (str): One of :obj:`LOSSES`. (default: ``'hinge'``)
        num_items (int, optional): :math:`J`, for ``'warp'``.
        negative_weight (float): :math:`w`, for ``'ccl'``.
            (default: ``1.0``)
        counts (torch.Tensor, optional): ``[B]`` :math:`K_b`, for ``'ccl'``
            and ``'warp'``
            (:meth:`~hlr_graph.data.batch.TripletBatch.negative_counts`).
            (default: :obj:`None`, every row's :math:`K`)
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got '{loss}'")
    if loss in WEIGHTED:
        check_weight(negative_weight)
    if neg.dim() == 1:
        neg = neg.unsqueeze(1)
    if neg.dim() != 2 or neg.size(0) != pos.numel() or neg.size(1) < 1:
        raise ValueError(f'neg must be [B, K] with B = {pos.numel()} (the '
                         f'positives) and K >= 1, got {list(neg.shape)}')
    pos = pos.unsqueeze(1)
    if loss == 'hinge':
        return torch.relu(pos - neg + margin).view(-1).sum()
    if loss == 'ccl':
        if counts is None:
            return pos.sum() + negative_weight / neg.size(1) * torch.relu(
                margin - neg).sum()
        return pos.sum() + negative_weight * (torch.relu(margin - neg).sum(
            dim=1) / counts.clamp(min=1)).sum()
    hardest = torch.relu(pos - neg.min(dim=1, keepdim=True).values + margin)
    if loss == 'hardest':
        return hardest.sum()
    if num_items is None:
        raise ValueError("loss 'warp' needs num_items")
    with torch.no_grad():
        violations = (pos - neg + margin > 0).sum(dim=1, keepdim=True)
        rank = violations.to(pos.dtype) * (
            num_items / neg.size(1) if counts is None else
            num_items / counts.clamp(min=1).to(pos.dtype).unsqueeze(1))
        weight = torch.log1p(rank)
    return (weight * hardest).sum()


def ccl_negative_term(query: Tensor, items: Tensor, margin: float,
                      negative_weight: float = 1.0,
                      valid: Optional[Tensor] = None,
                      chunk_size: Optional[int] = None) -> Tensor:
    r"""``'ccl'``'s negative term over :math:`K` negatives shared by all
    :math:`B` queries, summed over the batch,

    .. math::
        \sum_b \frac{w}{K_b} \sum_{k : \text{valid}_{b,k}}
        [m - d(u_b, v_k)]_+,
        \qquad d(u, v) = \max(\|u\|^2 + \|v\|^2 - 2 u^\top v, 0),

    with :math:`K_b` the pairs of row :math:`b` that count (at least 1, so
    that a row with none adds nothing): what
    :func:`metric_loss` returns with ``'ccl'`` minus :math:`\sum_b d^+_b`,
    given the distances of
    :func:`~hlr_graph.nn.distance.pairwise_squared_distance` and the pairs
    that do not count at :math:`+\infty`. Its value and gradient are
    those of that composition up to float rounding (tested), but it takes
    them from the three ``[B, d] x [d, K]`` products alone and a few passes
    over each ``[B, c]`` block of :obj:`chunk_size` negatives: autograd
    through the composition makes a dozen or more passes over the whole
    ``[B, K]`` distances, which cost more than the products on a CPU
    (docs/performance.md, section 4). The gradient is computed with the
    value (the term is a sum, so the backward pass scales it); it has no
    second derivative (a backward pass with ``create_graph=True`` raises).

    Args:
        query (torch.Tensor): ``[B, d]`` the queries :math:`u_b` (a
            translated user :math:`p_u + r`, or :math:`p_u`).
        items (torch.Tensor): ``[K, d]`` the shared negatives :math:`v_k`.
        margin (float): :math:`m`, the distance out to which a negative
            is pushed (a negative margin pushes nothing, as in
            :func:`metric_loss`).
        negative_weight (float): :math:`w`. (default: ``1.0``)
        valid (torch.Tensor, optional): ``[B, K]`` :obj:`torch.bool`,
            :obj:`False` for a pair that does not count
            (:attr:`~hlr_graph.data.batch.SharedTripletBatch.valid`).
            (default: :obj:`None`, every pair counts)
        chunk_size (int, optional): Negatives per block. (default:
            :obj:`None`, as many as keep a block within :math:`2^{22}`
            entries: all 4,096 of Yelp2018's preset with 1,000 queries)
    """
    if query.dim() != 2 or items.dim() != 2 or query.size(1) != items.size(1):
        raise ValueError(f'query must be [B, d] and items [K, d], got '
                         f'{list(query.shape)} and {list(items.shape)}')
    if valid is not None and valid.shape != (query.size(0), items.size(0)):
        raise ValueError(f'valid must be [B, K] = '
                         f'{[query.size(0), items.size(0)]}, got '
                         f'{list(valid.shape)}')
    if items.size(0) < 1:
        raise ValueError('items must hold at least one negative')
    if items.dtype != query.dtype:
        raise ValueError(f'query and items must have one dtype, got '
                         f'{query.dtype} and {items.dtype}')
    if valid is not None and valid.dtype != torch.bool:
        raise ValueError(f'valid must be torch.bool, got {valid.dtype}')
    check_weight(negative_weight)
    if chunk_size is None:
        chunk_size = max(1, (1 << 22) // max(1, query.size(0)))
    elif chunk_size < 1:
        raise ValueError(f'chunk_size must be at least 1, got {chunk_size}')
    return _CCLNegativeTerm.apply(query, items, valid, float(margin),
                                  float(negative_weight), int(chunk_size),
                                  torch.is_grad_enabled())


class _CCLNegativeTerm(torch.autograd.Function):
    r""":func:`ccl_negative_term`. With :math:`s_{bk} = m - d_{bk}` (the
    distance before its clamp at zero), :math:`c_{bk} = \min(\max(s_{bk},
    0), m)` the pair's term and :math:`a_{bk} = [c_{bk} > 0]` for the pairs
    that count, the value is :math:`\sum_b \frac{w}{K_b} \sum_k c_{bk}`
    and the gradients

    .. math::
        \frac{\partial}{\partial u_b} = 2 \frac{w}{K_b}
        \sum_k a_{bk} (v_k - u_b), \qquad
        \frac{\partial}{\partial v_k} = 2 \sum_b \frac{w}{K_b}
        a_{bk} (u_b - v_k),

    each from one product per block: :math:`a [v, 1]` gives
    :math:`\sum_k a_{bk} v_k` and :math:`\sum_k a_{bk}` together, and
    :math:`a^\top [\frac{w}{K_b} u, \frac{w}{K_b}]` the two sums over
    :math:`b`. The block takes float passes
    only (a comparison or a dense mask over it costs several times a float
    pass on a CPU): the few pairs that do not count (about 0.2 % on
    Yelp2018) are set to zero by their indices. Where the distance rounds
    below zero (:math:`u \approx v`), :math:`a = 1` while autograd
    through the clamp gives zero: the two gradients differ there by
    :math:`2 \frac{w}{K_b} (v - u)`, which is zero for :math:`u = v`."""

    @staticmethod
    def forward(ctx, query, items, valid, margin, negative_weight,
                chunk_size, grad_enabled):
        num = items.size(0)
        if valid is None:
            counts = query.new_full((1, 1), num)
            masked = None
        else:
            counts = valid.sum(dim=1, keepdim=True).clamp(min=1).to(
                query.dtype)
            masked = (~valid).nonzero().t()  # [2, P]: (row, negative).
        row_weight = (negative_weight / counts).expand(query.size(0), 1)
        bias = margin - items.pow(2).sum(dim=1)  # [K]
        top = max(margin, 0.0)  # A negative margin pushes nothing.
        query_norm = query.pow(2).sum(dim=1, keepdim=True)  # [B, 1]
        # A column of ones (of weights) after the vectors makes each
        # product with a also give its row (column) sums.
        weighted = torch.cat([query * row_weight, row_weight], dim=1)
        # Under no_grad (a validation loss) the value alone.
        want_query, want_items = (grad_enabled and need
                                  for need in ctx.needs_input_grad[:2])
        dim = query.size(1)
        by_query = (query.new_zeros(query.size(0), dim + 1)
                    if want_query else None)
        grad_items = torch.empty_like(items) if want_items else None
        row_sums = torch.zeros_like(query_norm)
        for start in range(0, num, chunk_size):
            end = min(start + chunk_size, num)
            block = items[start:end]
            # c = clamp(m - d, 0, m) from one product: [B, c].
            term = torch.addmm(bias[start:end], query, block.t(),
                               alpha=2).sub_(query_norm).clamp_(0, top)
            if masked is not None:  # The pairs that do not count: 0.
                here = (masked[1] >= start) & (masked[1] < end)
                term[masked[0, here], masked[1, here] - start] = 0
            row_sums += term.sum(dim=1, keepdim=True)
            if not (want_query or want_items):
                continue
            active = term.sign_()  # a, in place of the terms.
            if want_query:  # [sum_k a v_k, sum_k a].
                by_query.addmm_(active, torch.cat(
                    [block, block.new_ones(end - start, 1)], dim=1))
            if want_items:  # [sum_b w_b a u_b, sum_b w_b a].
                sums = active.t() @ weighted
                grad_items[start:end] = torch.addcmul(
                    sums[:, :dim], block, sums[:, dim:], value=-1)
        grad_query = None if by_query is None else torch.addcmul(
            by_query[:, :dim], query, by_query[:, dim:],
            value=-1).mul_(2 * row_weight)
        if want_items:
            grad_items.mul_(2)
        ctx.save_for_backward(grad_query, grad_items)
        return (row_sums * row_weight).sum()

    @staticmethod
    def backward(ctx, grad):
        if torch.is_grad_enabled():  # create_graph=True
            raise RuntimeError('ccl_negative_term has no second derivative: '
                               'its gradient is computed with its value')
        grad_query, grad_items = ctx.saved_tensors
        return (None if grad_query is None else grad * grad_query,
                None if grad_items is None else grad * grad_items,
                None, None, None, None, None)


class SettingNames:
    r"""How :func:`check_negatives` names the settings in its errors: as
    Python spells them (``num_negatives=4``). The command line names its
    flags instead (``--num-negatives 4 (--preset best's)``) by overriding
    these methods, so that both say the same rules in their own words."""

    def name(self, setting: str) -> str:
        r"""The setting alone: ``num_negatives``."""
        return setting

    def spell(self, setting: str, value: Any) -> str:
        r"""The setting with a value: ``num_negatives=4``."""
        return f'{setting}={value!r}'

    def show(self, setting: str, value: Any) -> str:
        r"""The setting with the value it has, and where that came from
        where the caller can tell (a flag, a preset, the default)."""
        return self.spell(setting, value)

    def give(self, setting: str, value: Any) -> str:
        r"""How to give it :obj:`value`: ``set num_negatives to 1``."""
        return f'set {setting} to {value!r}'

    def drop(self, setting: str, default: Any) -> str:
        r"""How to take it back to :obj:`default`."""
        return self.give(setting, default)

    def given(self, setting: str) -> bool:
        r"""Whether the caller named the setting even at its default value
        (Python cannot tell: :obj:`False`)."""
        return False

    def stays(self, setting: str) -> bool:
        r"""Whether the setting keeps its value when another one is given
        (in Python it does; on the command line a preset's shared
        negatives give way to a ``--num-negatives`` given)."""
        return True


def check_weight(negative_weight: float,
                 names: Optional[SettingNames] = None):
    r"""Raises :class:`ValueError` unless :math:`w` is positive and
    finite (a negative one would pull the negatives in)."""
    if not negative_weight > 0 or math.isinf(negative_weight):
        shown = (names or SettingNames()).show('negative_weight',
                                               negative_weight)
        raise ValueError(f'{shown}: the weight of the negatives must be '
                         'positive and finite')


def check_negatives(loss: str = 'hinge', negative_weight: float = 1.0,
                    num_negatives: int = 1, share_negatives: bool = False,
                    num_workers: int = 0,
                    names: Optional[SettingNames] = None):
    r"""Raises :class:`ValueError` unless the negatives' settings go
    together. The models, the trainer and the command lines all check
    here, each wording the error its own way (:obj:`names`).

    Args:
        loss (str): One of :obj:`LOSSES`. (default: ``'hinge'``)
        negative_weight (float): :math:`w`; a value other than ``1`` (or
            one the caller named, :meth:`SettingNames.given`) only with a
            loss of :obj:`WEIGHTED`. (default: ``1.0``)
        num_negatives (int): :math:`K`, at least ``1`` (with one negative,
            ``'hardest'`` is the hinge and ``'warp'`` weights it by
            :math:`\log(1 + J)` or :math:`0`), at least ``2`` when shared
            by the batch. (default: ``1``)
        share_negatives (bool): Whether the batch shares its :math:`K`
            negatives. (default: :obj:`False`)
        num_workers (int): The loader's worker processes: ``0`` for
            several or shared negatives, which are drawn on the model's
            device. (default: ``0``)
        names (SettingNames, optional): How the error names the settings.
            (default: :obj:`None`, as Python spells them)
    """
    n = names or SettingNames()
    if loss not in LOSSES:
        raise ValueError(f"{n.name('loss')} must be one of {LOSSES}, got "
                         f"'{loss}'")
    if num_negatives < 1:
        raise ValueError(f"{n.name('num_negatives')} must be at least 1, "
                         f'got {num_negatives}')
    if share_negatives and num_negatives < 2:
        raise ValueError(
            f"{n.show('share_negatives', True)} needs "
            f"{n.name('num_negatives')} of at least 2, not "
            f"{n.show('num_negatives', num_negatives)}: one negative shared "
            'by the whole batch is not what sharing is for')
    if num_workers and (num_negatives > 1 or share_negatives):
        also = (f" and {n.drop('share_negatives', False)}"
                if share_negatives and n.stays('share_negatives') else '')
        raise ValueError(
            f"{n.show('num_workers', num_workers)}: "
            f"{n.show('num_negatives', num_negatives)}"
            + (' shared by the batch' if share_negatives else '')
            + " draws its negatives on the model's device, not in loader "
            f"processes: {n.drop('num_workers', 0)}, or "
            f"{n.give('num_negatives', 1)}{also}")
    check_weight(negative_weight, n)
    if loss not in WEIGHTED and (negative_weight != 1.0
                                 or n.given('negative_weight')):
        weighted = ' or '.join(n.spell('loss', name) for name in WEIGHTED)
        raise ValueError(
            f"{n.show('negative_weight', negative_weight)} weighs the "
            f"negatives of {weighted} only, not {n.show('loss', loss)}")
