r"""Squared Euclidean distances of the metric space, including the
translated distance of eq. (7) in the memory's coordinates."""
from torch import Tensor


def squared_distance(a: Tensor, b: Tensor) -> Tensor:
    r""":math:`\|a - b\|_2^2` along the last dimension."""
    return (a - b).pow(2).sum(dim=-1)


def pairwise_squared_distance(a: Tensor, b: Tensor) -> Tensor:
    r"""``[A, B]`` squared distances between the rows of ``[A, d]`` and
    ``[B, d]``, as one matrix product."""
    return (a.pow(2).sum(-1, keepdim=True) - 2 * a @ b.t() +
            b.pow(2).sum(-1)).clamp_(min=0)


def translation_distance(user: Tensor, item: Tensor, weight: Tensor,
                         memories: Tensor) -> Tensor:
    r"""``[U, I]`` distances :math:`\|p_u + \bar{r}_{u,i} - q_i\|_2^2`
    (eq. 7) of every user and item when every relation is a mix of
    memories, :math:`\bar{r}_{u,i} = W_{u,:,i}^\top \mathbf{M}`
    (eqs. 4-5):

    .. math::
        \|p_u - q_i\|^2 + 2 W^\top \mathbf{M} p_u
        - 2 W^\top \mathbf{M} q_i
        + W^\top \mathbf{M} \mathbf{M}^\top W,

    so that no ``[U, I, d]`` tensor is ever built (the authors' scoring in
    ``huitre/models/hiers/hlr.py``, https://github.com/deezer/recsys21-hlr,
    builds ``[U, I, L + 1, d]`` ones).

    Args:
        user (torch.Tensor): ``[U, d]`` user vectors :math:`p_u`.
        item (torch.Tensor): ``[I, d]`` item vectors :math:`q_i`.
        weight (torch.Tensor): ``[U, N, I]`` memory weights :math:`W`.
        memories (torch.Tensor): ``[N, d]`` memories :math:`\mathbf{M}`.
    """
    to_user = ((user @ memories.t()).unsqueeze(1) @ weight).squeeze(1)
    to_item = (weight * (memories @ item.t())).sum(dim=1)
    gram = (((memories @ memories.t()) @ weight) * weight).sum(dim=1)
    return (pairwise_squared_distance(user, item) + 2 * to_user -
            2 * to_item + gram).clamp_(min=0)
