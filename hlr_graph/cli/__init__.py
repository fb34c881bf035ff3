r"""The ``hlr-graph`` command (``python -m hlr_graph`` does the same):

    hlr-graph train      train a model and measure it (results.json)
    hlr-graph evaluate   measure a finished run again from its model.pt
    hlr-graph recommend  a user's top K, with HLR's reasons
    hlr-graph stats      the data set's statistics after preprocessing
    hlr-graph tune       search the paper's grid on validation NDCG@10
    hlr-graph plot       PNGs of losses and metrics of runs

Each sub-command is one module of this package with ``add_arguments``,
``run`` and ``main``; the scripts in ``examples/`` call the same ``main``.
A mistake (a flag out of its range, a missing file, a run directory that
does not fit) is one ``error:`` line and exit code ``2``."""
import argparse
import sys
from typing import List, Optional

from hlr_graph import __version__
from hlr_graph.cli import evaluate, plot, recommend, train, tune
from hlr_graph.cli.common import execute
from hlr_graph.data.cli import ArgumentParser

COMMANDS = {'train': train, 'evaluate': evaluate, 'recommend': recommend,
            'stats': None, 'tune': tune, 'plot': plot}
r"""The sub-commands; ``stats`` is :mod:`hlr_graph.data`'s own."""


def build_parser() -> ArgumentParser:
    r"""The parser of ``hlr-graph`` and its sub-commands."""
    parser = ArgumentParser(
        prog='hlr-graph', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--version', action='version',
                        version=f'hlr-graph {__version__}')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND',
                                     required=True)
    for name, module in COMMANDS.items():
        if module is None:
            commands.add_parser(
                name, help='the paper\'s Table 1 columns of a data set '
                'after preprocessing (a table, or JSON with --json)',
                add_help=False)
            continue
        sub = commands.add_parser(
            name, help=module.HELP, description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        run = module.run
        if name in ('train', 'tune'):  # They name flags in messages.
            sub.set_defaults(run=lambda args, run=run, sub=sub:
                             run(args, sub))
        else:
            sub.set_defaults(run=run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    r"""Runs ``hlr-graph`` on :obj:`argv` (default: ``sys.argv[1:]``) and
    returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['stats']:
        from hlr_graph.data.__main__ import main as data_main
        return data_main(['stats', *argv[1:]], prog='hlr-graph')
    return execute(build_parser(), argv, lambda args: args.run(args))
