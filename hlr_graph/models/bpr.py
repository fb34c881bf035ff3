r"""Matrix factorisation with Bayesian Personalised Ranking (Rendle et al.,
UAI 2009), trained with Adam."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding

from hlr_graph.data.batch import TripletBatch
from hlr_graph.models.base import Recommender


class BPRMF(Recommender):
    r"""Scores :math:`x_{u,v} = p_u^\top q_v`, trained on the same triplets
    as the metric models with

    .. math::
        \sum_{(u, v, v^-)} -\log \sigma(x_{u,v} - x_{u,v^-})
        + \lambda (\|p_u\|^2 + \|q_v\|^2 + \|q_{v^-}\|^2),

    summed over the batch, the usual mini-batch form of BPR's L2 penalty.
    A step reads only the batch's rows (embedding lookups), so sparse
    updates apply (:meth:`~hlr_graph.models.Recommender.sparse_gradients_`).

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        embedding_dim (int): The factor size. (default: ``100``)
        weight_decay (float): :math:`\lambda`. (default: ``1e-4``)
    """
    sparse_tables = ('user_emb', 'item_emb')

    def __init__(self, num_users: int, num_items: int,
                 embedding_dim: int = 100, weight_decay: float = 1e-4):
        super().__init__(num_users, num_items)
        self.weight_decay = weight_decay
        self.user_emb = Embedding(num_users, embedding_dim)
        self.item_emb = Embedding(num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self):
        for emb in (self.user_emb, self.item_emb):
            torch.nn.init.normal_(emb.weight, std=0.1)

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        r"""``[B]`` scores :math:`x_{u,v}`."""
        return (self.user_emb(user) * self.item_emb(item)).sum(-1)

    def loss(self, batch: TripletBatch) -> Tensor:
        p = self.user_emb(batch.user)
        pos, neg = self.item_emb(torch.cat([batch.pos, batch.neg])).chunk(2)
        difference = (p * (pos - neg)).sum(-1)
        penalty = p.pow(2).sum() + pos.pow(2).sum() + neg.pow(2).sum()
        return F.softplus(-difference).sum() + self.weight_decay * penalty

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        return self.user_emb(user) @ self.item_emb.weight.t()
