r"""A pure-torch :class:`~torch_geometric.sampler.BaseSampler` of training
triplets with user histories."""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    HeteroSamplerOutput,
    NegativeSampling,
)

from hlr_graph.data.batch import SharedTripletBatch, TripletBatch
from hlr_graph.data.graph import INTERACTS, ITEM, REV_INTERACTS, USER
from hlr_graph.data.index import UserItemIndex
from hlr_graph.loader.history import HistorySampler, sample_negatives


class SeededEdgeSampler(BaseSampler):
    r"""What this package's samplers share: they sample from supervision
    edges only, on :attr:`device`, from one random :attr:`generator` that
    every loader worker process reseeds with its own seed
    (:meth:`follow_worker`)."""
    def init_random(self, seed: Optional[int], device=None):
        r"""Sets :attr:`device` and a :attr:`generator` on it, seeded with
        :obj:`seed` (or at random)."""
        self.device = torch.device(device or 'cpu')
        self.generator = torch.Generator(self.device)
        if seed is not None:
            self.generator.manual_seed(seed)
        else:
            self.generator.seed()
        self._worker: Optional[int] = None

    def follow_worker(self):
        r"""In a loader worker process, draws that worker's own stream,
        seeded by the loader (once per worker)."""
        worker = torch.utils.data.get_worker_info()
        if worker is not None and worker.id != self._worker:
            self.generator.manual_seed(worker.seed)
            self._worker = worker.id

    def sample_from_nodes(self, index, **kwargs):
        raise NotImplementedError(f'{self.__class__.__name__} samples from '
                                  f'edges only')


