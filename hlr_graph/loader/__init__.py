r"""Loaders of training triplets with sampled user histories."""
from hlr_graph.loader.history import (
    HISTORY_SAMPLING,
    HistorySampler,
    UserItemIndex,
    sample_negatives,
)
from hlr_graph.loader.sampler import TripletSampler
from hlr_graph.loader.triplet_loader import TripletBatch, TripletLoader

__all__ = [
    'HISTORY_SAMPLING', 'HistorySampler', 'UserItemIndex', 'sample_negatives',
    'TripletSampler', 'TripletLoader', 'TripletBatch'
]
