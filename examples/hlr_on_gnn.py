r"""HLR's relation layers on top of a GNN encoder trained on sampled
neighbourhoods: every triplet batch carries the sampled k-hop subgraph of
its users and items (``TripletNeighborSampler``, pure torch, the layout of
PyG's ``LinkNeighborLoader``), the encoder computes the vectors of that
subgraph's nodes only, and HLR's memory, item-item relations and user
attention read them; ranking computes every node's vector once, layer by
layer (``GNNEncoder.inference``), then scores exactly as plain HLR.

    python examples/hlr_on_gnn.py --dataset ml-100k --epochs 5 \
        --encoder lightgcn sage gat --num-neighbors 10 5 --baselines

``--baselines`` also trains plain HLR (free tables, same settings) and the
full-graph LightGCN recommender (BPR, its own defaults) for as many epochs.
"""
import os.path as osp
import sys
import time

import torch
import torch.nn.functional as F
from torch_geometric.nn.conv import GATConv, LGConv, SAGEConv

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
from hlr_graph.models import HLR, LightGCN
from hlr_graph.nn.encoder import GNNEncoder
from hlr_graph.train import TrainConfig, Trainer
from hlr_graph.train.experiment import check_splits

DEFAULT_DATASET = 'ml-100k'
ENCODERS = ('lightgcn', 'sage', 'gat')
METRICS = ('recall@10', 'ndcg@10', 'recall@20', 'ndcg@20')


def build_encoder(name: str, dim: int, num_layers: int) -> GNNEncoder:
    r"""A :obj:`num_layers`-layer encoder of :obj:`dim`-dimensional
    vectors: ``'lightgcn'`` (parameter-free
    :class:`~torch_geometric.nn.conv.LGConv` layers averaging the
    neighbours, layers combined by their mean), ``'sage'``
    (:class:`~torch_geometric.nn.conv.SAGEConv`, ReLU between layers) or
    ``'gat'`` (one-head :class:`~torch_geometric.nn.conv.GATConv`, ELU
    between layers)."""
    if name == 'lightgcn':
        # The mean over the neighbours (D^-1 A): a sampled neighbourhood's
        # mean estimates the whole one's, where D^-1/2 A D^-1/2 would need
        # the full graph's degrees.
        return GNNEncoder([LGConv(normalize=False, aggr='mean')
                           for _ in range(num_layers)], combine='mean')
    if name == 'sage':
        return GNNEncoder([SAGEConv(dim, dim) for _ in range(num_layers)],
                          act=F.relu)
    return GNNEncoder([GATConv(dim, dim, heads=1) for _ in range(num_layers)],
                      act=F.elu)


def add_arguments(parser):
    add_data_arguments(parser, default=DEFAULT_DATASET)
    parser.add_argument('--encoder', nargs='*', choices=ENCODERS,
                        default=list(ENCODERS),
                        help='the encoders to train HLR on, one run each '
                        '(none: only the baselines)')
    parser.add_argument('--num-neighbors', type=integer(1), nargs='+',
                        default=[10, 5],
                        help='fan-out per hop (one hop per encoder layer); '
                        "the first is the users' history size L")
    parser.add_argument('--epochs', type=integer(1), default=5)
    parser.add_argument('--batch-size', type=integer(1), default=1000)
    parser.add_argument('--lr', type=number(0, open_low=True), default=1e-3)
    parser.add_argument('--margin', type=number(0, open_low=True),
                        default=0.5)
    parser.add_argument('--dim', type=integer(1), default=64,
                        help='embedding size d')
    parser.add_argument('--baselines', action='store_true',
                        help='also train plain HLR and full-graph LightGCN')
    parser.add_argument('--eval-users', type=integer(1), default=None,
                        help='measure a random subset of this many test '
                        'users (default: all of them)')
    parser.add_argument('--seed', type=integer(0, MAX_SEED), default=0)


def run(args, parser) -> int:
    name = dataset_name(args, DEFAULT_DATASET)
    check_dataset(name)
    dataset = load_dataset(name, **data_options(args))
    check_splits(dataset)
    data = dataset[0]
    sizes = data[USER].num_nodes, data[ITEM].num_nodes
    edge_index = data[INTERACTS].edge_index
    hops = list(args.num_neighbors)
    settings = dict(margin=args.margin, max_history=hops[0],
                    embedding_dim=args.dim)
    config = dict(epochs=args.epochs, lr=args.lr, seed=args.seed,
                  batch_size=args.batch_size)

    runs = []  # (label, model factory, num_neighbors)
    if args.baselines:
        runs.append(('HLR', lambda: HLR(*sizes, **settings), None))
    for encoder in args.encoder:
        runs.append((f'{encoder} + HLR', lambda encoder=encoder: HLR(
            *sizes, **settings).set_encoder(
                build_encoder(encoder, args.dim, len(hops)), edge_index),
            hops))
    if args.baselines:
        runs.append(('LightGCN (full graph)', lambda: LightGCN(
            *sizes, edge_index, embedding_dim=args.dim,
            num_layers=len(hops)), None))

    evaluator = Evaluator(data, 'test', ks=(10, 20), num_cohorts=0,
                          max_users=args.eval_users)
    rows = []
    for label, make, num_neighbors in runs:
        torch.manual_seed(args.seed)
        model = make()
        tic = time.perf_counter()
        fit = Trainer(model, data, TrainConfig(
            num_neighbors=num_neighbors, **config)).fit()
        train_seconds = time.perf_counter() - tic
        tic = time.perf_counter()
        metrics = evaluator.evaluate(model, progress=True)['metrics']
        rows.append((label, fit['best_epoch'], train_seconds,
                     time.perf_counter() - tic, metrics))
    print(f'\n{name}, {args.epochs} epochs, batch {args.batch_size}, lr '
          f'{args.lr}, margin {args.margin}, d = {args.dim}, num_neighbors '
          f'{hops} (L = {hops[0]}), seed {args.seed}, '
          f'{torch.get_num_threads()} thread(s), '
          f'{evaluator.users.numel()} test users')
    print(f'{"model":<24}{"best epoch":>11}{"train s":>9}{"rank s":>8}'
          + ''.join(f'{m:>11}' for m in METRICS))
    for label, epoch, train_seconds, rank_seconds, metrics in rows:
        print(f'{label:<24}{epoch:>11}{train_seconds:>9.0f}'
              f'{rank_seconds:>8.1f}'
              + ''.join(f'{metrics[m]:>11.4f}' for m in METRICS))
    return 0


def main(argv=None) -> int:
    r"""Trains and measures the models; returns the exit code (``2`` with
    one ``error:`` line for a mistake)."""
    return command(add_arguments, run, argv, osp.basename(__file__), __doc__)


if __name__ == '__main__':
    sys.exit(main())
