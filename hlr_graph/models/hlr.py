r"""HLR and HLR++ (Tran et al., RecSys 2021, section 3)."""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Embedding
from torch_geometric.utils import cumsum, scatter, to_dense_batch

from hlr_graph.loader.history import HISTORY_SAMPLING, csr_gather
from hlr_graph.loader.triplet_loader import TripletBatch
from hlr_graph.models.base import Recommender
from hlr_graph.nn.distance import squared_distance, translation_distance
from hlr_graph.nn.item_attention import ItemAttentionConv
from hlr_graph.nn.memory import KeyValueMemory
from hlr_graph.nn.relation import ItemItemRelationConv, MemoryAttentionConv

DENSE_BLOCK = 2**22
r"""Key logits held at once by :meth:`HLR.score` (16 MB of float32): blocks
of 16 users and as many items as fit, which measured fastest on 2 CPU cores
(``benchmarks/dense_scoring.py``)."""
DENSE_USERS = 16


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


class HLR(Recommender):
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

    The reference code departs from the paper in places; each place is an
    argument (reference_implementation.md section 1.8):

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
      every step. Default :obj:`False`, as the paper.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        embedding_dim (int): :math:`d`. (default: ``100``)
        num_memories (int): :math:`N`. (default: ``20``)
        margin (float): :math:`m`. (default: ``0.5``)
        max_history (int): :math:`L`. (default: ``50``)
        history_sampling (str): ``'random'`` or ``'unpop'``.
        user_slot (bool): The user slot. (default: :obj:`True`)
        copy (bool): Reuse the positive's relation for the negative.
        clip_ram (bool): Clip memories and keys too.
        max_norm (float): The norm bound. (default: ``1.0``)
    """
    def __init__(self, num_users: int, num_items: int,
                 embedding_dim: int = 100, num_memories: int = 20,
                 margin: float = 0.5, max_history: int = 50,
                 history_sampling: str = 'random', user_slot: bool = True,
                 copy: bool = False, clip_ram: bool = False,
                 max_norm: float = 1.0):
        super().__init__(num_users, num_items)
        if history_sampling not in HISTORY_SAMPLING:
            raise ValueError(f'history_sampling must be one of '
                             f"{HISTORY_SAMPLING}, got '{history_sampling}'")
        self.margin, self.copy, self.clip_ram = margin, copy, clip_ram
        self.max_norm = max_norm
        self.max_history, self.history_sampling = max_history, \
            history_sampling
        self.user_emb = Embedding(num_users, embedding_dim)
        self.item_emb = Embedding(num_items, embedding_dim)
        self.memory = KeyValueMemory(embedding_dim, num_memories)
        self.relation = ItemItemRelationConv(self.memory, user_slot)
        self.reset_parameters()

    def reset_parameters(self):
        r"""Normal(0, 1 / sqrt(d)) everywhere, as the reference code."""
        for emb in (self.user_emb, self.item_emb):
            torch.nn.init.normal_(emb.weight, std=emb.embedding_dim**-0.5)
        self.memory.reset_parameters()

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        r"""``([num_users, d], [num_items, d])`` user and item vectors.
        Override to put the relation layers on top of another encoder."""
        return self.user_emb.weight, self.item_emb.weight

    def branches(self) -> List[MemoryAttentionConv]:
        r"""The modules whose relations add up to :math:`\bar{r}_{u,v}`."""
        return [self.relation]

    def relations(self, user: Tensor, target: Tensor, items: Tensor,
                  history: Tensor) -> Tensor:
        r"""``[B, d]`` relations :math:`\bar{r}_{u,v}` of ``B`` queries.

        Args:
            user (torch.Tensor): ``[B, d]`` users :math:`p_u`.
            target (torch.Tensor): ``[B, d]`` target items :math:`q_v`.
            items (torch.Tensor): ``[num_items, d]`` all item vectors.
            history (torch.Tensor): ``[2, E]`` history edges (query, item).
        """
        edge_index = history.flip(0)
        return sum(conv((items, target), user, edge_index)
                   for conv in self.branches())

    def forward(self, user: Tensor, item: Tensor, history: Tensor) -> Tensor:
        r"""``[B]`` distances :math:`d(u, v)` (eq. 7) of (user, item) pairs,
        with ``[2, E]`` history edges (pair, item)."""
        users, items = self.embeddings()
        p, q = users.index_select(0, user), items.index_select(0, item)
        return squared_distance(p + self.relations(p, q, items, history), q)

    def loss(self, batch: TripletBatch) -> Tensor:
        r"""The hinge loss of eq. (8), summed over the batch."""
        users, items = self.embeddings()
        p, pos, neg = (users.index_select(0, batch.user),
                       items.index_select(0, batch.pos),
                       items.index_select(0, batch.neg))
        r_pos = self.relations(p, pos, items, batch.history)
        r_neg = r_pos if self.copy else self.relations(p, neg, items,
                                                       batch.history)
        return torch.relu(
            squared_distance(p + r_pos, pos) -
            squared_distance(p + r_neg, neg) + self.margin).sum()

    def memory_weights(self, item: Tensor, history: Tensor, mask: Tensor,
                       user: Tensor) -> Tensor:
        r"""``[U, I, N]`` memory weights of the relations of every (user,
        item) pair (see :meth:`~hlr_graph.nn.ItemItemRelationConv.dense`)."""
        return sum(conv.dense(item, history, mask, user)
                   for conv in self.branches())

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        r"""``[U, num_items]`` exact scores :math:`-d(u, v)` of every item,
        computed in blocks of users and items so that about
        :obj:`DENSE_BLOCK` key logits live at once."""
        users, items = self.embeddings()
        p = users[user]
        if history is None:
            history = user.new_empty(2, 0)
        context, mask = to_dense_batch(items[history[1]], history[0],
                                       batch_size=user.numel())
        slots = context.size(1) + 1
        block_users = max(1, min(user.numel(), DENSE_USERS))
        block_items = max(1, DENSE_BLOCK // (
            block_users * slots * self.memory.num_memories))
        out = p.new_empty(user.numel(), items.size(0))
        for u in range(0, user.numel(), block_users):
            us = slice(u, u + block_users)
            for i in range(0, items.size(0), block_items):
                its = slice(i, i + block_items)
                weight = self.memory_weights(items[its], context[us],
                                             mask[us], p[us])
                out[us, its] = -translation_distance(
                    p[us], items[its], weight, self.memory.memories)
        return out

    @torch.no_grad()
    def constrain_(self):
        for emb in (self.user_emb, self.item_emb):
            emb.weight.renorm_(p=2, dim=0, maxnorm=self.max_norm)
        if self.clip_ram:
            self.memory.clip_(self.max_norm)

    @torch.no_grad()
    def explain(self, user: Tensor, item: Tensor,
                history: Tensor) -> Explanation:
        r"""Attention and memory weights behind the scores of ``[U, k]``
        items of ``[U]`` users, read from the message-passing path with the
        ``[2, E]`` history edges ``(row in user, item)`` that scored them."""
        users, items = self.embeddings()
        num_users, k = item.shape
        query = torch.arange(num_users,
                             device=user.device).repeat_interleave(k)
        target = items[item.reshape(-1).clamp(min=0)]
        rowptr = cumsum(torch.bincount(history[0], minlength=num_users))
        owner, position = csr_gather(rowptr, query)
        edges = torch.stack([history[1][position], owner])
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
            history=to_dense_batch(history[1], history[0], fill_value=-1,
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

    As in the reference code, the item-item branch has no user slot by
    default (the item attention already holds the target's user-item
    relation). With :obj:`item_branch` off, HLR++ is HLR.

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
