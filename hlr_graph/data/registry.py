r"""Data sets by the names the command line accepts."""
import difflib
import os
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


PATH_SUFFIXES = ('.csv', '.tsv', '.txt', '.dat', '.data', '.gz', '.zip',
                 '.json', '.jsonl', '.tar', '.tgz', '.bz2', '.xz')
r"""Names ending so (or holding a path separator) are taken as paths."""


def loaded_name(name: str) -> str:
    r"""The ``name`` of ``load_dataset(name)``, known before anything
    loads: a data set's own, a file's base name (what chooses a preset's
    family, :func:`~hlr_graph.models.default_hyperparameters`)."""
    return name if name in DATASETS else osp.basename(name)


def load_dataset(name: str, root: Optional[str] = None,
                 file_options: Optional[Dict] = None,
                 **kwargs) -> InteractionDataset:
    r"""The data set called :obj:`name` (a key of :obj:`DATASETS`), or an
    :class:`~hlr_graph.data.datasets.InteractionFile` when :obj:`name` is the
    path of a file.

    Args:
        name (str): A data set name, or the path of a CSV / TSV file.
        root (str, optional): The folder of the named data sets' raw files.
        file_options (dict, optional): ``sep``, ``user_col``, ``item_col``,
            ``rating_col`` and ``header`` of a file (see
            :class:`~hlr_graph.data.datasets.InteractionFile`); ignored for
            a named data set.
        **kwargs: The preprocessing arguments of
            :class:`~hlr_graph.data.dataset.InteractionDataset`
            (``threshold``, ``k_core``, ``split``, ``seed``,
            ``test_fraction``, ``val_fraction``, ``cache_dir``,
            ``force_reload``, ...).

    ``load_dataset(**dataset.options)`` rebuilds :obj:`dataset` (see
    :attr:`~hlr_graph.data.dataset.InteractionDataset.options`).

    Raises:
        FileNotFoundError: :obj:`name` looks like a path (it holds a path
            separator or ends in one of :obj:`PATH_SUFFIXES`) but no such
            file exists.
        ValueError: :obj:`name` is neither a data set nor a path.
    """
    if name in DATASETS:
        return DATASETS[name](root=root, **kwargs)
    if osp.isfile(name):
        return InteractionFile(name, **(file_options or {}), **kwargs)
    if osp.isdir(name):
        raise FileNotFoundError(f'{name}: a folder, not a file of '
                                f'interactions')
    separators = [s for s in (os.sep, os.altsep, '/') if s]
    if (any(s in name for s in separators)
            or name.lower().endswith(PATH_SUFFIXES)):
        raise FileNotFoundError(f'{name}: no such file')
    close = difflib.get_close_matches(name, list(DATASETS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ''
    raise ValueError(f"unknown data set '{name}'{hint}: give one of "
                     f"{', '.join(sorted(DATASETS))}, or the path of a CSV / "
                     f"TSV file")
