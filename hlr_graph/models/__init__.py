r"""Recommenders: a training loss on triplets and exact full-ranking scores."""
from hlr_graph.models.base import Recommender
from hlr_graph.models.cml import CML
from hlr_graph.models.hlr import HLR, Explanation, HLRPlusPlus
from hlr_graph.models.popular import MostPopular
from hlr_graph.models.ranking import rank_items, top_k
from hlr_graph.models.registry import (
    MODELS,
    PAPER_GRID,
    build_model,
    default_hyperparameters,
    search_space,
)

__all__ = [
    'Recommender', 'CML', 'HLR', 'HLRPlusPlus', 'Explanation', 'MostPopular', 'rank_items', 'top_k', 'MODELS',
    'build_model', 'default_hyperparameters', 'search_space', 'PAPER_GRID'
]
