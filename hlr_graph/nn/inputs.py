r"""Checks of the inputs of the layers, so that a wrong size or a wrong edge
order fails with a message naming the argument instead of an indexing error
deep inside message passing, or no error at all.

Edge indices follow PyG's ``(source, target)`` order, messages flowing from
source to target; for the history edges of this package the source is a
history item and the target a query (a (user, target item) pair).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor


def check_index(index: Tensor, name: str, bound: int, what: str):
    r"""Raises :class:`ValueError` unless every entry of the integer tensor
    :obj:`index` lies in ``[0, bound)``; costs one min and one max.

    Args:
        index (torch.Tensor): The indices.
        name (str): The argument, as the message names it (``'edge_index[0]'``).
        bound (int): The number of rows indexed.
        what (str): What is indexed (``'x[0] (history items)'``).
    """
    if index.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(index))
    if low < 0 or high >= bound:
        bad = low if low < 0 else high
        raise ValueError(f'{name} holds {bad}, out of range for {what}: '
                         f'expected indices in [0, {bound})')


def check_edge_index(edge_index: Tensor, size: Tuple[int, int],
                     source: str, target: str, name: str = 'edge_index'):
    r"""Raises :class:`ValueError` unless :obj:`edge_index` is a ``[2, E]``
    :obj:`torch.long` tensor of ``(source, target)`` edges with sources in
    ``[0, size[0])`` and targets in ``[0, size[1])``. Costs one min and one
    max per row (a device synchronisation on a GPU).

    Args:
        edge_index (torch.Tensor): The edges.
        size (Tuple[int, int]): The numbers of source and target vectors.
        source (str): What sources index, for the message
            (``'x[0] (history items)'``).
        target (str): What targets index (``'user (queries)'``).
        name (str): The argument. (default: ``'edge_index'``)
    """
    if (not isinstance(edge_index, Tensor) or edge_index.dim() != 2
            or edge_index.size(0) != 2 or edge_index.dtype != torch.long):
        got = (f'a {list(edge_index.shape)} {edge_index.dtype} tensor'
               if isinstance(edge_index, Tensor) else
               type(edge_index).__name__)
        raise ValueError(f'{name} must be a [2, E] torch.long tensor of '
                         f'(source, target) edges, got {got}')
    if edge_index.numel() == 0:
        return
    low, high = torch.aminmax(edge_index, dim=1)
    low, high = low.tolist(), high.tolist()
    for row, (what, bound) in enumerate(((source, size[0]),
                                         (target, size[1]))):
        if low[row] < 0 or high[row] >= bound:
            bad = low[row] if low[row] < 0 else high[row]
            raise ValueError(
                f'{name}[{row}] holds {bad}, out of range for {what}: '
                f'expected indices in [0, {bound}) (edges are (source, '
                f'target) = (history item, query))')


def check_vectors(tensor: Tensor, name: str, rows: Optional[int] = None,
                  channels: Optional[int] = None, rows_of: str = '',
                  channels_of: str = ''):
    r"""Raises :class:`ValueError` unless :obj:`tensor` is a 2-D tensor with
    :obj:`rows` rows and :obj:`channels` columns (either :obj:`None`: any).

    Args:
        tensor (torch.Tensor): The vectors.
        name (str): The argument, as the message names it.
        rows (int, optional): The expected number of rows.
        channels (int, optional): The expected number of columns.
        rows_of (str): Where :obj:`rows` comes from, for the message
            (``'one per row of user'``).
        channels_of (str): Where :obj:`channels` comes from
            (``'the memory size'``).
    """
    if not isinstance(tensor, Tensor) or tensor.dim() != 2:
        got = (f'{tensor.dim()} dimensions' if isinstance(tensor, Tensor)
               else type(tensor).__name__)
        raise ValueError(f'{name} must be a 2-D [rows, channels] tensor, got '
                         f'{got}')
    if rows is not None and tensor.size(0) != rows:
        raise ValueError(f'{name} has {tensor.size(0)} rows, expected {rows}'
                         f' ({rows_of})')
    if channels is not None and tensor.size(1) != channels:
        raise ValueError(f'{name} has {tensor.size(1)} channels, expected '
                         f'{channels} ({channels_of})')
