r"""Budget-limited hyperparameter search over the paper's grid, selected on
validation NDCG@10 (test interactions are never looked at); the same as
``hlr-graph tune``.

    python examples/tune.py --dataset ml-100k --model hlr --trials 8 \
        --patience 10 --output runs/tune/ml-100k/hlr.json

The grid is the paper's (learning rate in {2e-4, 5e-4, 7.5e-4, 1e-3}, N in
{5, 10, 20, 50}, margin in {0.2, 0.5, 0.75, 1.0}) restricted to what the model
takes; ALS searches its regularisation and confidence scaling. The first
trial is the authors' setting for the data set's family, the others a seeded
random subset of the grid. ``--fix NAME=VALUE`` sets a model argument outside
the grid for every trial, for instance a switch of the authors' code:

    python examples/tune.py --dataset ml-100k --model hlr --trials 8 \
        --fix clip_ram=true --output runs/tune-clip/ml-100k/hlr.json

Every finished trial is saved at once, so a
stopped search resumes where it was; ``--time-budget`` stops starting new
trials after that many seconds. ``--jobs`` runs trials in parallel processes
(sharing torch's threads, or one GPU with ``--device cuda``). The output's
``best`` entry is what ``examples/reproduce_table2.py --tuned`` reads.
"""
import os.path as osp
import sys

from hlr_graph.cli import tune


def main(argv=None) -> int:
    r"""Runs the search (:mod:`hlr_graph.cli.tune`)."""
    return tune.main(argv, prog=osp.basename(__file__), description=__doc__)


if __name__ == '__main__':
    sys.exit(main())
