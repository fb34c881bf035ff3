r"""The link-prediction loaders of training triplets: PyG's
:class:`~torch_geometric.loader.LinkLoader` with a triplet sampler, and the
same triplets drawn on the model's device."""
from typing import Iterator, Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.loader import LinkLoader
from torch_geometric.sampler import NegativeSampling

from hlr_graph.data.batch import SubgraphBatch, TripletBatch
from hlr_graph.data.graph import INTERACTS, ITEM, REV_INTERACTS, USER
from hlr_graph.loader.neighbor_sampler import TripletNeighborSampler
from hlr_graph.loader.sampler import TripletSampler


def link_sampler(edge_index: Tensor, num_users: int, num_items: int,
                 max_history: int, history_sampling: str,
                 positives: Optional[Tensor], seed: Optional[int],
                 num_neighbors: Optional[Sequence[int]], device=None,
                 num_negatives: int = 1, share_negatives: bool = False
                 ) -> Union[TripletSampler, TripletNeighborSampler]:
    r"""The sampler of both loaders: a :class:`TripletSampler`, or with
    :obj:`num_neighbors` a :class:`TripletNeighborSampler`, whose
    histories are the users' first hop, so :obj:`max_history` must then be
    ``0`` or :obj:`num_neighbors[0]` and the history uniform (and one
    negative per triplet, not shared)."""
    if num_neighbors is None:
        return TripletSampler(edge_index, num_users, num_items, max_history,
                              history_sampling, positives, seed, device,
                              num_negatives, share_negatives)
    if num_negatives != 1 or share_negatives:
        raise ValueError(f'neighbour batches hold one negative per triplet, '
                         f'not num_negatives={num_negatives}'
                         + (' shared' if share_negatives else ''))
    num_neighbors = list(num_neighbors)
    if not num_neighbors:
        raise ValueError('num_neighbors needs one fan-out per hop, got none')
    if max_history not in (0, num_neighbors[0]):
        raise ValueError(
            f"the histories of neighbour batches are the users' first hop: "
            f'max_history must be 0 or num_neighbors[0] = '
            f'{num_neighbors[0]}, got {max_history}')
    if max_history != 0 and history_sampling != 'random':
        raise ValueError(f"the first hop is drawn uniformly: history_sampling "
                         f"must be 'random' with num_neighbors, got "
                         f"'{history_sampling}'")
    return TripletNeighborSampler(edge_index, num_users, num_items,
                                  num_neighbors, positives, seed, device)


