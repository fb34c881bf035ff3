r"""Recommendations for a few users from known interactions: the histories
a model reads are drawn here, so that the model itself samples nothing."""
from typing import Any, Optional, Tuple, Union

import torch
from torch import Tensor

from hlr_graph.data.index import UserItemIndex
from hlr_graph.loader.history import HistorySampler
from hlr_graph.models.base import Recommender


@torch.no_grad()
def recommend(
    model: Recommender,
    user: Tensor,
    k: int,
    edge_index: Tensor,
    exclude: Optional[Tensor] = None,
    generator: Optional[torch.Generator] = None,
    explain: bool = False,
) -> Union[Tuple[Tensor, Tensor], Tuple[Tensor, Tensor, Any]]:
    r"""The top-:obj:`k` items of every user
    (:meth:`~hlr_graph.models.Recommender.recommend`), with the users'
    histories drawn from :obj:`edge_index` by
    :class:`~hlr_graph.loader.HistorySampler` with the model's
    :attr:`~hlr_graph.models.Recommender.max_history` and
    :attr:`~hlr_graph.models.Recommender.history_sampling`, for models that
    read them.

    Args:
        model (Recommender): The model.
        user (torch.Tensor): ``[U]`` users.
        k (int): The list length.
        edge_index (torch.Tensor): ``[2, E]`` known interactions, edges
            ``(source, target)`` = (user, item), such as the training ones:
            the users' histories are drawn from them, and they are left out
            of the lists by default.
        exclude (torch.Tensor, optional): ``[2, X]`` (user, item) edges
            never recommended (default: :obj:`edge_index`; pass an empty
            ``[2, 0]`` tensor to leave nothing out).
        generator (torch.Generator, optional): Draws the histories.
        explain (bool): Also return the model's explanations
            (:meth:`~hlr_graph.models.Recommender.explain`).
    """
    known = UserItemIndex(edge_index.cpu(), model.num_users, model.num_items)
    history = None
    if model.max_history != 0:
        history = HistorySampler(known, model.max_history,
                                 model.history_sampling).sample_rows(
                                     user.cpu(), generator)
    return model.recommend(user, k, known if exclude is None else exclude,
                           history, explain)
