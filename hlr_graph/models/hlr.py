r"""HLR and HLR++ (Tran et al., RecSys 2021, section 3)."""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import cumsum, scatter, to_dense_batch

from hlr_graph.data.index import csr_gather
from hlr_graph.models.relational import RelationalCML
from hlr_graph.nn.item_attention import ItemAttentionConv
from hlr_graph.nn.relation import ItemItemRelationConv, MemoryAttentionConv


@dataclass
class Explanation:
    r"""Why each recommended item scored as it did.

    Attributes:
        history (torch.Tensor): ``[U, L]`` the history items the scores read
            (``-1`` pads).
        attention (torch.Tensor): ``[U, k, L]`` user attention
            :math:`\alpha(u, v, j)` of every recommended item :math:`v` on
            every history item :math:`j` (eq. 6).
        slot_attention (torch.Tensor, optional): ``[U, k]`` user attention on
            the user slot (HLR with ``user_slot``).
        memory (torch.Tensor): ``[U, k, N]`` memory weights :math:`W` of the
            relation, :math:`\bar{r}_{u,v} = W^\top \mathbf{M}`: which
            latent relation types explain the recommendation.
        item_attention (torch.Tensor, optional): ``[U, k, L]`` HLR++'s item
            attention on every history item.
        item_slot_attention (torch.Tensor, optional): ``[U, k]`` HLR++'s
            item attention on the target item itself.
    """
    history: Tensor
    attention: Tensor
    slot_attention: Optional[Tensor]
    memory: Tensor
    item_attention: Optional[Tensor] = None
    item_slot_attention: Optional[Tensor] = None

    def entropy(self) -> Tuple[Tensor, Tensor]:
        r"""How far the user attention of each recommendation is from
        uniform: ``(entropy, max_entropy)``, each ``[U, k]``, in nats,

        .. math::
            H = -\sum_c \alpha_c \log \alpha_c, \qquad
            H_{\max} = \log n,

        over the :math:`n` slots the attention spreads over: the user's
        history items, and the user slot when the model has one. The
        weights are uniform when :math:`H = H_{\max}` (a ratio
        :math:`H / H_{\max}` close to 1 says they single out nothing), and
        fall on one slot when :math:`H = 0`; with one slot or none, both
        are ``0``.
        """
        weights = [self.attention]
        count = (self.history >= 0).sum(dim=1, keepdim=True)  # [U, 1]
        if self.slot_attention is not None:
            weights.append(self.slot_attention.unsqueeze(-1))
            count = count + 1
        alpha = torch.cat(weights, dim=-1)
        entropy = -torch.special.xlogy(alpha, alpha).sum(dim=-1)
        max_entropy = count.clamp(min=1).to(alpha.dtype).log()
        return entropy, max_entropy.expand_as(entropy)