class TripletLoader(LinkLoader):
    r"""Mini-batches of (user, positive item, negative item, the user's
    sampled history) over the supervision edges :obj:`edge_label_index`,
    as :class:`~torch_geometric.data.HeteroData` mini-batches of a
    :class:`~torch_geometric.loader.LinkLoader` with a
    :class:`~hlr_graph.loader.TripletSampler`.

    Read a mini-batch with :meth:`TripletBatch.from_hetero`, or with
    :obj:`num_neighbors` with :meth:`SubgraphBatch.from_hetero` to keep its
    subgraph.

    Args:
        data (HeteroData): The graph; its ``('user', 'interacts', 'item')``
            ``edge_index`` holds the interactions histories are drawn from.
        edge_label_index (torch.Tensor, optional): ``[2, B_total]``
            supervision edges (default: the training edges themselves).
        max_history (int): The history size :math:`L`, required: ``0``
            draws no history (CML's batches), ``-1`` every item. Pass the
            model's :attr:`~hlr_graph.models.Recommender.max_history`: a
            model with relations fed batches without histories trains as
            plain CML.
        history_sampling (str): ``'random'`` or ``'unpop'``.
        positives (torch.Tensor, optional): ``[2, P]`` interactions negatives
            must avoid (default: the graph's edges).
        seed (int, optional): Seeds the shuffling and the sampler.
        num_neighbors (Sequence[int], optional): Sample the
            :math:`k`-hop subgraph around each batch's users and items with
            these fan-outs (:class:`TripletNeighborSampler`), the layout of
            :class:`~torch_geometric.loader.LinkNeighborLoader`; the
            histories are then the users' first hop. (default:
            :obj:`None`, histories only)
        **kwargs: :class:`torch.utils.data.DataLoader` arguments such as
            :obj:`batch_size`, :obj:`shuffle` or :obj:`num_workers`.
    """
    def __init__(
        self,
        data: HeteroData,
        edge_label_index: Optional[Tensor] = None,
        *,
        max_history: int,
        history_sampling: str = 'random',
        positives: Optional[Tensor] = None,
        seed: Optional[int] = None,
        num_neighbors: Optional[Sequence[int]] = None,
        **kwargs,
    ):
        num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
        edge_index = data[INTERACTS].edge_index
        graph = HeteroData()  # Only what mini-batches need to carry.
        graph[USER].num_nodes, graph[ITEM].num_nodes = num_users, num_items
        graph[INTERACTS].edge_index = edge_index
        graph[REV_INTERACTS].edge_index = edge_index.flip(0)
        if edge_label_index is None:
            edge_label_index = edge_index

        sampler = link_sampler(edge_index, num_users, num_items, max_history,
                               history_sampling, positives, seed,
                               num_neighbors)
        if seed is not None and 'generator' not in kwargs:
            kwargs['generator'] = torch.Generator().manual_seed(seed)
        super().__init__(graph, sampler,
                         edge_label_index=(INTERACTS, edge_label_index),
                         neg_sampling=NegativeSampling('triplet'), **kwargs)


