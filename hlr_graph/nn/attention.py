r"""Attention over a query's relation edges (paper section 3.2.2)."""
from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.utils import scatter, softmax


class UserAttention(torch.nn.Module):
    r"""The user attention module: for query :math:`(u, v)` with incoming
    relation edges :math:`r_{v,j}`, :math:`j \in \mathcal{N}_u`,

    .. math::
        \alpha(u, v, j) = \frac{\exp(p_u^\top r_{v,j})}
        {\sum_{h \in \mathcal{N}_u} \exp(p_u^\top r_{v,h})}
        \quad \text{(eq. 6)}, \qquad
        \bar{r}_{u,v} = \sum_{j \in \mathcal{N}_u} \alpha(u, v, j) \,
        r_{v,j} \quad \text{(eq. 5)}.

    The softmax runs over each query's edges with
    :func:`torch_geometric.utils.softmax` (max-shifted, so it equals the
    reference's plain exponentials without overflowing), and the sum with
    :func:`torch_geometric.utils.scatter`. A query without edges gets
    :math:`\bar{r} = 0`. HLR++'s item attention uses the same aggregation
    with the target item :math:`q_v` as the query vector. Any linear
    coordinates of relations and queries work: the memory layers pass
    :math:`w_{v,j}` and :math:`\mathbf{M} p_u`, whose dot product is
    :math:`p_u^\top r_{v,j}`.
    """
    def forward(self, query: Tensor, relation: Tensor, index: Tensor,
                num_queries: int) -> Tuple[Tensor, Tensor]:
        r"""
        Args:
            query (torch.Tensor): ``[Q, d]`` query vectors (:math:`p_u`).
            relation (torch.Tensor): ``[E, d]`` edge relations
                (:math:`r_{v,j}`).
            index (torch.Tensor): ``[E]`` the query of every edge.
            num_queries (int): :math:`Q`.

        Returns:
            ``([Q, d] aggregated relations, [E] attention weights)``.
        """
        logit = (query.index_select(0, index) * relation).sum(dim=-1)
        alpha = softmax(logit, index, num_nodes=num_queries)
        out = scatter(alpha.unsqueeze(-1) * relation, index, dim=0,
                      dim_size=num_queries, reduce='sum')
        return out, alpha
