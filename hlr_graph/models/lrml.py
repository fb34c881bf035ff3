r"""Latent Relational Metric Learning (Tay et al., WWW 2018)."""
from torch import Tensor

from hlr_graph.models.relational import RelationalCML


class LRML(RelationalCML):
    r"""A user-item relation from the key-value memory,

    .. math::
        r_{u,v} = \mathrm{memory}(p_u, q_v), \quad
        d(u, v) = \|p_u + r_{u,v} - q_v\|_2^2,

    trained with CML's hinge loss, as the authors' code implements it
    (``huitre/models/trans/lrml.py`` in
    https://github.com/deezer/recsys21-hlr; with its :obj:`copy` and
    :obj:`clip_ram` options, no regulariser). It is HLR's user slot alone.
    That code ranks by :math:`-\sqrt{d}`, which orders items as
    :math:`-d` does.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        **kwargs: :obj:`embedding_dim`, :obj:`num_memories`, :obj:`margin`,
            :obj:`copy`, :obj:`clip_ram`, :obj:`max_norm`, :obj:`temperature` of
            :class:`~hlr_graph.models.relational.RelationalCML`.
    """
    def translate(self, users: Tensor, items: Tensor, user: Tensor,
                  target: Tensor, history: Tensor) -> Tensor:
        p = users.index_select(0, user)
        return p + self.memory(p, items.index_select(0, target))

    def memory_weights(self, item: Tensor, history: Tensor, mask: Tensor,
                       user: Tensor) -> Tensor:
        r"""The key attention of every (user, item) pair, ``[U, N, I]``:
        :math:`(p_u \odot q_i)^\top k_n / \tau = q_i^\top (p_u \odot k_n /
        \tau)`."""
        keys = self.memory.scaled_keys
        if item.dim() == 3:  # [U, I, d]: each user's own candidates.
            logit = (user.unsqueeze(1) * keys) @ item.transpose(1, 2)
        else:
            logit = (user.unsqueeze(1) * keys).reshape(
                -1, user.size(1)) @ item.t()
        return logit.view(user.size(0), keys.size(0), -1).softmax(dim=1)
