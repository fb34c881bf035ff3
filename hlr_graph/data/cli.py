r"""Command-line flags that choose and preprocess a data set."""
import argparse
from typing import Dict

from hlr_graph.data.registry import DATASETS
from hlr_graph.data.split import SPLITS


def add_data_arguments(parser: argparse.ArgumentParser, default: str = None):
    r"""Adds the data set flags to :obj:`parser`."""
    group = parser.add_argument_group('data')
    group.add_argument('--dataset', default=default, required=default is None,
                       help=f'one of {", ".join(sorted(DATASETS))}, or the '
                       'path of a CSV / TSV file'
                       + (f' (default: {default})' if default else ''))
    group.add_argument('--root', default=None,
                       help='folder holding one sub-folder per data set '
                       '(default: $HLR_GRAPH_DATA, else ./datasets)')
    group.add_argument('--threshold', type=float, default=None,
                       help="keep ratings / play counts >= this; 0 keeps all "
                       "(default: the data set's, e.g. 4 stars)")
    group.add_argument('--k-core', type=int, default=None,
                       help="recursive k-core of users and items; 0: none "
                       "(default: the data set's, e.g. 10)")
    group.add_argument('--split', choices=SPLITS, default=None,
                       help="(default: the data set's: 'given' where the "
                       "source has a test file, else 'reference')")
    group.add_argument('--split-seed', type=int, default=2021)
    group.add_argument('--cache-dir', default=None,
                       help='where processed graphs are cached (default: '
                       '$HLR_GRAPH_CACHE, else ~/.cache/hlr_graph)')
    group.add_argument('--force-reload', action='store_true',
                       help='process the data set again even when a cached '
                       'graph exists')
    group.add_argument('--sep', default=None,
                       help='separator of a file data set (default: guessed)')
    group.add_argument('--user-col', default='0',
                       help='user column of a file data set (index or name)')
    group.add_argument('--item-col', default='1',
                       help='item column of a file data set (index or name)')
    group.add_argument('--rating-col', default=None,
                       help='rating column of a file data set (index or '
                       'name; -1: implicit; default: the third, if any)')


def data_options(args: argparse.Namespace) -> Dict:
    r"""The keyword arguments of :func:`~hlr_graph.data.load_dataset` that
    the flags of :func:`add_data_arguments` chose."""
    def column(value):
        return int(value) if value.lstrip('-').isdigit() else value

    file_options = dict(sep=args.sep, user_col=column(args.user_col),
                        item_col=column(args.item_col),
                        rating_col=None if args.rating_col is None else
                        column(args.rating_col))
    return dict(root=args.root, threshold=args.threshold, k_core=args.k_core,
                split=args.split, seed=args.split_seed,
                cache_dir=args.cache_dir, force_reload=args.force_reload,
                file_options=file_options)
