r"""One class per public source. Each documents its raw files and where they
come from; see :class:`~hlr_graph.data.dataset.InteractionDataset` for the
preprocessing arguments."""
import os.path as osp
from typing import Dict, List, Optional, Union

from hlr_graph.data.dataset import InteractionDataset, _download
from hlr_graph.data.interactions import Interactions
from hlr_graph.data.readers import (
    detect_columns,
    find_lightgcn_files,
    read_json_lines,
    read_lightgcn,
    read_names,
    read_table,
)
from hlr_graph.data.synthetic import multi_interest_interactions

GROUPLENS = 'https://files.grouplens.org/datasets'


class _Names:
    r"""Reads item display names from an optional file beside the ratings."""
    names_file: Optional[str] = None
    names_format: Dict = {}

    def read_item_names(self) -> Optional[Dict[str, str]]:
        path = osp.join(self.raw_dir, self.names_file or '')
        if self.names_file is None or not osp.exists(path):
            return None
        return read_names(path, **self.names_format)


class MovieLens100K(_Names, InteractionDataset):
    r"""MovieLens 100K (GroupLens): 943 users, 1,682 movies, 100,000 ratings
    1-5 in ``u.data`` (``user<TAB>item<TAB>rating<TAB>time``); titles from
    ``u.item``."""
    name, folder = 'ml-100k', 'ml-100k'
    url = f'{GROUPLENS}/movielens/ml-100k.zip'
    raw_file_names = ['u.data']
    names_file = 'u.item'
    names_format = dict(sep='|', id_col=0, name_col=1, encoding='latin-1')

    def read(self) -> Interactions:
        return read_table(self.raw_paths[0], sep='\t', rating_col=2)


class MovieLens1M(_Names, InteractionDataset):
    r"""MovieLens 1M: ``ratings.dat`` (``user::item::rating::time``); titles
    from ``movies.dat``."""
    name, folder = 'ml-1m', 'ml-1m'
    url = f'{GROUPLENS}/movielens/ml-1m.zip'
    raw_file_names = ['ratings.dat']
    names_file = 'movies.dat'
    names_format = dict(sep='::', id_col=0, name_col=1, encoding='latin-1')

    def read(self) -> Interactions:
        return read_table(self.raw_paths[0], sep='::', rating_col=2)


class _MovieLensCSV(_Names, InteractionDataset):
    raw_file_names = ['ratings.csv']
    names_file = 'movies.csv'
    names_format = dict(sep=',', id_col=0, name_col=1, header=True,
                        quoted=True)

    def read(self) -> Interactions:
        return read_table(self.raw_paths[0], sep=',', user_col='userId',
                          item_col='movieId', rating_col='rating',
                          header=True)


class MovieLens20M(_MovieLensCSV):
    r"""MovieLens 20M, the paper's MovieLens: ``ratings.csv`` (header
    ``userId,movieId,rating,timestamp``); titles from ``movies.csv``."""
    name, folder = 'ml-20m', 'ml-20m'
    url = f'{GROUPLENS}/movielens/ml-20m.zip'


class MovieLens25M(_MovieLensCSV):
    r"""MovieLens 25M: ``ratings.csv`` as in MovieLens 20M."""
    name, folder = 'ml-25m', 'ml-25m'
    url = f'{GROUPLENS}/movielens/ml-25m.zip'


class MovieLensLatestSmall(_MovieLensCSV):
    r"""MovieLens latest-small (610 users, 9,742 movies, 100,836 ratings
    0.5-5): ``ratings.csv`` as in MovieLens 20M."""
    name, folder = 'ml-latest-small', 'ml-latest-small'
    url = f'{GROUPLENS}/movielens/ml-latest-small.zip'


class LastFM(_Names, InteractionDataset):
    r"""Last.fm hetrec-2011 (1,892 users, 17,632 artists, 92,834 user-artist
    play counts): ``user_artists.dat`` (header ``userID artistID weight``,
    tab separated); artist names from ``artists.dat``. Play counts are
    binarised like the paper's Echonest (at least 6 plays)."""
    name, folder = 'lastfm', 'lastfm_hetrec2011'
    url = f'{GROUPLENS}/hetrec2011/hetrec2011-lastfm-2k.zip'
    raw_file_names = ['user_artists.dat']
    names_file = 'artists.dat'
    names_format = dict(sep='\t', id_col=0, name_col=1, header=True)
    default_threshold = 6.0

    def read(self) -> Interactions:
        return read_table(self.raw_paths[0], sep='\t', rating_col=2,
                          header=True)


