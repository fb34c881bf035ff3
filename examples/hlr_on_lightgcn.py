r"""HLR's relation layers on top of a GNN encoder: LightGCN embeddings
(``torch_geometric.nn.models.LightGCN``) feed the key-value memory, the
item-item relation message passing and the user attention, trained end to
end with HLR's triplet loss, and measured beside plain HLR.

    python examples/hlr_on_lightgcn.py --dataset ml-100k --epochs 30

Both models share every setting; only the source of the user and item
vectors differs (a free table, or LightGCN propagating that table over the
training graph, put under HLR with ``CML.set_encoder``).
"""
import os.path as osp
import sys
import time

import torch
from torch import Tensor
from torch_geometric.nn.conv import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from hlr_graph.cli.common import command
from hlr_graph.data import INTERACTS, ITEM, USER
from hlr_graph.data.cli import (
    MAX_SEED,
    add_data_arguments,
    check_dataset,
    data_options,
    dataset_name,
    integer,
    number,
)
from hlr_graph.data.registry import load_dataset
from hlr_graph.evaluation import Evaluator
from hlr_graph.models import HLR
from hlr_graph.train import TrainConfig, Trainer
from hlr_graph.train.experiment import check_splits

DEFAULT_DATASET = 'ml-100k'


class LightGCNEncoder(torch.nn.Module):
    r"""LightGCN's propagation (He et al., SIGIR 2020, eq. 3 and 4) as an
    encoder of :meth:`~hlr_graph.models.CML.set_encoder`'s contract:
    :math:`K` parameter-free :class:`~torch_geometric.nn.conv.LGConv`
    layers over the symmetrically normalised graph
    :math:`D^{-1/2} A D^{-1/2}`, combined by their mean
    (:math:`\alpha_k = 1 / (K + 1)`). The normalisation needs every node's
    degree, so this encoder runs on the whole graph (in training too); for
    sampled neighbourhoods see ``examples/hlr_on_gnn.py``.

    Args:
        num_layers (int): :math:`K`.
    """
    def __init__(self, num_layers: int):
        super().__init__()
        self.convs = torch.nn.ModuleList(
            [LGConv(normalize=False) for _ in range(num_layers)])

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        r"""``[N, d]`` node vectors of ``[N, d]`` inputs over ``[2, E]``
        edges ``(source, target)``, both directions of each
        interaction."""
        edge_index, weight = gcn_norm(edge_index, None, x.size(0),
                                      add_self_loops=False)
        out = total = x
        for conv in self.convs:
            out = conv(out, edge_index, weight)
            total = total + out
        return total / (len(self.convs) + 1)


def add_arguments(parser):
    add_data_arguments(parser, default=DEFAULT_DATASET)
    parser.add_argument('--epochs', type=integer(1), default=30)
    parser.add_argument('--lr', type=number(0, open_low=True), default=1e-3)
    parser.add_argument('--margin', type=number(0, open_low=True),
                        default=0.5)
    parser.add_argument('--max-history', type=integer(-1), default=20,
                        help='history size L (-1: all of it)')
    parser.add_argument('--layers', type=integer(0), default=2,
                        help="LightGCN's layers")
    parser.add_argument('--seed', type=integer(0, MAX_SEED), default=0)


def run(args, parser) -> int:
    name = dataset_name(args, DEFAULT_DATASET)
    check_dataset(name)
    dataset = load_dataset(name, **data_options(args))
    check_splits(dataset)
    data = dataset[0]
    sizes = data[USER].num_nodes, data[ITEM].num_nodes
    settings = dict(margin=args.margin, max_history=args.max_history)
    models = {
        'HLR': lambda: HLR(*sizes, **settings),
        'LightGCN + HLR': lambda: HLR(*sizes, **settings).set_encoder(
            LightGCNEncoder(args.layers), data[INTERACTS].edge_index),
    }
    evaluator = Evaluator(data, 'test', ks=(10, 20), num_cohorts=0)
    rows = []
    for label, make in models.items():
        torch.manual_seed(args.seed)
        model = make()
        tic = time.perf_counter()
        fit = Trainer(model, data, TrainConfig(epochs=args.epochs, lr=args.lr,
                                               seed=args.seed)).fit()
        metrics = evaluator.evaluate(model, progress=True)['metrics']
        rows.append((label, fit['best_epoch'], time.perf_counter() - tic,
                     metrics))
    print(f'\n{name}, {args.epochs} epochs, lr {args.lr}, margin '
          f'{args.margin}, L = {args.max_history}, seed {args.seed}')
    print(f'{"model":<16}{"best epoch":>11}{"seconds":>9}' + ''.join(
        f'{m:>13}' for m in ('recall@10', 'ndcg@10', 'recall@20', 'ndcg@20')))
    for label, epoch, seconds, metrics in rows:
        print(f'{label:<16}{epoch:>11}{seconds:>9.0f}' + ''.join(
            f'{metrics[m]:>13.4f}'
            for m in ('recall@10', 'ndcg@10', 'recall@20', 'ndcg@20')))
    return 0


def main(argv=None) -> int:
    r"""Trains and measures both models; returns the exit code (``2`` with
    one ``error:`` line for a mistake)."""
    return command(add_arguments, run, argv, osp.basename(__file__), __doc__)


if __name__ == '__main__':
    sys.exit(main())
