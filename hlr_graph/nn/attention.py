r"""Attention over a query's incoming edges (Tran et al., RecSys 2021,
section 3.2.2)."""
from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.utils import scatter, softmax

from hlr_graph.nn.inputs import check_index, check_vectors


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
    plain exponentials of the authors' ``_attentive_vectors``,
    ``huitre/models/hiers/attram.py`` in
    https://github.com/deezer/recsys21-hlr, without overflowing), and the
    sum with :func:`torch_geometric.utils.scatter`. A query without edges
    gets :math:`\bar{r} = 0`. AdaCML uses it over item vectors, with the
    target item :math:`q_v` as the query vector; the memory layers
    (:class:`~hlr_graph.nn.MemoryAttentionConv`) compute the same attention
    as message passing.
    """
    def forward(self, query: Tensor, relation: Tensor, index: Tensor,
                num_queries: int) -> Tuple[Tensor, Tensor]:
        r"""
        Args:
            query (torch.Tensor): ``[Q, d]`` query vectors (:math:`p_u`).
            relation (torch.Tensor): ``[E, d]`` edge relations
                (:math:`r_{v,j}`).
            index (torch.Tensor): ``[E]`` the query of every edge, the
                target row of ``(source, target)`` edges.
            num_queries (int): :math:`Q`.

        Returns:
            ``([Q, d] aggregated relations, [E] attention weights)``.

        Raises:
            ValueError: When the sizes disagree or an index is not in
                ``[0, Q)`` (one min and one max of :obj:`index`).
        """
        check_vectors(query, 'query', rows=num_queries,
                      rows_of='num_queries')
        if not isinstance(index, Tensor) or index.dim() != 1 or \
                index.dtype != torch.long:
            raise ValueError(f'index must be a [E] torch.long tensor, got '
                             f'{getattr(index, "dtype", type(index))}')
        check_vectors(relation, 'relation', rows=index.numel(),
                      channels=query.size(1), rows_of='one per entry of index',
                      channels_of='as query')
        check_index(index, 'index', num_queries, 'the queries (rows of '
                    'query)')
        logit = (query.index_select(0, index) * relation).sum(dim=-1)
        alpha = softmax(logit, index, num_nodes=num_queries)
        out = scatter(alpha.unsqueeze(-1) * relation, index, dim=0,
                      dim_size=num_queries, reduce='sum')
        return out, alpha
