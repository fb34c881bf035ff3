r"""Budget-limited hyperparameter search over the paper's grid, selected on
validation NDCG@10 (test interactions are never looked at); the same as
``hlr-graph tune``, whose manual ``--help`` prints (the docstring of
:mod:`hlr_graph.cli.tune`).

    python examples/tune.py --dataset ml-100k --model hlr --trials 8 \
        --patience 10 --output runs/tune/ml-100k/hlr.json

Run it again with the same flags to continue a stopped search; the output's
``best`` entry is what ``examples/reproduce_table2.py --tuned`` reads.
"""
import os.path as osp
import sys

from hlr_graph.cli import tune


def main(argv=None) -> int:
    r"""Runs the search (:mod:`hlr_graph.cli.tune`)."""
    return tune.main(argv, prog=osp.basename(__file__))


if __name__ == '__main__':
    sys.exit(main())