class TripletSampler(SeededEdgeSampler):
    r"""Samples, for every supervision edge :math:`(u, v)`, a negative item
    :math:`v^-` and the history of the query: at most :obj:`max_history` of
    :math:`u`'s items in :obj:`graph`, never :math:`v` itself, drawn afresh
    at every visit.

    The output is a disjoint subgraph per supervision edge, laid out as PyG's
    neighbour samplers lay out ``neg_sampling='triplet'`` with
    ``disjoint=True``: query :math:`b` owns user node :math:`b`, positive
    item node :math:`b` and negative item node :math:`B + b`; its history
    items are further item nodes, linked to user node :math:`b` by
    ``('user', 'interacts', 'item')`` edges (and their reverse).

    :meth:`sample` draws the same triplets as plain index tensors
    (a :class:`~hlr_graph.data.batch.TripletBatch`) without building a
    subgraph: with :obj:`device` the model's GPU, every draw is a tensor
    operation there (:class:`~hlr_graph.loader.TripletBatches`).

    Args:
        graph (torch.Tensor): ``[2, E]`` interactions ``(source, target)``
            = (user, item) that histories come from (the message-passing
            edges).
        num_users (int): The number of users.
        num_items (int): The number of items.
        max_history (int): The history size :math:`L` (``0``: no history,
            ``-1``: every item), required.
        history_sampling (str): ``'random'`` (uniform, without replacement)
            or ``'unpop'`` (with replacement, ``~ 1 / popularity``).
        positives (torch.Tensor, optional): ``[2, P]`` interactions a negative
            must not be (default: :obj:`graph`).
        seed (int, optional): Seeds the random draws.
        device (torch.device or str, optional): Where the index and the
            draws live (default: the CPU, as loader workers need).
        num_negatives (int): :math:`K`, the negatives of every triplet
            (:meth:`sample` only; a ``[B, K]`` :attr:`TripletBatch.neg`
            when above ``1``). (default: ``1``)
        share_negatives (bool): Draw the :math:`K` negatives once per batch,
            uniformly, for all of its triplets (:meth:`sample` only; a
            :class:`~hlr_graph.data.batch.SharedTripletBatch` whose
            :attr:`valid` marks the pairs where a shared item is one of the
            user's :obj:`positives`). (default: :obj:`False`)
    """
    def __init__(
        self,
        graph: Tensor,
        num_users: int,
        num_items: int,
        max_history: int,
        history_sampling: str = 'random',
        positives: Optional[Tensor] = None,
        seed: Optional[int] = None,
        device=None,
        num_negatives: int = 1,
        share_negatives: bool = False,
    ):
        if num_negatives < 1:
            raise ValueError(f'num_negatives must be at least 1, got '
                             f'{num_negatives}')
        self.num_negatives, self.share_negatives = (num_negatives,
                                                    share_negatives)
        self.init_random(seed, device)
        self.graph = UserItemIndex(graph.to(self.device), num_users,
                                   num_items)
        self.history = HistorySampler(self.graph, max_history,
                                      history_sampling)
        self.positives = (self.graph if positives is None else UserItemIndex(
            positives.to(self.device), num_users, num_items))

    def sample_from_edges(
        self,
        index: EdgeSamplerInput,
        neg_sampling: Optional[NegativeSampling] = None,
    ) -> HeteroSamplerOutput:
        self.follow_worker()
        user, pos = index.row, index.col
        num_pos = user.numel()
        dst = [pos]
        if self.num_negatives != 1 or self.share_negatives:
            raise ValueError(f'{self.__class__.__name__} lays out one '
                             f'negative per triplet in a subgraph; draw '
                             f'num_negatives={self.num_negatives} or shared '
                             f'negatives with sample() (TripletBatches)')
        if neg_sampling is not None:
            if not neg_sampling.is_triplet() or neg_sampling.amount != 1:
                raise ValueError(f"{self.__class__.__name__} supports "
                                 f"neg_sampling='triplet' with one negative")
        neg, query, item, edge = self._draw(user, pos,
                                            neg_sampling is not None)
        if neg is not None:
            dst.append(neg)
        first_history = num_pos * len(dst)
        history_node = first_history + torch.arange(item.numel())

        seeds = torch.arange(num_pos)
        batch: Dict[str, Tensor] = {
            USER: seeds, ITEM: torch.cat([seeds] * len(dst) + [query])}
        out = HeteroSamplerOutput(
            node={USER: user, ITEM: torch.cat(dst + [item])},
            row={INTERACTS: query, REV_INTERACTS: history_node},
            col={INTERACTS: history_node, REV_INTERACTS: query},
            edge={INTERACTS: edge, REV_INTERACTS: edge},
            batch=batch,
        )
        if neg_sampling is None:
            out.metadata = (index.input_id, torch.stack([seeds, seeds]),
                            index.label, index.time)
        else:
            out.metadata = (index.input_id, seeds, seeds, seeds + num_pos,
                            index.time)
        return out

    def sample(self, user: Tensor, pos: Tensor) -> TripletBatch:
        r"""The triplets of ``[B]`` supervision edges (:obj:`user`,
        :obj:`pos`), on :attr:`device`: one negative each and the
        history of each query, drawn as :meth:`sample_from_edges` draws
        them (the same stream gives the same triplets); with
        :attr:`num_negatives` :math:`K > 1`, ``[B, K]`` negatives; with
        :attr:`share_negatives`, :math:`K` items drawn once for all
        (a :class:`~hlr_graph.data.batch.SharedTripletBatch`)."""
        user, pos = user.to(self.device), pos.to(self.device)
        neg, query, item, _ = self._draw(user, pos, True)
        history = torch.stack([item, query])
        if self.share_negatives:
            return SharedTripletBatch(
                user, pos, neg.expand(user.numel(), -1), history,
                ~self.positives.membership(user, neg))
        return TripletBatch(user, pos, neg, history)

    def _draw(self, user: Tensor, pos: Tensor, negatives: bool
              ) -> Tuple[Optional[Tensor], Tensor, Tensor, Tensor]:
        r"""``(neg, query, item, edge)``: negatives (:obj:`None` without
        :obj:`negatives`; ``[K]`` with :attr:`share_negatives`), then the
        histories, in this order from :attr:`generator`."""
        neg = None
        if negatives and self.share_negatives:
            neg = torch.randint(self.positives.num_items,
                                (self.num_negatives, ),
                                generator=self.generator, device=self.device)
        elif negatives and self.num_negatives == 1:
            neg = sample_negatives(self.positives, user, self.generator)
        elif negatives:
            neg = sample_negatives(
                self.positives, user.repeat_interleave(self.num_negatives),
                self.generator).view(-1, self.num_negatives)
        query, item, edge = self.history(user, pos, self.generator)
        return neg, query, item, edge

    @property
    def edge_permutation(self) -> Dict:
        r"""Maps the sampler's CSR positions back to edge ids of
        :obj:`graph`."""
        return {INTERACTS: self.graph.perm, REV_INTERACTS: self.graph.perm}
