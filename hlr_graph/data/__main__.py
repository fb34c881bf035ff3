r"""``python -m hlr_graph.data stats --dataset NAME --root DIR``: the paper's
Table 1 columns of a data set after preprocessing, its split and the
structure of its training graph, as a table (or one JSON object with
``--json``)."""
import argparse
import json
import sys
from typing import Dict, List, Optional

from hlr_graph.data.cli import (
    ArgumentParser,
    add_data_arguments,
    data_options,
    execute,
)
from hlr_graph.data.registry import load_dataset

HELP = ("the paper's Table 1 columns of a data set after preprocessing (users, "
        'items, interactions, density, median interactions per user), the raw '
        "counts, the split and the training graph's connected components and "
        'degrees, as a table (or JSON with --json)')


def add_arguments(parser: ArgumentParser):
    r"""Adds the flags of ``stats`` to :obj:`parser`."""
    add_data_arguments(parser)
    parser.add_argument('--json', action='store_true',
                        help='print the statistics as one JSON object')


def run(args: argparse.Namespace, parser: ArgumentParser) -> int:
    r"""Prints the statistics of the data set the flags :obj:`args` name."""
    dataset = load_dataset(args.dataset, **data_options(args))
    print(json.dumps(dataset.stats) if args.json else
          format_stats(dataset.stats))
    return 0


def main(argv: Optional[List[str]] = None,
         prog: str = 'python -m hlr_graph.data') -> int:
    r"""Runs the command with the arguments :obj:`argv` (default:
    :obj:`sys.argv`) and returns the exit code: ``0``, or ``2`` after one
    ``error: ...`` line on :obj:`sys.stderr` when a flag is wrong or the
    data set cannot be loaded (a missing or malformed file, an unknown name,
    options that leave nothing), ``130`` when interrupted."""
    parser = ArgumentParser(prog=prog)
    commands = parser.add_subparsers(dest='command', required=True,
                                     parser_class=ArgumentParser)
    stats = commands.add_parser('stats', help=HELP, description=HELP)
    add_arguments(stats)
    return execute(parser, argv, lambda args: run(args, stats))


def format_stats(stats: Dict) -> str:
    r"""The statistics of a data set
    (:attr:`~hlr_graph.data.dataset.InteractionDataset.stats`) as a table
    for people to read. Keys that older statistics lack are left out.

    Args:
        stats (dict): The statistics.

    Returns:
        str: Lines of ``label  value`` rows, without a final newline.
    """
    rows = []
    pre = stats.get('preprocessing', {})
    options = pre.get('options', {})

    def row(label: str = '', value: str = ''):
        rows.append((label, value))

    row('data set', str(stats.get('dataset', '?')))
    files = options.get('file_options')
    if files:
        rating = files['rating_col']
        row('file columns', f"user {files['user_col']!r}, item "
            f"{files['item_col']!r}, rating "
            f"{'none (implicit)' if rating == -1 else repr(rating)}, "
            f"separator {files['sep']!r}, "
            f"{'header' if files['header'] else 'no header'}")
    if pre:
        threshold = pre.get('threshold')
        row('preprocessing',
            ('rating >= ' + _number(threshold) if threshold is not None
             else 'every row kept') + f", {pre.get('k_core', 0)}-core")
        row('split', f"{pre.get('split')}, seed {pre.get('seed')}" + (
            f", test {options['test_fraction']:g}"
            if options and pre.get('split') != 'given' else '') + (
            f", validation {options['val_fraction']:g}" if options else ''))
    table = [('', 'users', 'items', 'interactions')]
    if 'raw' in stats:
        raw = stats['raw']
        table.append(('raw', raw['users'], raw['items'],
                      raw['interactions']))
    table.append(('kept', stats['users'], stats['items'],
                  stats['interactions']))
    widths = [max(len(_number(r[i])) for r in table) for i in range(4)]
    for i, line in enumerate(table):
        cells = [_number(v).rjust(w) for v, w in zip(line[1:], widths[1:])]
        row('counts' if i == 0 else '', f'{line[0]:<{widths[0]}}  ' +
            '  '.join(cells))
    if pre:
        row('dropped', f"{pre.get('below_threshold_dropped', 0):,} below the "
            f"threshold, {pre.get('duplicates_dropped', 0):,} duplicate "
            'pairs, the rest by the k-core')
    row('density', f"{stats['density']:.5f}")
    row('median per user', _number(stats['median_interactions_per_user']) +
        ' interactions')
    row('interactions', f"train {stats['train']:,} / validation "
        f"{stats['valid']:,} / test {stats['test']:,}")
    graph = stats.get('train_graph')
    if graph:
        top = graph['largest_component']
        row('training graph', f"{graph['components']:,} connected "
            f"component{'s' if graph['components'] != 1 else ''} "
            f"({graph['isolated_users']:,} users and "
            f"{graph['isolated_items']:,} items without a training "
            'interaction count as one each)')
        row('largest component',
            f"{top['users']:,} users ({top['users_share']:.1%}), "
            f"{top['items']:,} items ({top['items_share']:.1%}), "
            f"{top['interactions']:,} interactions "
            f"({top['interactions_share']:.1%})")
        for who in ('user', 'item'):
            d = graph[f'{who}_degree']
            row(f'{who} degree', f"min {d['min']:,}, median "
                f"{_number(d['median'])}, mean {d['mean']:.1f}, max "
                f"{d['max']:,}")
    width = max(len(label) for label, _ in rows)
    return '\n'.join(f'{label:<{width}}  {value}'.rstrip()
                     for label, value in rows)


def _number(value) -> str:
    if isinstance(value, float):
        return f'{value:,.0f}' if value.is_integer() else f'{value:,.2f}'
    return f'{value:,}' if isinstance(value, int) else str(value)


if __name__ == '__main__':
    sys.exit(main())
