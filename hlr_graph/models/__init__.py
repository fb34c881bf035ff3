r"""Recommenders: a training loss on triplets and exact full-ranking scores."""
from hlr_graph.models.adacml import AdaCML
from hlr_graph.models.als import ALS
from hlr_graph.models.base import Recommender
from hlr_graph.models.bpr import BPRMF
from hlr_graph.models.cml import CML
from hlr_graph.models.hlr import HLR, Explanation, HLRPlusPlus
from hlr_graph.models.lightgcn import LightGCN
from hlr_graph.models.lrml import LRML
from hlr_graph.models.popular import MostPopular
from hlr_graph.models.ranking import rank_items, top_k
from hlr_graph.models.registry import (
    MODELS,
    PAPER_GRID,
    build_model,
    default_hyperparameters,
    model_arguments,
    search_space,
    with_flags,
)
from hlr_graph.models.relational import RelationalCML
from hlr_graph.models.transcf import TransCF

__all__ = [
    'Recommender', 'MostPopular', 'ALS', 'BPRMF', 'LightGCN', 'CML',
    'RelationalCML', 'LRML', 'TransCF', 'AdaCML', 'HLR', 'HLRPlusPlus',
    'Explanation', 'rank_items', 'top_k', 'MODELS',
    'build_model', 'default_hyperparameters', 'model_arguments',
    'search_space', 'with_flags', 'PAPER_GRID'
]
