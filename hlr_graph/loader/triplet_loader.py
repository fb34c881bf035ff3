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
                 num_neighbors: Optional[Sequence[int]], device=None
                 ) -> Union[TripletSampler, TripletNeighborSampler]:
    r"""The sampler of both loaders: a :class:`TripletSampler`, or with
    :obj:`num_neighbors` a :class:`TripletNeighborSampler`, whose
    histories are the users' first hop, so :obj:`max_history` must then be
    ``0`` or :obj:`num_neighbors[0]` and the history uniform."""
    if num_neighbors is None:
        return TripletSampler(edge_index, num_users, num_items, max_history,
                              history_sampling, positives, seed, device)
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
        num_neighbors: Optional[Sequence[int]] = None,
    ):
        edge_index = data[INTERACTS].edge_index
        if edge_label_index is None:
            edge_label_index = edge_index
        self.link_sampler = link_sampler(
            edge_index, data[USER].num_nodes, data[ITEM].num_nodes,
            max_history, history_sampling, positives, seed, num_neighbors,
            device)
        self.device = self.link_sampler.device
        self.edge_label_index = edge_label_index.to(self.device)
        self.batch_size, self.shuffle, self.drop_last = (batch_size, shuffle,
                                                         drop_last)
        # The shuffling stream, as a DataLoader's generator (on the CPU:
        # the same draws as TripletLoader's).
        self.generator = torch.Generator(self.device)
        if seed is not None:
            self.generator.manual_seed(seed)
        else:
            self.generator.seed()

    def __len__(self) -> int:
        num = self.edge_label_index.size(1)
        if self.drop_last:
            return num // self.batch_size
        return -(-num // self.batch_size)

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
            yield self.link_sampler.sample(user, pos)
        if order is not None:  # A finished pass of a DataLoader's
            # RandomSampler draws one more (empty) order; so does this:
            torch.randperm(num, generator=self.generator, device=self.device)
