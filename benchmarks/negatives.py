r"""What :math:`K` negatives per triplet cost HLR: one loss and backward
pass on a Yelp2018-sized batch (1,000 triplets, L = 5 history items each,
38,048 items, d = 100, N = 20 memories, each negative with its own
relation), by the path HLR takes (message passing over the history repeated
:math:`K` times below :math:`K = N`, the factorised exact path from there)
and by repeated message passing at every :math:`K`. Prints ms per pass (the
median of ``--repeats``) and the command.

    python benchmarks/negatives.py --threads 1 --negatives 1 5 20 100
"""
import argparse
import statistics
import sys
import time

import torch

from hlr_graph.data.batch import TripletBatch
from hlr_graph.models import CML, HLR


def batch(num_negatives: int, size=1000, history=5, users=31_668,
          items=38_048) -> TripletBatch:
    gen = torch.Generator().manual_seed(1)
    shape = (size, num_negatives) if num_negatives > 1 else (size, )
    return TripletBatch(
        torch.randint(users, (size, ), generator=gen),
        torch.randint(items, (size, ), generator=gen),
        torch.randint(items, shape, generator=gen),
        torch.stack([torch.randint(items, (size * history, ), generator=gen),
                     torch.arange(size).repeat_interleave(history)]))


def passing_loss(model: HLR, batch: TripletBatch) -> torch.Tensor:
    r"""The hinge over every negative with repeated message passing."""
    user_nodes, item_nodes, local = batch.compact()
    users, items = model.lookup(user_nodes, item_nodes)
    to_pos = model.translate(users, items, local.user, local.pos,
                             local.history)
    pos = (to_pos - items[local.pos]).pow(2).sum(-1)
    neg = CML.negative_distances(model, users, items, local, to_pos)
    return torch.relu(pos.unsqueeze(1) - neg + model.margin).sum()


def timed(fn, repeats: int) -> float:
    fn()  # Warm-up.
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return 1000 * statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--negatives', type=int, nargs='+',
                        default=[1, 5, 20, 100])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = HLR(31_668, 38_048, max_history=5)
    print(f'# python benchmarks/negatives.py '
          f"{' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f'# torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'N = {model.num_memories}')
    print('| K | HLR loss + backward, ms | repeated message passing, ms |')
    print('|---|---|---|')
    for k in args.negatives:
        b = batch(k)
        taken = timed(lambda: model.loss(b).backward(), args.repeats)
        passing = timed(lambda: passing_loss(model, b).backward(),
                        args.repeats) if k > 1 else taken
        print(f'| {k} | {taken:.0f} | {passing:.0f} |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
