r"""The base of every data set: raw files -> preprocessing -> split ->
:class:`~torch_geometric.data.HeteroData`, processed once and cached."""
import hashlib
import json
import os
import os.path as osp
import shutil
import socket
import sys
import tempfile
from typing import Callable, Dict, List, Optional

import numpy as np
from torch_geometric.data import (
    HeteroData,
    InMemoryDataset,
    download_url,
    extract_tar,
    extract_zip,
)

from hlr_graph.data.graph import INTERACTS, to_hetero_data
from hlr_graph.data.interactions import TEST, TRAIN, VALID, Interactions
from hlr_graph.data.preprocess import binarize, drop_duplicates, k_core, reindex
from hlr_graph.data.split import (
    SPLITS,
    given_split,
    per_user_split,
    reference_split,
)
from hlr_graph.data.structure import graph_statistics
from hlr_graph.progress import write

DATA_ENV = 'HLR_GRAPH_DATA'
CACHE_ENV = 'HLR_GRAPH_CACHE'
CACHE_VERSION = 2
r"""Part of every cache key: raised whenever processing changes, so that no
graph processed by older code is read back."""


def default_root() -> str:
    r"""``$HLR_GRAPH_DATA`` when set, else ``./datasets``."""
    return os.environ.get(DATA_ENV, 'datasets')


class MissingDataError(FileNotFoundError):
    r"""Raw files are missing and cannot be downloaded. The message says which
    files to place where."""


