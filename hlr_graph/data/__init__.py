r"""Data: raw readers, the paper's preprocessing, splits, and the data sets
as bipartite :class:`~torch_geometric.data.HeteroData` graphs."""
from hlr_graph.data.dataset import InteractionDataset, MissingDataError
from hlr_graph.data.datasets import (
    AmazonBook,
    AmazonRatings,
    Echonest,
    Gowalla,
    InteractionFile,
    LastFM,
    MovieLens1M,
    MovieLens20M,
    MovieLens25M,
    MovieLens100K,
    MovieLensLatestSmall,
    SyntheticMultiInterest,
    Yelp2018,
    YelpReviews,
    YelpStars,
)
from hlr_graph.data.graph import (
    INTERACTS,
    ITEM,
    REV_INTERACTS,
    USER,
    item_popularity,
    known_edges,
    refit_view,
    split_edges,
)
from hlr_graph.data.interactions import DataFormatError, Interactions
from hlr_graph.data.registry import DATASETS, load_dataset

__all__ = [
    'InteractionDataset', 'MissingDataError', 'DataFormatError',
    'Interactions', 'DATASETS', 'load_dataset', 'USER', 'ITEM', 'INTERACTS',
    'REV_INTERACTS', 'split_edges', 'known_edges', 'item_popularity',
    'refit_view',
    'AmazonBook', 'AmazonRatings', 'Echonest', 'Gowalla', 'InteractionFile',
    'LastFM', 'MovieLens1M', 'MovieLens20M', 'MovieLens25M', 'MovieLens100K',
    'MovieLensLatestSmall', 'SyntheticMultiInterest', 'Yelp2018',
    'YelpReviews', 'YelpStars'
]
