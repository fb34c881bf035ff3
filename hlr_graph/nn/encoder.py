r"""Graph encoders of the bipartite graph under HLR's relation layers: a stack
of PyG message-passing layers with layer-wise inference over the whole
graph."""
from typing import Callable, List, Optional

import torch
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import cumsum

COMBINE = ('last', 'mean')
r"""How :class:`GNNEncoder` combines its layers: the last layer's output,
or the mean of the input and every layer's output (LightGCN's
:math:`\alpha_k = 1 / (K + 1)`)."""


class GNNEncoder(torch.nn.Module):
    r"""A stack of PyG message-passing layers over the user-item graph seen as
    one node set (users ``0..U-1``, then items ``U..U+I-1``):

    .. math::
        \mathbf{x}^{(k)} = \sigma\left(\mathrm{conv}_k(\mathbf{x}^{(k-1)},
        \mathcal{E})\right), \qquad \mathbf{z} = \mathbf{x}^{(K)}
        \text{ or } \frac{1}{K + 1} \sum_{k=0}^{K} \mathbf{x}^{(k)},

    :math:`\sigma` applied between layers only. Any layer that takes
    ``(x, edge_index)`` and a bipartite ``((x_source, x_target),
    edge_index)`` works (:class:`~torch_geometric.nn.conv.LGConv` with
    ``normalize=False``, :class:`~torch_geometric.nn.conv.SAGEConv`,
    :class:`~torch_geometric.nn.conv.GATConv`, ...).

    :meth:`forward` runs on a (sampled) subgraph, :meth:`inference` on the
    whole graph, layer by layer, the targets in chunks (PyG's layer-wise
    inference): every node's embedding once, each layer reading the
    previous layer's output of every node, as exactly as :meth:`forward` on
    the same graph would compute it.

    Args:
        convs (List[MessagePassing]): The layers.
        act (Callable, optional): The activation between layers.
            (default: :obj:`None`)
        combine (str): ``'last'`` or ``'mean'`` (:obj:`COMBINE`).
            (default: ``'last'``)
    """
    def __init__(self, convs: List[MessagePassing],
                 act: Optional[Callable[[Tensor], Tensor]] = None,
                 combine: str = 'last'):
        super().__init__()
        if combine not in COMBINE:
            raise ValueError(f'combine must be one of {COMBINE}, got '
                             f"'{combine}'")
        self.convs = torch.nn.ModuleList(convs)
        self.act, self.combine = act, combine

    def reset_parameters(self):
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        r"""``[N, d']`` node embeddings of ``[N, d]`` inputs over ``[2, E]``
        edges ``(source, target)``, messages flowing from source to
        target."""
        total = x if self.combine == 'mean' else None
        for k, conv in enumerate(self.convs):
            x = self._layer(k, conv(x, edge_index))
            if total is not None:
                total = total + x
        if total is not None:
            return total / (len(self.convs) + 1)
        return x

    def _layer(self, k: int, x: Tensor) -> Tensor:
        if self.act is not None and k < len(self.convs) - 1:
            x = self.act(x)
        return x

    @torch.no_grad()
    def inference(self, x: Tensor, edge_index: Tensor,
                  chunk_size: int = 2048) -> Tensor:
        r""":meth:`forward` over the whole graph, layer by layer: at each
        layer, the targets go in chunks of :obj:`chunk_size` nodes, each
        chunk a bipartite graph from the sources of its edges (preceded by
        the chunk's own nodes, so that a layer's self-loops and root weights
        find them) to the chunk.

        Args:
            x (torch.Tensor): ``[N, d]`` every node's input.
            edge_index (torch.Tensor): ``[2, E]`` every edge ``(source,
                target)``.
            chunk_size (int): Targets per chunk.
        """
        num_nodes = x.size(0)
        source, target = edge_index[:, edge_index[1].argsort(stable=True)]
        rowptr = cumsum(torch.bincount(target, minlength=num_nodes))
        total = x if self.combine == 'mean' else None
        for k, conv in enumerate(self.convs):
            parts = []
            for start in range(0, num_nodes, chunk_size):
                end = min(start + chunk_size, num_nodes)
                first, last = int(rowptr[start]), int(rowptr[end])
                x_target = x[start:end]
                x_source = torch.cat([x_target, x[source[first:last]]])
                local = torch.stack([
                    torch.arange(end - start, end - start + last - first,
                                 device=x.device),
                    target[first:last] - start])
                parts.append(conv((x_source, x_target), local))
            x = self._layer(k, torch.cat(parts))
            if total is not None:
                total = total + x
        if total is not None:
            return total / (len(self.convs) + 1)
        return x


def encode_graph(encoder: torch.nn.Module, x: Tensor, edge_index: Tensor,
                 chunk_size: int = 2048) -> Tensor:
    r"""Every node's embedding: :meth:`GNNEncoder.inference` for a
    :class:`GNNEncoder`, one full :obj:`encoder(x, edge_index)` pass for any
    other module."""
    if isinstance(encoder, GNNEncoder):
        return encoder.inference(x, edge_index, chunk_size)
    return encoder(x, edge_index)
