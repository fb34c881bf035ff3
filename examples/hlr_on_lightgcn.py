r"""HLR's relation layers on top of a GNN encoder: LightGCN embeddings
(``torch_geometric.nn.models.LightGCN``) feed the key-value memory, the
item-item relation message passing and the user attention, trained end to
end with HLR's triplet loss, and measured beside plain HLR.

    python examples/hlr_on_lightgcn.py --dataset ml-100k --epochs 30

Both models share every setting; only the source of the user and item
vectors differs (a free table, or LightGCN propagating that table over the
training graph).
"""
import os.path as osp
import sys
import time
from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.nn.models import LightGCN

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
from hlr_graph.models.cml import clip_rows_
from hlr_graph.train import TrainConfig, Trainer
from hlr_graph.train.experiment import check_splits

DEFAULT_DATASET = 'ml-100k'


class LightGCNHLR(HLR):
    r"""HLR whose user and item vectors come from LightGCN over the training
    interactions; everything else (relations over ``(history item, query)``
    edges, loss, exact dense scoring) is HLR's. The norm bound applies to
    LightGCN's input table.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        edge_index (torch.Tensor): ``[2, E]`` training edges ``(source,
            target)`` = (user, item); LightGCN propagates over them in both
            directions.
        num_layers (int): LightGCN's layers. (default: ``2``)
        **kwargs: The arguments of :class:`~hlr_graph.models.HLR`.
    """
    def __init__(self, num_users: int, num_items: int, edge_index: Tensor,
                 num_layers: int = 2, **kwargs):
        super().__init__(num_users, num_items, **kwargs)
        dim = self.user_emb.embedding_dim
        del self.user_emb, self.item_emb  # LightGCN holds the table now.
        self.encoder = LightGCN(num_users + num_items, dim, num_layers)
        torch.nn.init.normal_(self.encoder.embedding.weight, std=dim**-0.5)
        user, item = edge_index
        self.register_buffer('graph', torch.stack([
            torch.cat([user, item + num_users]),
            torch.cat([item + num_users, user])
        ]))

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        out = self.encoder.get_embedding(self.graph)
        return out[:self.num_users], out[self.num_users:]

    @torch.no_grad()
    def constrain_(self):
        clip_rows_(self.encoder.embedding.weight, self.max_norm)
        if self.clip_ram:
            self.memory.clip_(self.max_norm)


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
        'LightGCN + HLR': lambda: LightGCNHLR(
            *sizes, data[INTERACTS].edge_index, args.layers, **settings),
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
