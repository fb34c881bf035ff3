r"""``hlr-graph stats --dataset NAME``: the paper's Table 1 columns of a
data set after preprocessing, its split and the structure of its training
graph, as a table (or one JSON object with ``--json``). The same as
``python -m hlr_graph.data stats``, whose :mod:`hlr_graph.data.__main__`
holds the flags, the run and the table (:func:`format_stats`)."""
from typing import List, Optional

from hlr_graph.cli.common import command
from hlr_graph.data.__main__ import HELP, add_arguments, format_stats, run

__all__ = ['HELP', 'add_arguments', 'run', 'main', 'format_stats']


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None
         ) -> int:
    r"""``hlr-graph stats`` as a function: returns the exit code."""
    return command(add_arguments, run, argv, prog, __doc__)
