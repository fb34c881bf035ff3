r"""Relations through the key-value memory as edge messages, aggregated by
attention (paper section 3.2)."""
from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing

from hlr_graph.nn.attention import UserAttention
from hlr_graph.nn.memory import KeyValueMemory

Attention = Tuple[Tensor, Tensor, Tensor]


class MemoryAttentionConv(MessagePassing):
    r"""The mechanism HLR's and HLR++'s modules share: every edge
    :math:`j \rightarrow q` into query :math:`q` carries the relation
    :math:`r_{q,j} = \mathrm{memory}(a_q, x_j)` (eqs. 2-4) between the
    query's anchor vector :math:`a_q` and the source vector :math:`x_j`;
    a query aggregates its relations with :class:`UserAttention` under its
    query vector :math:`z_q` (eqs. 5-6). An optional slot adds one more edge
    per query, from a vector of its own.

    A relation is a mix of memories, :math:`r_{q,j} = w_{q,j}^\top
    \mathbf{M}`, so messages travel in memory coordinates: the message is
    the key attention :math:`w_{q,j} \in \mathbb{R}^N`, the attention logit
    :math:`z_q^\top r_{q,j} = w_{q,j}^\top (\mathbf{M} z_q)`, and the
    aggregate :math:`\bar{r}_q = (\sum_j \alpha_{q,j} w_{q,j})^\top
    \mathbf{M}`: the same numbers as in :math:`\mathbb{R}^d`, with
    :math:`N`- instead of :math:`d`-sized edge tensors.

    Subclasses choose the roles: :class:`ItemItemRelationConv` (HLR) and
    :class:`~hlr_graph.nn.ItemAttentionConv` (HLR++).

    Args:
        memory (KeyValueMemory): The memory, shared with other modules.
    """
    def __init__(self, memory: KeyValueMemory):
        super().__init__(aggr=None, node_dim=0)
        self.memory = memory
        self.attention = UserAttention()
        self._alpha: Optional[Tensor] = None
        self._weight: Optional[Tensor] = None

    def attend(
        self,
        source: Tensor,
        anchor: Tensor,
        query: Tensor,
        edge_index: Tensor,
        slot: Optional[Tensor] = None,
        return_attention_weights: bool = False,
    ) -> Union[Tensor, Tuple[Tensor, Attention]]:
        r"""
        Args:
            source (torch.Tensor): ``[S, d]`` source vectors :math:`x_j`.
            anchor (torch.Tensor): ``[Q, d]`` anchors :math:`a_q`.
            query (torch.Tensor): ``[Q, d]`` query vectors :math:`z_q`.
            edge_index (torch.Tensor): ``[2, E]`` edges (source, query).
            slot (torch.Tensor, optional): ``[Q, d]`` the source vector of
                one extra edge per query.
            return_attention_weights (bool): Also return ``(edge_index,
                alpha, weight)``: the edges (the slot edges last), their
                ``[E']`` attention weights and their ``[E', N]`` key
                attention :math:`w` over the memory (eq. 3).

        Returns:
            ``[Q, d]`` aggregated relations :math:`\bar{r}_q`.
        """
        num_queries = anchor.size(0)
        if slot is not None:
            loop = torch.arange(num_queries, device=edge_index.device)
            edge_index = torch.cat(
                [edge_index, torch.stack([loop + source.size(0), loop])],
                dim=1)
            source = torch.cat([source, slot], dim=0)
        self._weight = torch.empty(0) if return_attention_weights else None
        out = self.propagate(edge_index, x=(source, anchor), query=query,
                             size=(source.size(0), num_queries))
        alpha, weight, self._alpha, self._weight = (self._alpha,
                                                    self._weight, None, None)
        if return_attention_weights:
            return out, (edge_index, alpha, weight)
        return out

    def message(self, x_i: Tensor, x_j: Tensor) -> Tensor:
        weight = self.memory.attention(x_i, x_j)  # [E, N], eqs. 2-3.
        if self._weight is not None:  # Kept for explanations only.
            self._weight = weight
        return weight

    def aggregate(self, inputs: Tensor, index: Tensor, dim_size: int,
                  query: Tensor) -> Tensor:
        memories = self.memory.memories
        out, self._alpha = self.attention(query @ memories.t(), inputs, index,
                                          dim_size)
        return out @ memories  # Eq. 4 after eq. 5.

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.memory})'