class Echonest(InteractionDataset):
    r"""The Echo Nest Taste Profile subset of the Million Song Data Set, the
    paper's Echonest: ``train_triplets.txt`` (``user<TAB>song<TAB>plays``),
    binarised at 6 plays."""
    name, folder = 'echonest', 'echonest'
    url = ('http://millionsongdataset.com/sites/default/files/challenge/'
           'train_triplets.txt.zip')
    raw_file_names = ['train_triplets.txt']
    default_threshold = 6.0

    def read(self) -> Interactions:
        return read_table(self.raw_paths[0], sep='\t', rating_col=2)


class YelpStars(InteractionDataset):
    r"""Yelp user-business star ratings of the HIN data sets (Shi et al.):
    ``user_business.dat`` (``user<TAB>business<TAB>stars``, no header),
    binarised at 4 stars with a 5-core as the paper treats Yelp."""
    name, folder = 'yelp-stars', 'yelp_hin'
    url = ('https://raw.githubusercontent.com/librahu/HIN-Datasets-for-'
           'Recommendation-and-Network-Embedding/master/Yelp/user_business.dat')
    raw_file_names = ['user_business.dat']
    default_k_core = 5

    def read(self) -> Interactions:
        return read_table(self.raw_paths[0], sep='\t', rating_col=2)


class YelpReviews(InteractionDataset):
    r"""The Yelp academic data set's reviews, the paper's Yelp:
    ``yelp_academic_dataset_review.json`` (JSON lines with ``user_id``,
    ``business_id``, ``stars``), binarised at 4 stars with a 5-core."""
    name, folder = 'yelp-raw', 'yelp_academic'
    raw_file_names = ['yelp_academic_dataset_review.json']
    manual_download = ('download the Yelp Open Dataset from '
                       'https://www.yelp.com/dataset after accepting its terms '
                       'of use, and unpack the review file')
    default_k_core = 5

    def read(self) -> Interactions:
        return read_json_lines(self.raw_paths[0])


class AmazonRatings(InteractionDataset):
    r"""Amazon ratings-only files of McAuley et al. (2015), the paper's Amazon
    (the Books category): ``ratings_Books.csv`` (``user,item,rating,time``,
    no header)."""
    name, folder = 'amazon-ratings', 'amazon_ratings'
    url = ('http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/'
           'ratings_Books.csv')
    raw_file_names = ['ratings_Books.csv']

    def read(self) -> Interactions:
        return read_table(self.raw_paths[0], sep=',', rating_col=2)


class _LightGCN(InteractionDataset):
    r"""A split in the LightGCN format (He et al., 2020): ``train.txt`` and
    ``test.txt`` with one ``uid iid iid ...`` line per user, plain, one
    folder down, or inside a ``.zip`` / ``.tar.gz``; ``user_list.txt`` and
    ``item_list.txt`` give the original ids. The data is implicit and already
    filtered by its publishers, so no threshold or k-core is applied by
    default and the published test split is kept (``split='given'``)."""
    url_base = 'https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data'
    default_threshold = None
    default_k_core = 0
    default_split = 'given'

    @property
    def url(self) -> str:
        return f'{self.url_base}/{self.name_in_source}'

    @property
    def raw_file_names(self) -> List[str]:
        try:
            archive, train, test = find_lightgcn_files(self.raw_dir)
        except FileNotFoundError:
            return ['train.txt', 'test.txt']
        if archive is not None:
            return [osp.basename(archive)]
        return [osp.relpath(p, self.raw_dir) for p in (train, test)]

    def fetch(self, folder: str):
        for name in ('train.txt', 'test.txt', 'user_list.txt',
                     'item_list.txt'):
            _download(f'{self.url}/{name}', folder)

    def read(self) -> Interactions:
        archive, train, test = find_lightgcn_files(self.raw_dir)
        lists = [osp.join(self.raw_dir, f'{kind}_list.txt')
                 for kind in ('user', 'item')]
        return read_lightgcn(train, test, archive, *lists)


class Yelp2018(_LightGCN):
    r"""Yelp2018, the LightGCN / NGCF split: 31,668 users, 38,048 businesses,
    1,561,406 interactions (train 1,237,259 / test 324,147)."""
    name, folder, name_in_source = 'yelp', 'yelp2018_lightgcn', 'yelp2018'


class Gowalla(_LightGCN):
    r"""Gowalla check-ins, the LightGCN split."""
    name, folder, name_in_source = 'gowalla', 'gowalla', 'gowalla'


class AmazonBook(_LightGCN):
    r"""Amazon-book, the LightGCN split."""
    name, folder, name_in_source = 'amazon-book', 'amazon-book', 'amazon-book'


