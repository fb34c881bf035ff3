r"""LightGCN (He et al., SIGIR 2020) through PyG's own model."""
import warnings
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.nn.conv import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import LightGCN as PyGLightGCN
from torch_geometric.utils import to_torch_csr_tensor

from hlr_graph.data.batch import TripletBatch
from hlr_graph.models.base import Recommender


class _SymmetricSpMM(torch.autograd.Function):
    r""":math:`A X` for a ``[V, V]`` sparse CSR :math:`A` that must be
    symmetric (its gradient is wrong otherwise) and ``[V, d]`` :math:`X`,
    whose backward is :math:`A G` instead of :math:`A^\top G`: the same
    numbers without the transposed CSR product, which took 1.38 s against
    0.17 s for the three forward layers on the Yelp2018 graph, one thread
    (``benchmarks/lightgcn_propagation.py``)."""
    @staticmethod
    def forward(ctx, adj: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(adj)
        return adj @ x

    @staticmethod
    def backward(ctx, grad: Tensor):
        adj, = ctx.saved_tensors
        return None, adj @ grad


class SymmetricLGConv(LGConv):
    r"""PyG's :class:`~torch_geometric.nn.conv.LGConv` over a symmetric,
    already normalised sparse adjacency, whose backward pass is one more
    product with it (see :class:`_SymmetricSpMM`)."""
    def __init__(self):
        super().__init__(normalize=False)

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor) -> Tensor:
        return _SymmetricSpMM.apply(adj_t, x)


class LightGCN(Recommender):
    r""":class:`torch_geometric.nn.models.LightGCN` over the training graph
    (users and items as one node set), trained with its BPR
    :meth:`~torch_geometric.nn.models.LightGCN.recommendation_loss` on the
    same triplets as the other models, summed over the batch like theirs
    (:math:`\sum -\log \sigma(x^+ - x^-) + \lambda \sum \|e\|^2` over
    the batch's input rows, as BPR-MF); items are ranked by the inner product
    of the propagated embeddings. The symmetrically normalised adjacency is
    built once, as a sparse CSR matrix, and every layer is one sparse
    product, forward and backward (:class:`SymmetricLGConv`).
    Every step reads the whole table, so it trains with dense updates
    only (:meth:`sparse_refusal`).

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        edge_index (torch.Tensor): ``[2, E]`` training (user, item) pairs.
        embedding_dim (int): (default: ``64``, as the LightGCN paper)
        num_layers (int): (default: ``3``)
        weight_decay (float): The L2 penalty :math:`\lambda` of the loss on
            the batch's input embeddings. (default: ``1e-4``)
    """
    def __init__(self, num_users: int, num_items: int, edge_index: Tensor,
                 embedding_dim: int = 64, num_layers: int = 3,
                 weight_decay: float = 1e-4):
        super().__init__(num_users, num_items)
        self.weight_decay = weight_decay
        self.encoder = PyGLightGCN(num_users + num_items, embedding_dim,
                                   num_layers)
        self.encoder.convs = torch.nn.ModuleList(
            SymmetricLGConv() for _ in range(num_layers))
        user, item = edge_index
        graph = torch.stack([torch.cat([user, item + num_users]),
                             torch.cat([item + num_users, user])])
        graph, weight = gcn_norm(graph, None, num_users + num_items,
                                 add_self_loops=False)
        with warnings.catch_warnings():  # torch's "beta" notes on CSR.
            warnings.simplefilter('ignore', UserWarning)
            adj_t = to_torch_csr_tensor(graph.flip(0), weight,
                                        size=(num_users + num_items, ) * 2)
        self.register_buffer('adj_t', adj_t, persistent=False)

    @classmethod
    def sparse_refusal(cls) -> str:
        return ('its step propagates the whole embedding table over the '
                'training graph, so every row gets a gradient')

    def embeddings(self) -> Tensor:
        r"""``[num_users + num_items, d]`` propagated embeddings."""
        return self.encoder.get_embedding(self.adj_t)

    def loss(self, batch: TripletBatch) -> Tensor:
        node_id = torch.cat([batch.user, batch.pos + self.num_users,
                             batch.neg + self.num_users])
        user, pos, neg = self.embeddings().index_select(0, node_id).chunk(3)
        # PyG's loss is a mean over the batch; the trainer sums over triplets
        # (with a mean, Adam's epsilon damps the tiny gradients of big batches).
        return batch.user.numel() * self.encoder.recommendation_loss(
            (user * pos).sum(-1), (user * neg).sum(-1), node_id=node_id,
            lambda_reg=self.weight_decay)

    def score(self, user: Tensor, history: Optional[Tensor] = None) -> Tensor:
        out = self.embeddings()
        return out.index_select(0, user) @ out[self.num_users:].t()
