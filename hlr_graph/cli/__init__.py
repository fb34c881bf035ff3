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
from hlr_graph.cli import evaluate, plot, recommend, stats, train, tune
from hlr_graph.cli.common import ERRORS
from hlr_graph.data.cli import ArgumentParser, execute

COMMANDS = {'train': train, 'evaluate': evaluate, 'recommend': recommend,
            'stats': stats, 'tune': tune, 'plot': plot}
r"""The sub-commands, each a module with ``HELP``, ``add_arguments(parser)``,
``run(args, parser)`` and ``main``."""


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
        sub = commands.add_parser(
            name, help=module.HELP, description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run, parser=sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    r"""Runs ``hlr-graph`` on :obj:`argv` (default: ``sys.argv[1:]``) and
    returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return execute(build_parser(), argv,
                   lambda args: args.run(args, args.parser), ERRORS)
