r"""The most-popular floor every model must beat."""
from typing import Optional

import torch
from torch import Tensor

from hlr_graph.models.base import Recommender


class MostPopular(Recommender):
    r"""Recommends the items with the most training users to everyone.
    Its scores are the training popularities, so ties are broken by item id
    in the ranking."""
    def __init__(self, num_users: int, num_items: int):
        super().__init__(num_users, num_items)
        self.register_buffer('popularity', torch.zeros(num_items))

    def fit(self, edge_index: Tensor):
        self.popularity = torch.bincount(
            edge_index[1], minlength=self.num_items).float().to(
                self.popularity.device)
        return self

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        return self.popularity.expand(user.numel(), -1).clone()
