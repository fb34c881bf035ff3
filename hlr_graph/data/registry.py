r"""Data sets by the names the command line accepts."""
import os.path as osp
from typing import Dict, Optional, Type

from hlr_graph.data.dataset import InteractionDataset
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

DATASETS: Dict[str, Type[InteractionDataset]] = {
    cls.name: cls
    for cls in (Yelp2018, YelpReviews, YelpStars, MovieLens100K, MovieLens1M,
                MovieLens20M, MovieLens25M, MovieLensLatestSmall, AmazonBook,
                AmazonRatings, Gowalla, Echonest, LastFM,
                SyntheticMultiInterest)
}


def load_dataset(name: str, root: Optional[str] = None,
                 file_options: Optional[Dict] = None,
                 **kwargs) -> InteractionDataset:
    r"""The data set called :obj:`name` (a key of :obj:`DATASETS`), or an
    :class:`~hlr_graph.data.datasets.InteractionFile` when :obj:`name` is the
    path of a file; :obj:`file_options` then holds its separator and columns.
    :obj:`kwargs` are the preprocessing arguments of
    :class:`~hlr_graph.data.dataset.InteractionDataset`."""
    if name in DATASETS:
        return DATASETS[name](root=root, **kwargs)
    if osp.isfile(name):
        return InteractionFile(name, **(file_options or {}), **kwargs)
    raise ValueError(f"unknown data set '{name}': give one of "
                     f"{sorted(DATASETS)} or the path of a CSV / TSV file")
