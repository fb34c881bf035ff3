r"""Train a recommender and measure it by full ranking on held-out
interactions (the same as ``hlr-graph train``).

    python examples/train_hlr.py                      # synthetic data, CML
    python examples/train_hlr.py --dataset ml-100k --model hlr
    python examples/train_hlr.py --dataset yelp --model hlrpp
    python examples/train_hlr.py --dataset yelp --model popular

Models: hlr, hlrpp (HLR++), the baselines cml, lrml, transcf, adacml, als
(MF-ALS), bpr (BPR-MF), lightgcn, and popular (the most-popular floor).
Unset model flags take the --preset's settings for the data set's family
(paper, the authors', by default).

Writes into ``--output-dir`` (default ``runs/DATASET_MODEL_seedSEED``):
``run.json`` (the settings, written when the run starts), ``checkpoint.pt``
(the training state, every epoch), ``model.pt`` (the kept epoch's weights),
``results.json``, with ``--save-recommendations`` the top-K lists and the
split as CSV files with original ids, and with ``--plot`` PNGs of the
losses and metrics. It lists them at the end; ``--quiet`` prints only the
results table (and errors).

With ``--refit`` the number of epochs is chosen on the validation split,
the model is retrained from the same seed on training + validation
interactions for that many epochs, and the test is measured once, on it.

A stopped run (killed, interrupted, out of time) continues where it was:

    python examples/train_hlr.py --output-dir runs/x --resume

takes every setting from ``runs/x/run.json`` and refuses a flag that
disagrees with it. A folder that holds a run is replaced only with
``--overwrite``, and its files stay until the new run has its first
checkpoint. A mistake (a flag out of its range, a missing file,
``--device cuda`` without a GPU) is one ``error:`` line and exit code 2.
"""
import os.path as osp
import sys

from hlr_graph.cli import train


def main(argv=None) -> int:
    r"""Parses the flags into an :class:`~hlr_graph.train.Experiment`, runs
    it and prints the table (:mod:`hlr_graph.cli.train`)."""
    return train.main(argv, prog=osp.basename(__file__), description=__doc__)


if __name__ == '__main__':
    sys.exit(main())
