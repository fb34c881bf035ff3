r"""``python -m hlr_graph.data stats --dataset NAME --root DIR``: the paper's
Table 1 columns of a data set after preprocessing, as one JSON object."""
import argparse
import json
import sys
from typing import List, Optional

from hlr_graph.data.cli import add_data_arguments, data_options
from hlr_graph.data.dataset import MissingDataError
from hlr_graph.data.interactions import DataFormatError
from hlr_graph.data.registry import load_dataset


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m hlr_graph.data')
    commands = parser.add_subparsers(dest='command', required=True)
    stats = commands.add_parser(
        'stats', help='print users, items, interactions, density and the '
        'median interactions per user after preprocessing (paper Table 1), '
        'with the raw counts under "raw"')
    add_data_arguments(stats)
    args = parser.parse_args(argv)
    try:
        dataset = load_dataset(args.dataset, **data_options(args))
    except (MissingDataError, DataFormatError, FileNotFoundError,
            ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(json.dumps(dataset.stats))
    return 0


if __name__ == '__main__':
    sys.exit(main())
