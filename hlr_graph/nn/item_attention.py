r"""HLR++'s item attention module (Tran et al., RecSys 2021, section 3.3),
as the authors' code computes it (``JUPITER``,
``huitre/models/hiers/jupiter.py`` in
https://github.com/deezer/recsys21-hlr)."""
from typing import Tuple, Union

import torch
from torch import Tensor

from hlr_graph.nn.relation import Attention, MemoryAttentionConv


class ItemAttentionConv(MemoryAttentionConv):
    r"""The item attention module of HLR++, symmetric to the user attention
    of :class:`ItemItemRelationConv`: for query :math:`(u, v)` it builds
    user-item relations between the user and the target and every history
    item,

    .. math::
        r_{u,c} = \mathrm{memory}(p_u, q_c), \quad
        c \in \{v\} \cup \mathcal{N}_u,

    and attends over them with the target item as the query vector,

    .. math::
        \bar{r}^I_{u,v} = \sum_c \beta(u, v, c) \, r_{u,c}, \quad
        \beta(u, v, c) \propto \exp(q_v^\top r_{u,c}).

    HLR++ adds it to the item-item relations (eq. 9), sharing the memory.
    The paper describes :math:`\bar{r}^I` as an average over the item's
    users; the authors' code (the "preference" branch of ``JUPITER``,
    ``huitre/models/hiers/jupiter.py``) uses no other user, and neither
    does this module. Unlike that code, no padding slot leaks into the
    softmax of the item-item branch.

    As messages: edges ``(source, target)`` = (history item, query), and
    one slot edge per query from its target item, each carrying the
    relation :math:`r_{u,c}` between the query's user (the anchor) and the
    source item, under the query vector :math:`q_v`.

    Args:
        memory (KeyValueMemory): The memory shared with the item-item
            relations.
    """
    def forward(self, x: Tuple[Tensor, Tensor], user: Tensor,
                edge_index: Tensor, return_attention_weights: bool = False
                ) -> Union[Tensor, Tuple[Tensor, Attention]]:
        r"""
        Args:
            x (Tuple[torch.Tensor, torch.Tensor]): ``[S, d]`` vectors of the
                history items and ``[Q, d]`` target items :math:`q_v`.
            user (torch.Tensor): ``[Q, d]`` users :math:`p_u`.
            edge_index (torch.Tensor): ``[2, E]`` edges ``(source,
                target)`` = (history item, query): rows of ``x[0]`` and of
                :obj:`user`.
            return_attention_weights (bool): Also return the edges (target
                slots last), their attention weights and their key attention
                (see :meth:`MemoryAttentionConv.attend`).

        Returns:
            ``[Q, d]`` relations :math:`\bar{r}^I_{u,v}`.

        Raises:
            ValueError: When the sizes disagree or an index is out of range
                (:meth:`MemoryAttentionConv.check_inputs`).
        """
        self.check_inputs(x, user, edge_index)
        items, target = x
        return self.attend(items, user, target, edge_index, target,
                           return_attention_weights)

    def dense(self, item: Tensor, history: Tensor, mask: Tensor,
              user: Tensor) -> Tensor:
        r"""The exact relations of :meth:`forward` for every (user, item)
        pair, as ``[U, N, I]`` memory weights (see
        :meth:`ItemItemRelationConv.dense`). History slots do not depend on
        the item: their relations are computed once per user; the target
        slot takes one ``[U N, d] x [d, I]`` product.

        Args:
            item (torch.Tensor): ``[I, d]`` candidate items of every user, or
                ``[U, I, d]``: each user's own candidates.
            history (torch.Tensor): ``[U, L, d]`` history items, padded.
            mask (torch.Tensor): ``[U, L]`` which history slots are real.
            user (torch.Tensor): ``[U, d]`` users.
        """
        keys, memories = self.memory.scaled_keys, self.memory.memories
        num_users, num_keys = user.size(0), keys.size(0)
        item_t = item.t() if item.dim() == 2 else item.transpose(1, 2)
        history_weight = self.memory.attention(user.unsqueeze(1), history)
        history_logit = (history_weight @ memories) @ item_t  # [U, L, I]
        if item.dim() == 2:
            user_keys = (user.unsqueeze(1) * keys).reshape(-1, user.size(1))
            target_logit = user_keys @ item_t
        else:
            target_logit = (user.unsqueeze(1) * keys) @ item_t
        target_weight = target_logit.view(
            num_users, num_keys, item.size(-2)).softmax(dim=1)  # [U, N, I]
        target_logit = (target_weight * (memories @ item_t)).sum(dim=1)
        logit = torch.cat([
            target_logit.unsqueeze(1),
            history_logit.masked_fill(~mask.unsqueeze(-1), -torch.inf)
        ], dim=1)
        alpha = torch.softmax(logit, dim=1)  # [U, 1 + L, I]
        return (alpha[:, :1] * target_weight +
                history_weight.transpose(1, 2) @ alpha[:, 1:])