class TripletBatches:
    r"""The triplets of :class:`TripletLoader`, drawn as tensor operations
    on :obj:`device` (the model's) and yielded as
    :class:`~hlr_graph.data.batch.TripletBatch` (with :obj:`num_neighbors`,
    :class:`~hlr_graph.data.batch.SubgraphBatch`) directly: no
    :class:`~torch.utils.data.DataLoader`, no
    :class:`~torch_geometric.data.HeteroData` mini-batch to read back, no
    copy to the device, so a CUDA run does little per-batch work on the
    host beyond launching kernels (the neighbour sampler reads a few sizes
    back per hop).

    On the CPU, with the same arguments, it yields the same batches as
    :class:`TripletLoader` with ``num_workers=0`` (the same order, negatives
    and histories from the same random streams) at a lower cost per batch;
    use :class:`TripletLoader` to sample in worker processes.

    Args:
        data (HeteroData): The graph; its ``('user', 'interacts', 'item')``
            ``edge_index`` holds the interactions histories are drawn from.
        edge_label_index (torch.Tensor, optional): ``[2, B_total]``
            supervision edges ``(source, target)`` = (user, item) (default:
            the training edges themselves).
        max_history (int): The history size :math:`L`, required (as
            :class:`TripletLoader`).
        history_sampling (str): ``'random'`` or ``'unpop'``.
        positives (torch.Tensor, optional): ``[2, P]`` interactions negatives
            must avoid (default: the graph's edges).
        seed (int, optional): Seeds the shuffling and the sampler.
        batch_size (int): Triplets per batch. (default: ``1``)
        shuffle (bool): Visit the supervision edges in a new random order at
            every pass. (default: :obj:`False`)
        drop_last (bool): Leave out a last, smaller batch.
            (default: :obj:`False`)
        device (torch.device or str, optional): Where sampling runs and
            batches are (default: the CPU).
        num_negatives (int): :math:`K` negatives per triplet, each avoiding
            the user's :obj:`positives` (``[B, K]`` :attr:`TripletBatch.neg`
            when above ``1``). (default: ``1``)
        share_negatives (bool): Draw the :math:`K` negatives once per batch
            (per part) for all of its triplets, uniformly, and yield
            :class:`~hlr_graph.data.batch.SharedTripletBatch` (its
            :attr:`valid` marks where a shared item is one of the user's
            :obj:`positives`): :math:`K` can then be hundreds at the cost of
            one matrix product (:class:`TripletSampler`).
            (default: :obj:`False`)
        sampler_seed (int, optional): Seeds the sampler (its negatives and
            histories) apart from the shuffling (default: :obj:`seed`).
        part (int): Yield part :obj:`part` of each batch (default: ``0``).
        num_parts (int): Cut each batch of :obj:`batch_size` supervision
            edges into this many contiguous parts, of sizes that differ by
            at most one (:func:`torch.tensor_split`), and yield the triplets
            of part :obj:`part` only. With the same :obj:`seed` and
            :obj:`batch_size` (the global batch), the processes of a
            distributed run, each with its own :obj:`part` and
            :obj:`sampler_seed`, share out the very batches of one process.
            Every part holds a triplet: :obj:`batch_size` must be at least
            :obj:`num_parts`, and a last batch of fewer supervision edges
            than :obj:`num_parts` is left out. (default: ``1``, the whole
            batch)
        num_neighbors (Sequence[int], optional): The fan-out of each hop of
            the sampled subgraphs (as :class:`TripletLoader`).
    """
    def __init__(
        self,
        data: HeteroData,
        edge_label_index: Optional[Tensor] = None,
        *,
        max_history: int,
        history_sampling: str = 'random',
        positives: Optional[Tensor] = None,
        seed: Optional[int] = None,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        device=None,
        num_negatives: int = 1,
        share_negatives: bool = False,
        sampler_seed: Optional[int] = None,
        part: int = 0,
        num_parts: int = 1,
        num_neighbors: Optional[Sequence[int]] = None,
    ):
        if not 0 <= part < num_parts:
            raise ValueError(f'part must be in [0, num_parts={num_parts}), '
                             f'got {part}')
        if batch_size < num_parts:
            raise ValueError(f'batch_size ({batch_size}) must be at least '
                             f'num_parts ({num_parts}): every part of a '
                             'batch holds a triplet')
        edge_index = data[INTERACTS].edge_index
        if edge_label_index is None:
            edge_label_index = edge_index
        self.link_sampler = link_sampler(
            edge_index, data[USER].num_nodes, data[ITEM].num_nodes,
            max_history, history_sampling, positives,
            seed if sampler_seed is None else sampler_seed, num_neighbors,
            device, num_negatives, share_negatives)
        self.device = self.link_sampler.device
        self.edge_label_index = edge_label_index.to(self.device)
        self.batch_size, self.shuffle, self.drop_last = (batch_size, shuffle,
                                                         drop_last)
        self.part, self.num_parts = part, num_parts
        # The shuffling stream, as a DataLoader's generator (on the CPU:
        # the same draws as TripletLoader's).
        self.generator = torch.Generator(self.device)
        if seed is not None:
            self.generator.manual_seed(seed)
        else:
            self.generator.seed()

    def __len__(self) -> int:
        num = self.edge_label_index.size(1)
        full, rest = divmod(num, self.batch_size)
        if self.drop_last or rest < self.num_parts:  # No part left empty.
            return full
        return full + 1

    def __iter__(self) -> Iterator[Union[TripletBatch, SubgraphBatch]]:
        num = self.edge_label_index.size(1)
        # A DataLoader draws its workers' base seed first, then the order:
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        order = (torch.randperm(num, generator=self.generator,
                                device=self.device)
                 if self.shuffle else None)
        for i in range(len(self)):
            if order is None:
                index = slice(i * self.batch_size, (i + 1) * self.batch_size)
                user, pos = self.edge_label_index[:, index]
            else:
                user, pos = self.edge_label_index[:, order[
                    i * self.batch_size:(i + 1) * self.batch_size]]
            if self.num_parts > 1:
                user = user.tensor_split(self.num_parts)[self.part]
                pos = pos.tensor_split(self.num_parts)[self.part]
            yield self.link_sampler.sample(user, pos)
        if order is not None:  # A finished pass of a DataLoader's
            # RandomSampler draws one more (empty) order; so does this:
            torch.randperm(num, generator=self.generator, device=self.device)