class HLR(RelationalCML):
    r"""Hierarchical Latent Relations: user-item relations built on top of
    item-item relations (section 3.2). The distance of user :math:`u` to item
    :math:`v` is

    .. math::
        d(u, v) = \|p_u + \bar{r}_{u,v} - q_v\|_2^2 \quad \text{(eq. 7)},

    with :math:`\bar{r}_{u,v}` from :class:`~hlr_graph.nn.ItemItemRelationConv`
    over the user's history, trained with the hinge loss of eq. (8), summed
    over the batch. Items are ranked by :math:`-d(u, v)`, computed exactly for
    all items by the factorised dense path
    (:meth:`~hlr_graph.nn.ItemItemRelationConv.dense`).

    The authors' code (``HLRE``, ``huitre/models/hiers/hlr.py`` on
    ``AttRAM``, ``huitre/models/hiers/attram.py``, in
    https://github.com/deezer/recsys21-hlr) departs from the paper in
    places; each place is an argument:

    * :obj:`user_slot` (``catex``): the user is one more slot of the history,
      carrying LRML's user-item relation. Default :obj:`True`, as the code
      the paper's numbers come from.
    * :obj:`copy`: the negative reuses the positive's relation instead of
      its own (eq. 8 uses its own). Default :obj:`False`, as the paper; the
      authors' Yelp setting is :obj:`True`.
    * :obj:`max_history` / :obj:`history_sampling`: the history is a sample of
      at most :math:`L` of the user's items (``'random'`` or ``'unpop'``),
      never the target, drawn afresh at every visit (the paper sums over all
      of :math:`\mathcal{N}_u`; ``-1`` does that). Default :math:`L = 50`,
      ``'random'``.
    * :obj:`clip_ram`: also clip memories and key columns to norm 1 after
      every step. Default :obj:`False`, as the paper and the authors'
      MovieLens config; on ml-100k, :obj:`True` without the user slot
      generalises better (docs/results.md, section 7).

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        max_history (int): :math:`L`. (default: ``50``)
        history_sampling (str): ``'random'`` or ``'unpop'``.
        user_slot (bool): The user slot. (default: :obj:`True`)
        **kwargs: :obj:`embedding_dim`, :obj:`num_memories`, :obj:`margin`,
            :obj:`copy`, :obj:`clip_ram`, :obj:`max_norm`, :obj:`temperature` of
            :class:`~hlr_graph.models.relational.RelationalCML`.
    """
    def __init__(self, num_users: int, num_items: int,
                 max_history: int = 50, history_sampling: str = 'random',
                 user_slot: bool = True, **kwargs):
        super().__init__(num_users, num_items, **kwargs)
        self.read_history(max_history, history_sampling)
        self.relation = ItemItemRelationConv(self.memory, user_slot)

    def branches(self) -> List[MemoryAttentionConv]:
        r"""The modules whose relations add up to :math:`\bar{r}_{u,v}`."""
        return [self.relation]

    def translate(self, users: Tensor, items: Tensor, user: Tensor,
                  target: Tensor, history: Tensor) -> Tensor:
        p, q = users.index_select(0, user), items.index_select(0, target)
        # history: (source, target) = (history item, query), as the layers.
        return p + sum(conv((items, q), p, history)
                       for conv in self.branches())

    def memory_weights(self, item: Tensor, history: Tensor, mask: Tensor,
                       user: Tensor) -> Tensor:
        return sum(conv.dense(item, history, mask, user)
                   for conv in self.branches())

    @torch.no_grad()
    def explain(self, user: Tensor, item: Tensor,
                history: Tensor) -> Explanation:
        r"""Attention and memory weights behind the scores of ``[U, k]``
        items of ``[U]`` users, read from the message-passing path with the
        ``[2, E]`` history edges ``(source, target)`` = (history item, row in
        :obj:`user`), sorted by row, that scored them
        (:meth:`~hlr_graph.loader.HistorySampler.sample_rows`)."""
        users, items = self.embeddings()
        num_users, k = item.shape
        history = history.to(user.device)
        query = torch.arange(num_users,
                             device=user.device).repeat_interleave(k)
        target = items[item.reshape(-1).clamp(min=0)]
        rowptr = cumsum(torch.bincount(history[1], minlength=num_users))
        owner, position = csr_gather(rowptr, query)
        edges = torch.stack([history[0][position], owner])
        explained = []
        for conv in self.branches():
            _, (edge_index, alpha, weight) = conv(
                (items, target), users[user][query], edges,
                return_attention_weights=True)
            memory = scatter(alpha.unsqueeze(-1) * weight, edge_index[1],
                             dim=0, dim_size=query.numel(), reduce='sum')
            on_history, _ = to_dense_batch(alpha[:owner.numel()], owner,
                                           batch_size=query.numel())
            on_slot = alpha[owner.numel():]  # One slot edge per query, if any.
            explained.append((on_history.view(num_users, k, -1),
                              on_slot.view(num_users, k) if on_slot.numel()
                              else None, memory.view(num_users, k, -1)))
        (attention, slot, memory), *item_branch = explained
        out = Explanation(
            history=to_dense_batch(history[0], history[1], fill_value=-1,
                                   batch_size=num_users)[0],
            attention=attention, slot_attention=slot,
            memory=memory + sum(m for _, _, m in item_branch))
        if item_branch:
            out.item_attention, out.item_slot_attention, _ = item_branch[0]
        return out


class HLRPlusPlus(HLR):
    r"""HLR++ (section 3.3): HLR's item-item relations plus an item attention
    module that shares their memory (:class:`~hlr_graph.nn.ItemAttentionConv`),

    .. math::
        \bar{r}_{u,v} = \bar{r}^I_{u,v} + \bar{r}^U_{u,v} \quad \text{(eq. 9)}.

    As in the authors' code (``JUPITER``, ``huitre/models/hiers/jupiter.py``
    in https://github.com/deezer/recsys21-hlr), the item-item branch has no
    user slot by default (the item attention already holds the target's
    user-item relation). With :obj:`item_branch` off, HLR++ is HLR.

    Args:
        user_slot (bool): The user slot of the item-item branch.
            (default: :obj:`False`)
        item_branch (bool): Add the item attention module.
            (default: :obj:`True`)
        **kwargs: The other arguments of :class:`HLR`.
    """
    def __init__(self, num_users: int, num_items: int,
                 user_slot: bool = False, item_branch: bool = True, **kwargs):
        super().__init__(num_users, num_items, user_slot=user_slot, **kwargs)
        self.item_attention = (ItemAttentionConv(self.memory)
                               if item_branch else None)

    def branches(self) -> List[MemoryAttentionConv]:
        return super().branches() + ([self.item_attention]
                                     if self.item_attention is not None else [])
