r"""A user's top 10, with the reasons HLR gives for each item (the same as
``hlr-graph recommend``).

    python examples/train_hlr.py --dataset ml-100k --model hlr \
        --output-dir runs/ml-100k_hlr
    python examples/recommend.py --run-dir runs/ml-100k_hlr --user 196

The run's ``run.json`` says which graph it was trained on (data set, split,
seed, preprocessing) and where its files were, so no data flag is needed; a
data flag that disagrees with the run (``--split-seed 3`` for a run split
with seed 7, ``--dataset ml-1m`` for an ml-100k run) is refused. Without
``--run-dir`` it first trains a model for ``--epochs`` epochs. Items the
user already interacted with (training and validation) are left out.

For HLR and HLR++ each item comes with how far its user attention is from
uniform (entropy against log L, in nats). Near uniform (above 0.95 log L) it
says so plainly: no single history item explains the item. Otherwise it
names the history items the attention weighs most ("because you liked
..."). Then the user slot's weight and the dominant memory slots (latent
relation types).
"""
import os.path as osp
import sys

from hlr_graph.cli import recommend


def main(argv=None) -> int:
    r"""Prints the recommendations (:mod:`hlr_graph.cli.recommend`)."""
    return recommend.main(argv, prog=osp.basename(__file__),
                          description=__doc__)


if __name__ == '__main__':
    sys.exit(main())
