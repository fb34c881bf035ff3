r"""``python -m hlr_graph``: the ``hlr-graph`` command
(:mod:`hlr_graph.cli`)."""
import sys

from hlr_graph.cli import main

if __name__ == '__main__':
    sys.exit(main())
