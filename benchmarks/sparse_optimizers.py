r"""The row-wise Adam of ``--optimizer sparse_adam``
(:class:`hlr_graph.train.optim.LazyAdam`) against
:class:`torch.optim.SparseAdam` and dense Adam (the trainer's, fused where
the installed torch has it) on Yelp2018-sized tables: a user table of
31,668 rows and an item table of 38,048 rows, d = 100, each step's sparse
gradient holding the rows one batch of 1,000 HLR triplets reads (1,000
users; 1,000 positives, 1,000 negatives and 5,000 history items, drawn
uniformly). Prints ms per optimiser step (the median of ``--repeats``
rounds of ``--steps`` steps) and the command.

    python benchmarks/sparse_optimizers.py --threads 1
"""
import argparse
import statistics
import sys
import time

import torch

from hlr_graph.train.optim import LazyAdam
from hlr_graph.train.trainer import build_optimizer

TABLES = {'user_emb': (31_668, 1_000), 'item_emb': (38_048, 7_000)}
r"""``{table: (rows, rows looked up per step)}``."""


def sparse_grads(weights, generator):
    for (rows, reads), weight in zip(TABLES.values(), weights):
        index = torch.randint(rows, (reads, ), generator=generator)
        values = torch.randn(reads, weight.size(1), generator=generator)
        weight.grad = torch.sparse_coo_tensor(index.unsqueeze(0), values,
                                              weight.shape)


def time_steps(name, steps, dim, seed):
    generator = torch.Generator().manual_seed(seed)
    weights = [torch.nn.Parameter(torch.randn(rows, dim))
               for rows, _ in TABLES.values()]
    if name == 'lazy_adam':
        optimizer = LazyAdam(weights, lr=1e-3)
    elif name == 'torch_sparse_adam':
        optimizer = torch.optim.SparseAdam(weights, lr=1e-3)
    else:
        optimizer = build_optimizer(weights, lr=1e-3)
    total = 0.0
    for _ in range(steps):
        sparse_grads(weights, generator)
        if name == 'dense_adam':  # The dense gradient of the same rows.
            for weight in weights:
                weight.grad = weight.grad.to_dense()
        tic = time.perf_counter()
        optimizer.step()
        total += time.perf_counter() - tic
    return 1000 * total / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=50)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--dim', type=int, default=100)
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = ('lazy_adam', 'torch_sparse_adam', 'dense_adam')
    rounds = {name: [] for name in names}
    for repeat in range(args.repeats):  # Interleaved against load drift.
        for name in names:
            rounds[name].append(time_steps(name, args.steps, args.dim,
                                           repeat))
    print(f'# python benchmarks/sparse_optimizers.py '
          f"{' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f'# torch {torch.__version__}, {torch.get_num_threads()} threads')
    print('| optimiser | ms per step (median) | rounds |')
    print('|---|---|---|')
    for name in names:
        print(f'| {name} | {statistics.median(rounds[name]):.2f} | '
              f"{', '.join(f'{r:.2f}' for r in rounds[name])} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