class InteractionDataset(InMemoryDataset):
    r"""A user-item interaction data set, preprocessed as in the paper
    (section 4.1) and split into train / validation / test interactions.

    Subclasses name their raw files and implement :meth:`read`. Raw files are
    looked up in ``root/folder``; data sets with a public :obj:`url` download
    them when missing, the others fail at once with a message that names the
    files to place and where. The processed graph is cached in
    :obj:`cache_dir`, never beside the raw files, so that a shared read-only
    data folder stays untouched; its file names hold a digest of
    :attr:`options` and its folder one of the raw files' paths, sizes and
    modification times, so that any change to either processes it afresh.

    Args:
        root (str, optional): The folder that holds one sub-folder per data
            set (default: ``$HLR_GRAPH_DATA``, else ``./datasets``).
        threshold (float, optional): Keep interactions rated (or played) at
            least this much. :obj:`None` takes the data set's default
            (:attr:`default_threshold`); ``0`` keeps every row.
        k_core (int, optional): Keep the recursive k-core of users and items.
            :obj:`None` takes :attr:`default_k_core`; ``0`` keeps every row.
        split (str, optional): ``'reference'`` (the authors' global random
            72 / 8 / 20 split), ``'per_user'`` (80 / 10 / 10 of each user's
            interactions) or ``'given'`` (the source's own train / test, with
            validation carved per user from train). :obj:`None` takes
            :attr:`default_split`.
        seed (int): The seed of the split. (default: :obj:`2021`, as in the
            authors' code, https://github.com/deezer/recsys21-hlr)
        test_fraction (float, optional): The test share: ``0.2`` for
            ``'reference'`` and ``0.1`` for ``'per_user'`` when :obj:`None`.
        val_fraction (float): The validation share (of the non-test rows for
            ``'reference'``, of each user's rows otherwise). (default: ``0.1``)
        cache_dir (str, optional): Where processed graphs are cached
            (default: ``$HLR_GRAPH_CACHE``, else ``~/.cache/hlr_graph``).
        force_reload (bool): Re-process even when a cached graph exists.
        transform (callable, optional): A transform applied on access.
        log (bool): Print ``Processing...`` and its end (``Done!`` or
            ``Processing failed.``) to :obj:`sys.stderr` while processing.

    Attributes:
        stats (dict): The statistics of the processed graph (the paper's
            Table 1 columns, split sizes, raw counts, ``train_graph``
            structure, and ``preprocessing`` with :attr:`options`).
    """
    name: str = ''
    folder: str = ''
    url: Optional[str] = None
    description: str = ''
    manual_download: Optional[str] = None
    default_threshold: Optional[float] = 4.0
    default_k_core: int = 10
    default_split: str = 'reference'

    def __init__(
        self,
        root: Optional[str] = None,
        threshold: Optional[float] = None,
        k_core: Optional[int] = None,
        split: Optional[str] = None,
        seed: int = 2021,
        test_fraction: Optional[float] = None,
        val_fraction: float = 0.1,
        cache_dir: Optional[str] = None,
        force_reload: bool = False,
        transform: Optional[Callable] = None,
        log: bool = True,
    ):
        self.threshold = (self.default_threshold if threshold is None else
                          threshold or None)
        if self.threshold is not None:
            self.threshold = float(self.threshold)
        self.k_core = int(self.default_k_core if k_core is None else k_core)
        self.split = split or self.default_split
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got "
                             f"'{self.split}'")
        self.seed = int(seed)
        self.test_fraction = float(
            test_fraction if test_fraction is not None else
            0.2 if self.split == 'reference' else 0.1)
        self.val_fraction = float(val_fraction)
        if self.k_core < 0:
            raise ValueError(f'k_core must be >= 0, got {self.k_core}')
        for what, value in (('test_fraction', self.test_fraction),
                            ('val_fraction', self.val_fraction)):
            if not 0 <= value < 1:
                raise ValueError(f'{what} must be in [0, 1), got {value}')
        self.cache_dir = osp.expanduser(
            cache_dir or os.environ.get(CACHE_ENV, '~/.cache/hlr_graph'))
        super().__init__(osp.expanduser(root or default_root()), transform,
                         force_reload=force_reload, log=log)
        self.load(self.processed_paths[0], data_cls=HeteroData)
        with open(self.processed_paths[1]) as f:
            self.stats: Dict = json.load(f)

    @property
    def options(self) -> Dict:
        r"""The keyword arguments of :func:`~hlr_graph.data.load_dataset`
        that rebuild exactly this processed graph (given the same raw
        files), with every default resolved, as plain JSON values::

            {'name': 'ml-100k',         # the data set, or a file's
                                        # absolute path
             'threshold': 4.0,          # 0.0: every row kept
             'k_core': 10,
             'split': 'reference',
             'seed': 2021,
             'test_fraction': 0.2,
             'val_fraction': 0.1}

        A file data set adds ``'file_options': {'sep', 'user_col',
        'item_col', 'rating_col', 'header'}`` as
        :func:`~hlr_graph.data.readers.detect_columns` settles them (columns
        by header name when the file has a header, by index otherwise;
        ``rating_col=-1`` for implicit data). Where the raw files are
        (``root``), the cache (``cache_dir``) and ``force_reload`` are not
        options of the graph and are left out, so that
        ``load_dataset(**options, root=..., cache_dir=...)`` rebuilds it
        and two runs are on the same data when their options are equal.
        The options are part of the cache key and are recorded in
        ``stats['preprocessing']['options']``.
        """
        return {
            'name': self.name,
            'threshold': 0.0 if self.threshold is None else self.threshold,
            'k_core': self.k_core,
            'split': self.split,
            'seed': self.seed,
            'test_fraction': self.test_fraction,
            'val_fraction': self.val_fraction,
        }

    # Files ###################################################################

    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.folder)

    @property
    def processed_dir(self) -> str:
        r"""``cache_dir/<folder>/<tag>``, where the tag fingerprints the raw
        files (path, size, modification time), so that another copy or a
        changed file is processed afresh."""
        stamp = ';'.join(f'{osp.abspath(p)}:{os.stat(p).st_size}:'
                         f'{os.stat(p).st_mtime_ns}'
                         for p in self.raw_paths if osp.exists(p))
        tag = hashlib.sha1(stamp.encode()).hexdigest()[:10]
        return osp.join(self.cache_dir, self.folder or self.name, tag)

    @property
    def processed_file_names(self) -> List[str]:
        r"""``<split>_r<threshold>_k<k_core>_s<seed>_<digest>.pt`` and
        ``.json``, where the digest covers every one of :attr:`options` and
        :obj:`CACHE_VERSION`."""
        key = json.dumps({'cache_version': CACHE_VERSION, **self.options},
                         sort_keys=True)
        digest = hashlib.sha1(key.encode()).hexdigest()[:10]
        tag = (f'{self.split}_r{self.threshold}_k{self.k_core}_s{self.seed}_'
               f'{digest}')
        return [f'{tag}.pt', f'{tag}.json']

    def _download(self):
        r"""PyG's download step (make :attr:`raw_dir`, then :meth:`download`
        unless the raw files exist), except that a failure removes the
        folders it made, so that a mistyped ``--root`` leaves no empty
        folders behind."""
        if all(osp.exists(p) for p in self.raw_paths):
            return
        made = _missing_folders(self.raw_dir)
        try:
            super()._download()
        except BaseException:
            _remove_empty(made)
            raise

    def download(self):
        if self.url is None:
            raise MissingDataError(self.missing_message())
        with tempfile.TemporaryDirectory(dir=self.raw_dir) as tmp:
            try:
                self.fetch(tmp)
            except OSError as e:  # URLError, timeouts, DNS failures.
                raise MissingDataError(
                    f'{self.missing_message()} The download from '
                    f'{self.url} failed: {e}') from None
            for name in os.listdir(tmp):  # Move complete files in place.
                os.replace(osp.join(tmp, name), osp.join(self.raw_dir, name))

    def fetch(self, folder: str):
        r"""Downloads the raw files into :obj:`folder`. By default this
        fetches :obj:`url` and unpacks it when it is an archive, keeping the
        files of its top folder."""
        path = _download(self.url, folder, log=self.log)
        if not path.endswith(('.zip', '.tar.gz', '.tgz', '.tar')):
            return
        unpacked = osp.join(folder, '.unpacked')
        if path.endswith('.zip'):
            extract_zip(path, unpacked, log=False)
        else:
            extract_tar(path, unpacked, log=False)
        os.remove(path)
        top = unpacked
        entries = os.listdir(top)
        if len(entries) == 1 and osp.isdir(osp.join(top, entries[0])):
            top = osp.join(top, entries[0])
        for name in os.listdir(top):
            shutil.move(osp.join(top, name), osp.join(folder, name))
        shutil.rmtree(unpacked)

    def missing_message(self) -> str:
        files = ', '.join(self.raw_file_names)
        source = self.manual_download or f'public download: {self.url}'
        return (f"Data set '{self.name}': {files} not found in "
                f'{osp.abspath(self.raw_dir)}. Place the file(s) there '
                f'({source}), or point --root (or ${DATA_ENV}) at the folder '
                f"that holds '{self.folder}/'.")

    # Processing ##############################################################

    def read(self) -> Interactions:
        r"""Reads the raw files into :class:`Interactions`."""
        raise NotImplementedError

    def read_item_names(self) -> Optional[Dict[str, str]]:
        r"""Display names of items (titles, artists) by original id, where the
        source has them."""
        return None

    def _process(self):
        r"""Processes the raw files unless a cached graph exists (or
        :obj:`force_reload`). Unlike PyG's, it always ends the
        ``Processing...`` line it starts: ``Done!``, or ``Processing
        failed.`` before the error propagates, removing the cache folders it
        made so that no empty or half-written folder is left."""
        if not self.force_reload and all(
                osp.exists(p) for p in self.processed_paths):
            return
        made = _missing_folders(self.processed_dir)
        write(f"Processing '{self.name}'...", self.log, sys.stderr)
        try:
            os.makedirs(self.processed_dir, exist_ok=True)
            self.process()
        except BaseException as e:
            end = ('interrupted' if isinstance(e, KeyboardInterrupt) else
                   'failed')
            write(f'Processing {end}.', self.log, sys.stderr)
            _remove_empty(made)
            raise
        write('Done!', self.log, sys.stderr)

    def process(self):
        raw = self.read()
        data = binarize(raw, self.threshold)
        below_threshold = len(raw) - len(data)
        data, duplicates = drop_duplicates(data)
        data = k_core(data, self.k_core)
        if len(data) == 0:
            raise ValueError(
                f"data set '{self.name}': no interaction is left after the "
                f'rating threshold {self.threshold} and the {self.k_core}-core;'
                ' lower --threshold or --k-core.')
        data = reindex(data)
        fold = self._split(data)

        graph = to_hetero_data(data, fold, self.read_item_names())
        stats = self._stats(raw, data, fold, below_threshold, duplicates)
        stats['train_graph'] = graph_statistics(
            graph[INTERACTS].edge_index, data.num_users, data.num_items)
        self._save_atomic(graph, stats)

    def _split(self, data: Interactions) -> np.ndarray:
        if self.split == 'reference':
            return reference_split(data, self.seed, self.test_fraction,
                                   self.val_fraction)
        if self.split == 'per_user':
            return per_user_split(data, self.seed, self.test_fraction,
                                  self.val_fraction)
        return given_split(data, self.seed, self.val_fraction)

    def _stats(self, raw: Interactions, data: Interactions, fold: np.ndarray,
               below_threshold: int, duplicates: int) -> Dict:
        users, items = data.num_users, data.num_items
        per_user = np.bincount(data.user, minlength=users)
        return {
            'dataset': self.name,
            'users': users,
            'items': items,
            'interactions': len(data),
            'density': len(data) / (users * items),
            'median_interactions_per_user': float(np.median(per_user)),
            'train': int((fold == TRAIN).sum()),
            'valid': int((fold == VALID).sum()),
            'test': int((fold == TEST).sum()),
            'raw': raw.counts(),
            'preprocessing': {
                'threshold': self.threshold if raw.rating is not None else None,
                'k_core': self.k_core,
                'split': self.split,
                'seed': self.seed,
                'below_threshold_dropped': below_threshold,
                'duplicates_dropped': duplicates,
                'options': self.options,
            },
        }

    def _save_atomic(self, graph: HeteroData, stats: Dict):
        r"""Writes both processed files through temporary names, so that an
        interrupted run leaves nothing half written."""
        data_path, stats_path = self.processed_paths
        tmp_data = f'{data_path}.{os.getpid()}.tmp'
        tmp_stats = f'{stats_path}.{os.getpid()}.tmp'
        try:
            self.save([graph], tmp_data)
            with open(tmp_stats, 'w') as f:
                json.dump(stats, f, indent=2)
            os.replace(tmp_data, data_path)
            os.replace(tmp_stats, stats_path)
        finally:
            for tmp in (tmp_data, tmp_stats):
                if osp.exists(tmp):
                    os.remove(tmp)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}('{self.name}', "
                f'split={self.split}, users={self.stats["users"]}, '
                f'items={self.stats["items"]}, '
                f'interactions={self.stats["interactions"]})')


def _missing_folders(path: str) -> List[str]:
    r"""The folders on :obj:`path` that do not exist yet, deepest first."""
    made, folder = [], osp.abspath(path)
    while not osp.exists(folder):
        made.append(folder)
        folder = osp.dirname(folder)
    return made


def _remove_empty(folders: List[str]):
    r"""Removes :obj:`folders`, deepest first, while they are empty."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            break


def _download(url: str, folder: str, timeout: float = 60.0,
              log: bool = True) -> str:
    r""":func:`torch_geometric.data.download_url` with a socket timeout, so
    that a blocked network fails instead of hanging; its ``Downloading``
    line only with :obj:`log` (not under ``--quiet``)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        return download_url(url, folder, log=log)
    finally:
        socket.setdefaulttimeout(previous)
