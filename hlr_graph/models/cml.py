r"""Collaborative Metric Learning (Hsieh et al., 2017) as the paper states it
(eq. 1)."""
from typing import Optional

import torch
from torch import Tensor
from torch.nn import Embedding

from hlr_graph.loader.triplet_loader import TripletBatch
from hlr_graph.models.base import Recommender
from hlr_graph.nn.distance import pairwise_squared_distance, squared_distance


class CML(Recommender):
    r"""Users :math:`p_u` and items :math:`q_v` in one metric space, trained
    with the hinge loss of eq. (1),

    .. math::
        \sum_{(u, v, v^-)} [\|p_u - q_v\|_2^2 - \|p_u - q_{v^-}\|_2^2 + m]_+,

    under :math:`\|p_u\|_2, \|q_v\|_2 \leq 1`, which :meth:`constrain_`
    enforces by clipping every row after each optimiser step, as the
    reference code does. As there, no covariance regulariser or WARP weight
    of the original CML is used. Items are ranked by
    :math:`-\|p_u - q_v\|_2^2`.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        embedding_dim (int): :math:`d`. (default: ``100``)
        margin (float): :math:`m`. (default: ``0.5``)
        max_norm (float): The norm bound of every row. (default: ``1.0``)
    """
    def __init__(self, num_users: int, num_items: int,
                 embedding_dim: int = 100, margin: float = 0.5,
                 max_norm: float = 1.0):
        super().__init__(num_users, num_items)
        self.margin, self.max_norm = margin, max_norm
        self.user_emb = Embedding(num_users, embedding_dim)
        self.item_emb = Embedding(num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self):
        r"""Normal(0, 1 / sqrt(d)) initialisation, as the reference code."""
        for emb in (self.user_emb, self.item_emb):
            torch.nn.init.normal_(emb.weight, std=emb.embedding_dim**-0.5)

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        r"""``[B]`` squared distances :math:`d(u, v)` of (user, item) pairs."""
        return squared_distance(self.user_emb(user), self.item_emb(item))

    def loss(self, batch: TripletBatch) -> Tensor:
        pos = self(batch.user, batch.pos)
        neg = self(batch.user, batch.neg)
        return torch.relu(pos - neg + self.margin).sum()

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        return -pairwise_squared_distance(self.user_emb(user),
                                          self.item_emb.weight)

    @torch.no_grad()
    def constrain_(self):
        for emb in (self.user_emb, self.item_emb):
            emb.weight.renorm_(p=2, dim=0, maxnorm=self.max_norm)
