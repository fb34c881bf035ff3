r"""MF-ALS: matrix factorisation of implicit feedback by alternating least
squares (Hu et al., ICDM 2008), fitted by the ``implicit`` library."""
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from hlr_graph.models.base import Recommender


class ALS(Recommender):
    r"""Scores :math:`x_u^\top y_v` of factors minimising

    .. math::
        \sum_{u, v} c_{u,v} (p_{u,v} - x_u^\top y_v)^2 +
        \lambda (\sum_u \|x_u\|^2 + \sum_v \|y_v\|^2),

    with preference :math:`p_{u,v} = 1` on training interactions, confidence
    :math:`c_{u,v} = \alpha` there and :math:`1` elsewhere. The authors' code
    (``wals.py`` in https://github.com/deezer/recsys21-hlr) uses
    :math:`\alpha = 1` (no confidence scaling), :math:`\lambda = 30` (20 on
    Yelp) and 20 iterations. Fitted by
    :class:`implicit.cpu.als.AlternatingLeastSquares`, an optional
    dependency: ``pip install "hlr_graph[als]"``.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        embedding_dim (int): The factor size. (default: ``100``)
        regularization (float): :math:`\lambda`. (default: ``30``)
        alpha (float): :math:`\alpha`. (default: ``1``)
        iterations (int): ALS sweeps. (default: ``20``)

    The initial factors are drawn from a seed taken from torch's generator,
    so :func:`torch.manual_seed` fixes the fit. Each least-squares step runs
    ``implicit``'s default three conjugate-gradient iterations, as the
    authors' fit did (:attr:`use_cg`; ``False`` solves exactly).
    """
    use_cg: bool = True

    def __init__(self, num_users: int, num_items: int,
                 embedding_dim: int = 100, regularization: float = 30.0,
                 alpha: float = 1.0, iterations: int = 20):
        super().__init__(num_users, num_items)
        self.embedding_dim, self.regularization = embedding_dim, \
            regularization
        self.alpha, self.iterations = alpha, iterations
        self.register_buffer('user_factors',
                             torch.zeros(num_users, embedding_dim))
        self.register_buffer('item_factors',
                             torch.zeros(num_items, embedding_dim))

    def fit(self, edge_index: Tensor):
        try:
            from implicit.cpu.als import AlternatingLeastSquares
            from scipy.sparse import csr_matrix
        except ImportError as e:
            raise ImportError('ALS needs the implicit library: pip install '
                              '"hlr_graph[als]"') from e
        user, item = edge_index.cpu().numpy()
        matrix = csr_matrix((np.ones(len(user), dtype=np.float32),
                             (user, item)),
                            shape=(self.num_users, self.num_items))
        model = AlternatingLeastSquares(
            factors=self.embedding_dim, regularization=self.regularization,
            alpha=self.alpha, iterations=self.iterations,
            use_cg=self.use_cg,
            random_state=int(torch.randint(2**31 - 1, ())))
        model.fit(matrix, show_progress=False)
        device = self.user_factors.device
        self.user_factors = torch.from_numpy(model.user_factors).to(device)
        self.item_factors = torch.from_numpy(model.item_factors).to(device)
        return self

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        return self.user_factors.index_select(0, user) @ \
            self.item_factors.t()