class ItemItemRelationConv(MemoryAttentionConv):
    r"""HLR's item-item relations and user attention (eqs. 2-6): for query
    :math:`(u, v)` and each history item :math:`j \in \mathcal{N}_u`,

    .. math::
        r_{v,j} = \mathrm{memory}(q_v, q_j), \quad
        \bar{r}_{u,v} = \sum_j \alpha(u, v, j) \, r_{v,j}, \quad
        \alpha(u, v, j) \propto \exp(p_u^\top r_{v,j}).

    With :obj:`user_slot` (the reference code's ``catex``), the user is one
    more member of its own history: the edge :math:`u \rightarrow (u, v)`
    carries the user-item relation :math:`r_{v,u} = \mathrm{memory}(q_v,
    p_u)`, LRML's relation, from the same memory.

    Args:
        memory (KeyValueMemory): The memory.
        user_slot (bool): Add the user slot. (default: :obj:`True`, as the
            reference code)
    """
    def __init__(self, memory: KeyValueMemory, user_slot: bool = True):
        super().__init__(memory)
        self.user_slot = user_slot

    def forward(self, x: Tuple[Tensor, Tensor], user: Tensor,
                edge_index: Tensor, return_attention_weights: bool = False
                ) -> Union[Tensor, Tuple[Tensor, Attention]]:
        r"""
        Args:
            x (Tuple[torch.Tensor, torch.Tensor]): ``[S, d]`` vectors of the
                history items (such as the whole item table) and ``[Q, d]``
                target items :math:`q_v` of the queries.
            user (torch.Tensor): ``[Q, d]`` users :math:`p_u` of the queries.
            edge_index (torch.Tensor): ``[2, E]`` history edges (item,
                query).
            return_attention_weights (bool): Also return the edges (user
                slots last), their attention weights and their key attention
                (see :meth:`attend`).

        Returns:
            ``[Q, d]`` user-item relations :math:`\bar{r}_{u,v}`.
        """
        items, target = x
        return self.attend(items, target, user, edge_index,
                           user if self.user_slot else None,
                           return_attention_weights)

    def dense(self, item: Tensor, history: Tensor, mask: Tensor,
              user: Tensor) -> Tensor:
        r"""The exact relations of :meth:`forward` for every (user, item)
        pair at once, as ``[U, N, I]`` memory weights :math:`W`, with
        :math:`\bar{r}_{u,i} = W_{u,:,i}^\top \mathbf{M}` (eqs. 2-6).

        The key logits of all items against all slots are one matrix
        product, :math:`(q_i \odot c)^\top k_n / \tau = q_i^\top (c \odot
        k_n / \tau)`;
        the attention logits need no relation vector,
        :math:`p_u^\top r_{i,c} = w_{i,c}^\top \mathbf{M} p_u`; and the
        softmax over the memory is never divided out: with
        :math:`e = \exp(\text{logits})` and :math:`z = \sum_n e_n`,
        :math:`W = \sum_c (\alpha_c / z_c) \, e_c` (reference section 7).
        Nothing of size :math:`U \times I \times d` is built.

        Args:
            item (torch.Tensor): ``[I, d]`` candidate items.
            history (torch.Tensor): ``[U, L, d]`` history items, padded.
            mask (torch.Tensor): ``[U, L]`` which history slots are real.
            user (torch.Tensor): ``[U, d]`` users.
        """
        if self.user_slot:
            history = torch.cat([user.unsqueeze(1), history], dim=1)
            mask = torch.cat([mask.new_ones(mask.size(0), 1), mask], dim=1)
        keys, memories = self.memory.scaled_keys, self.memory.memories
        (num_users, num_slots, dim), num_items = history.shape, item.size(0)
        num_keys = keys.size(0)
        slot_keys = history.unsqueeze(1) * keys.unsqueeze(1)  # [U, N, S, d]
        exp = (slot_keys.reshape(-1, dim) @ item.t()).view(
            num_users, num_keys, num_slots * num_items)
        exp = _exp_over_keys(exp, item, history, keys)  # [U, N, S I]
        # Softmax normaliser z and p_u . r unnormalised, in one product:
        rows = torch.stack([user.new_ones(num_users, num_keys),
                            user @ memories.t()], dim=1)  # [U, 2, N]
        norm, logit = (rows @ exp).view(num_users, 2, num_slots,
                                        num_items).unbind(1)
        logit = (logit / norm).masked_fill_(~mask.unsqueeze(-1), -torch.inf)
        alpha = torch.softmax(logit, dim=1).nan_to_num_(0.0)  # [U, S, I]
        exp = exp.view(num_users, num_keys, num_slots, num_items)
        return exp.mul_((alpha / norm).unsqueeze(1)).sum(dim=2)


def _exp_over_keys(logit: Tensor, item: Tensor, slot: Tensor,
                   keys: Tensor) -> Tensor:
    r""":math:`\exp` of ``[U, N, X]`` key logits, in place, shifted by their
    maximum over the keys only when they could overflow: with
    :obj:`keys` the scaled keys :math:`\mathbf{K} / \tau`, a logit is at
    most :math:`\|q_i\|_2 \|c\|_2 \max |\mathbf{K}| / \tau`, which stays
    small for the norm-bounded vectors of a metric space at :math:`\tau = 1`
    (a small :math:`\tau` takes the shift). Softmax is shift invariant, so
    the shift changes nothing else."""
    if logit.numel() == 0:
        return logit
    bound = (item.norm(dim=-1).max() * slot.norm(dim=-1).max() *
             keys.abs().max())
    if bound > 60:
        logit = logit.sub_(logit.amax(dim=1, keepdim=True))
    return logit.exp_()