class InteractionFile(InteractionDataset):
    r"""Any delimited file of ``user, item[, rating[, timestamp]]`` rows,
    plain or gzip-compressed (``.gz``).

    The file's layout is settled once, from its first line, by
    :func:`~hlr_graph.data.readers.detect_columns`: when the first line is a
    header (it names a known column such as ``user``, ``userId``,
    ``item_id``, ``movieId``, ``rating``, ``stars``, ``timestamp`` and holds
    no number, or its rating field is not a number, or a column is given by
    name), the columns are found by their names; otherwise by position
    (user, item, then the rating when there is a third column). A header
    that names no user or item column, or two, is a
    :class:`~hlr_graph.data.interactions.DataFormatError` listing the
    columns. Columns given explicitly always win.

    Args:
        path (str): The CSV / TSV file.
        sep (str, optional): The separator; guessed from the first line
            (tab, ``::``, comma, ``;``, else whitespace) when :obj:`None`.
        user_col, item_col (int or str, optional): Column indices (from
            ``0``) or header names; :obj:`None` finds them as above.
        rating_col (int or str, optional): The rating column; :obj:`None`
            finds it as above, ``-1`` treats the data as implicit.
        header (bool or str): ``'auto'`` (default) detects it as above.
        **kwargs: The preprocessing arguments of
            :class:`~hlr_graph.data.dataset.InteractionDataset`; the default
            threshold is ``4`` for rated files and the default k-core ``10``.

    Attributes:
        file_options (dict): The settled ``sep``, ``user_col``,
            ``item_col``, ``rating_col`` and ``header``, part of
            :attr:`options` and of the cache key.
    """
    def __init__(self, path: str, sep: Optional[str] = None,
                 user_col: Optional[Union[int, str]] = None,
                 item_col: Optional[Union[int, str]] = None,
                 rating_col: Optional[Union[int, str]] = None,
                 header: Union[bool, str] = 'auto', **kwargs):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no such file')
        self.path = osp.abspath(path)
        self.file_options: Dict = detect_columns(
            self.path, sep, user_col, item_col, rating_col, header)
        super().__init__(root=osp.dirname(self.path), **kwargs)

    @property
    def name(self) -> str:
        return osp.basename(self.path)

    @property
    def raw_file_names(self) -> List[str]:
        return [self.name]

    @property
    def options(self) -> Dict:
        return {**super().options, 'name': self.path,
                'file_options': dict(self.file_options)}

    def read(self) -> Interactions:
        return read_table(self.path, **self.file_options)


class SyntheticMultiInterest(InteractionDataset):
    r"""A generated data set with planted multi-interest users and power-law
    degrees (see
    :func:`~hlr_graph.data.synthetic.multi_interest_interactions`), of any
    size: the default is small (600 users, 360 items in 12 topics, about
    18,000 interactions), needs no download and is the main job's default;
    ``num_users=1_000_000, num_items=100_000, interactions=10**8`` is a
    large graph to measure on. It is synthetic: numbers on it say nothing
    about real recommendation quality.

    Args:
        num_users (int): Users to generate. (default: ``600``)
        num_items (int): Items to generate. (default: ``360``)
        interactions (int): Distinct (user, item) pairs to generate, before
            the k-core and the split. (default: ``18000``)
        **kwargs: The preprocessing arguments of
            :class:`~hlr_graph.data.dataset.InteractionDataset` (no rating
            threshold and a 5-core by default).

    The three sizes are part of :attr:`options` and of the cache key; the
    generator's own seed is fixed (``0``), the split's is ``seed``.
    """
    name, folder = 'synthetic', 'synthetic'
    raw_file_names: List[str] = []
    default_threshold = None
    default_k_core = 5
    defaults = {'num_users': 600, 'num_items': 360, 'interactions': 18_000}
    r"""The sizes that :obj:`None` stands for."""

    def __init__(self, root: Optional[str] = None,
                 num_users: Optional[int] = None,
                 num_items: Optional[int] = None,
                 interactions: Optional[int] = None, **kwargs):
        given = {'num_users': num_users, 'num_items': num_items,
                 'interactions': interactions}
        self.sizes: Dict[str, int] = {
            key: int(self.defaults[key] if value is None else value)
            for key, value in given.items()}
        users, items, count = self.sizes.values()
        if users < 1 or items < 1:
            raise ValueError(f'--num-users and --num-items must be >= 1, got '
                             f'{users} and {items}')
        if not users <= count <= users * items // 2:
            raise ValueError(
                f'--interactions {count}: the synthetic data set needs at '
                f'least one per user and at most half of all pairs, between '
                f'{users} and {users * items // 2} for {users} users x '
                f'{items} items (--num-users, --num-items)')
        super().__init__(root=root, **kwargs)

    @property
    def options(self) -> Dict:
        return {**super().options, **self.sizes}

    def download(self):
        pass

    def read(self) -> Interactions:
        return multi_interest_interactions(
            self.sizes['num_users'], self.sizes['num_items'],
            self.sizes['interactions'])
