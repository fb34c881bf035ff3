r"""Loaders of training triplets with sampled user histories."""
from hlr_graph.data.batch import (
    HISTORY_SAMPLING,
    SharedTripletBatch,
    SubgraphBatch,
    TripletBatch,
)
from hlr_graph.data.index import UserItemIndex
from hlr_graph.loader.history import HistorySampler, sample_negatives
from hlr_graph.loader.neighbor_sampler import (
    TripletNeighborSampler,
    sample_neighbours,
)
from hlr_graph.loader.sampler import TripletSampler
from hlr_graph.loader.triplet_loader import TripletBatches, TripletLoader

__all__ = [
    'HISTORY_SAMPLING', 'HistorySampler', 'UserItemIndex', 'sample_negatives',
    'TripletSampler', 'TripletLoader', 'TripletBatches', 'TripletBatch',
    'SharedTripletBatch',
    'TripletNeighborSampler', 'SubgraphBatch', 'sample_neighbours'
]
