r"""Relations through the key-value memory as edge messages, aggregated by
attention (paper section 3.2), written as PyG writes attention layers
(:class:`torch_geometric.nn.conv.GATConv`)."""
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax

from hlr_graph.nn.inputs import check_edge_index, check_vectors
from hlr_graph.nn.memory import KeyValueMemory

Attention = Tuple[Tensor, Tensor, Tensor]


class MemoryAttentionConv(MessagePassing):
    r"""The mechanism HLR's and HLR++'s modules share: every edge
    :math:`j \rightarrow q` from source :math:`j` into query :math:`q`
    carries the relation :math:`r_{q,j} = \mathrm{memory}(a_q, x_j)`
    (eqs. 2-4) between the query's anchor vector :math:`a_q` and the source
    vector :math:`x_j`; a query aggregates its relations by attention under
    its query vector :math:`z_q` (eqs. 5-6),

    .. math::
        \bar{r}_q = \sum_{j \rightarrow q} \alpha_{q,j} \, r_{q,j},
        \qquad \alpha_{q,j} = \frac{\exp(z_q^\top r_{q,j})}
        {\sum_{h \rightarrow q} \exp(z_q^\top r_{q,h})}.

    An optional slot adds one more edge per query, from a vector of its own.
    This is the authors' ``AttRAM`` (``huitre/models/hiers/attram.py`` in
    https://github.com/deezer/recsys21-hlr: ``_relation_vectors`` builds the
    relations, ``_attentive_vectors`` the attention), as message passing
    over ``[2, E]`` edges ``(source, target)`` = (history item, query)
    instead of padded ``[B, L]`` histories.

    A relation is a mix of memories, :math:`r_{q,j} = w_{q,j}^\top
    \mathbf{M}`, so messages travel in memory coordinates: the message is
    the key attention :math:`w_{q,j} \in \mathbb{R}^N` weighted by
    :math:`\alpha_{q,j}`, the attention logit is :math:`z_q^\top r_{q,j} =
    w_{q,j}^\top (\mathbf{M} z_q)`, and the aggregate is
    :math:`\bar{r}_q = (\sum_j \alpha_{q,j} w_{q,j})^\top \mathbf{M}`: the
    same numbers as in :math:`\mathbb{R}^d`, with :math:`N`- instead of
    :math:`d`-sized edge tensors (measured faster). As in
    :class:`~torch_geometric.nn.conv.GATConv`, :meth:`edge_update` computes
    the coefficients from ``x_i``, ``x_j`` and ``query_i`` and normalises
    them over each query's edges with :func:`torch_geometric.utils.softmax`
    (max-shifted, so it equals the authors' plain exponentials without
    overflowing); :meth:`message` weights the key attention by them, and
    ``aggr='sum'`` adds them up. A query without edges gets :math:`\bar{r}
    = 0`. Nothing is kept on the module between calls.

    Subclasses choose the roles: :class:`ItemItemRelationConv` (HLR) and
    :class:`~hlr_graph.nn.ItemAttentionConv` (HLR++).

    Args:
        memory (KeyValueMemory): The memory, shared with other modules.
    """
    def __init__(self, memory: KeyValueMemory):
        super().__init__(aggr='sum', node_dim=0)
        self.memory = memory

    def check_inputs(self, x: Sequence[Tensor], user: Tensor,
                     edge_index: Tensor):
        r"""Raises :class:`ValueError`, naming the argument, the bound and
        the offending value, unless :obj:`x` is a pair of ``[S, d]`` and
        ``[Q, d]`` tensors, :obj:`user` is ``[Q, d]`` (:math:`d` the
        memory's) and :obj:`edge_index` a ``[2, E]`` :obj:`torch.long`
        tensor of edges ``(source, target)`` = (history item, query) with
        sources below :math:`S` and targets below :math:`Q`. Costs one min
        and one max per row of :obj:`edge_index`."""
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            raise ValueError(f'x must be a pair (history item vectors [S, '
                             f'd], target item vectors [Q, d]), got '
                             f'{type(x).__name__}')
        channels, (items, target) = self.memory.channels, x
        check_vectors(items, 'x[0] (history items)', channels=channels,
                      channels_of='the memory size')
        check_vectors(user, 'user', channels=channels,
                      channels_of='the memory size')
        check_vectors(target, 'x[1] (target items)', rows=user.size(0),
                      channels=channels, rows_of='one per row of user',
                      channels_of='the memory size')
        check_edge_index(edge_index, (items.size(0), user.size(0)),
                         source='x[0] (history items)',
                         target='the queries (rows of user)')

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
            edge_index (torch.Tensor): ``[2, E]`` edges ``(source, target)``
                = (source vector, query), checked by the caller.
            slot (torch.Tensor, optional): ``[Q, d]`` the source vector of
                one extra edge per query.
            return_attention_weights (bool): Also return ``(edge_index,
                alpha, weight)``: the edges (the slot edges last), their
                ``[E']`` attention weights :math:`\alpha` and their
                ``[E', N]`` key attention :math:`w` over the memory (eq. 3).

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
        size = (source.size(0), num_queries)
        memories = self.memory.memories
        # edge_updater_type: (x: PairTensor, query: Tensor)
        weight, alpha = self.edge_updater(edge_index, x=(source, anchor),
                                          query=query @ memories.t(),
                                          size=size)
        # propagate_type: (weight: Tensor, alpha: Tensor)
        out = self.propagate(edge_index, weight=weight, alpha=alpha,
                             size=size)
        out = out @ memories  # Eq. 4 after eq. 5.
        if return_attention_weights:
            return out, (edge_index, alpha, weight)
        return out

    def edge_update(self, x_i: Tensor, x_j: Tensor, query_i: Tensor,
                    index: Tensor, ptr: Optional[Tensor],
                    size_i: Optional[int]) -> Tuple[Tensor, Tensor]:
        r"""``([E, N] key attention w, [E] attention alpha)`` of every edge:
        :math:`w_{q,j} = \mathrm{softmax}(\mathbf{K} (a_q \odot x_j) /
        \tau)` (eqs. 2-3), and :math:`\alpha_{q,j}`, the softmax over the
        query's edges of :math:`w_{q,j}^\top (\mathbf{M} z_q) = z_q^\top
        r_{q,j}` (eq. 6), with ``query_i`` the rows :math:`\mathbf{M}
        z_q`."""
        weight = self.memory.attention(x_i, x_j)
        alpha = (query_i * weight).sum(dim=-1)
        return weight, softmax(alpha, index, ptr, size_i)

    def message(self, weight: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * weight

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.memory})'


class ItemItemRelationConv(MemoryAttentionConv):
    r"""HLR's item-item relations and user attention (Tran et al., RecSys
    2021, eqs. 2-6): for query :math:`(u, v)` and each history item
    :math:`j \in \mathcal{N}_u`, an edge :math:`j \rightarrow (u, v)`
    carries

    .. math::
        r_{v,j} = \mathrm{memory}(q_v, q_j), \quad
        \bar{r}_{u,v} = \sum_j \alpha(u, v, j) \, r_{v,j}, \quad
        \alpha(u, v, j) \propto \exp(p_u^\top r_{v,j}).

    With :obj:`user_slot` (``catex`` in the authors' code,
    ``huitre/models/hiers/attram.py`` and ``hlr.py`` in
    https://github.com/deezer/recsys21-hlr), the user is one more member of
    its own history: the edge :math:`u \rightarrow (u, v)` carries the
    user-item relation :math:`r_{v,u} = \mathrm{memory}(q_v, p_u)`, LRML's
    relation, from the same memory.

    Args:
        memory (KeyValueMemory): The memory.
        user_slot (bool): Add the user slot. (default: :obj:`True`, as the
            authors' code)
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
            edge_index (torch.Tensor): ``[2, E]`` edges ``(source,
                target)`` = (history item, query): rows of ``x[0]`` and of
                :obj:`user`.
            return_attention_weights (bool): Also return the edges (user
                slots last), their attention weights and their key attention
                (see :meth:`attend`).

        Returns:
            ``[Q, d]`` user-item relations :math:`\bar{r}_{u,v}`.

        Raises:
            ValueError: When the sizes disagree or an index is out of range
                (:meth:`check_inputs`).
        """
        self.check_inputs(x, user, edge_index)
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
        :math:`W = \sum_c (\alpha_c / z_c) \, e_c`. Nothing of size
        :math:`U \times I \times d` is built (the authors' scoring,
        ``huitre/models/hiers/hlr.py``, builds several ``[U, I, L + 1, d]``
        tensors per chunk of users).

        Under autograd (training on many negatives per query,
        :meth:`~hlr_graph.models.RelationalCML.negative_distances`) it works
        out of place; without, in place.

        Args:
            item (torch.Tensor): ``[I, d]`` candidate items of every user, or
                ``[U, I, d]``: each user's own candidates.
            history (torch.Tensor): ``[U, L, d]`` history items, padded.
            mask (torch.Tensor): ``[U, L]`` which history slots are real.
            user (torch.Tensor): ``[U, d]`` users.
        """
        if self.user_slot:
            history = torch.cat([user.unsqueeze(1), history], dim=1)
            mask = torch.cat([mask.new_ones(mask.size(0), 1), mask], dim=1)
        keys, memories = self.memory.scaled_keys, self.memory.memories
        (num_users, num_slots, dim), num_items = history.shape, item.size(-2)
        num_keys = keys.size(0)
        in_place = not torch.is_grad_enabled()
        slot_keys = history.unsqueeze(1) * keys.unsqueeze(1)  # [U, N, S, d]
        if item.dim() == 2:
            exp = slot_keys.reshape(-1, dim) @ item.t()
        else:  # Each user's own candidates: one product per user.
            exp = slot_keys.reshape(num_users, -1, dim) @ item.transpose(1, 2)
        exp = exp.view(num_users, num_keys, num_slots * num_items)
        exp = _exp_over_keys(exp, item, history, keys, in_place)
        # Softmax normaliser z and p_u . r unnormalised, in one product:
        rows = torch.stack([user.new_ones(num_users, num_keys),
                            user @ memories.t()], dim=1)  # [U, 2, N]
        norm, logit = (rows @ exp).view(num_users, 2, num_slots,
                                        num_items).unbind(1)
        logit = (logit / norm).masked_fill_(~mask.unsqueeze(-1), -torch.inf)
        alpha = torch.softmax(logit, dim=1)  # [U, S, I]
        alpha = alpha.nan_to_num_(0.0) if in_place else alpha.nan_to_num(0.0)
        exp = exp.view(num_users, num_keys, num_slots, num_items)
        scale = (alpha / norm).unsqueeze(1)
        return (exp.mul_(scale) if in_place else exp * scale).sum(dim=2)


def _exp_over_keys(logit: Tensor, item: Tensor, slot: Tensor,
                   keys: Tensor, in_place: bool = True) -> Tensor:
    r""":math:`\exp` of ``[U, N, X]`` key logits (in place unless
    :obj:`in_place` is :obj:`False`), shifted by their
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
        shift = logit.amax(dim=1, keepdim=True)
        logit = logit.sub_(shift) if in_place else logit - shift
    return logit.exp_() if in_place else logit.exp()
