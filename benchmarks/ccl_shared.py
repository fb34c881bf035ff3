r"""What ``'ccl'``'s negative term over :math:`K` negatives shared by the
batch costs: one value and backward pass by
:func:`~hlr_graph.nn.objectives.ccl_negative_term` (the path of CML and of
the models with ``copy``, since it was added) against autograd through
the composition it replaces
(:func:`~hlr_graph.nn.distance.pairwise_squared_distance`, the mask of
:meth:`~hlr_graph.data.batch.SharedTripletBatch.mask_negatives` and
:func:`~hlr_graph.nn.metric_loss`), on a Yelp2018-sized batch (1,000
queries, d = 100, Yelp2018's ``--preset best``: K = 4,096, margin 0.5,
w = 64, about 0.2 % of the pairs masked). The two alternate round by round
in one process, so that a change of the machine's load hits both. Prints
the median and the best ms per pass, the largest difference of the values
and gradients, and the command.

    python benchmarks/ccl_shared.py --threads 1
"""
import argparse
import math
import statistics
import sys
import time

import torch

from hlr_graph.nn import ccl_negative_term, metric_loss
from hlr_graph.nn.distance import pairwise_squared_distance


def composed(query, items, valid, margin, weight):
    neg = pairwise_squared_distance(query, items).masked_fill(~valid,
                                                              math.inf)
    return metric_loss(query.new_zeros(query.size(0)), neg, margin, 'ccl',
                       negative_weight=weight, counts=valid.sum(dim=1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--batch-size', type=int, default=1000)
    parser.add_argument('--dim', type=int, default=100)
    parser.add_argument('--num-negatives', type=int, default=4096)
    parser.add_argument('--margin', type=float, default=0.5)
    parser.add_argument('--negative-weight', type=float, default=64.0)
    parser.add_argument('--masked', type=float, default=0.002,
                        help='the share of pairs that do not count')
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    # Unit-ball rows, as the metric models keep them: about half of the
    # pairs fall inside margin 0.5.
    query = torch.randn(args.batch_size, args.dim, generator=gen)
    items = torch.randn(args.num_negatives, args.dim, generator=gen)
    query = query / query.norm(dim=1, keepdim=True) * 0.5
    items = items / items.norm(dim=1, keepdim=True) * 0.5
    valid = torch.rand(args.batch_size, args.num_negatives,
                       generator=gen) >= args.masked
    paths = {
        'autograd through the composition': composed,
        'ccl_negative_term': lambda q, v, ok, m, w: ccl_negative_term(
            q, v, m, w, ok),
    }
    results, times = {}, {name: [] for name in paths}
    for round_ in range(args.rounds + 1):
        for name, fn in paths.items():
            q = query.clone().requires_grad_()
            v = items.clone().requires_grad_()
            tic = time.perf_counter()
            value = fn(q, v, valid, args.margin, args.negative_weight)
            value.backward()
            if round_:  # The first is a warm-up.
                times[name].append(1000 * (time.perf_counter() - tic))
            results[name] = (value.detach(), q.grad, v.grad)
    print(f'# python {" ".join(sys.argv if argv is None else argv)}')
    inside = (pairwise_squared_distance(query, items) < args.margin)
    print(f'# B = {args.batch_size}, d = {args.dim}, K = '
          f'{args.num_negatives}, {inside.double().mean():.0%} of the pairs '
          f'inside the margin, {(~valid).double().mean():.2%} masked, '
          f'{torch.get_num_threads()} threads, {args.rounds} rounds')
    print('| path | ms per pass (median) | best |')
    print('|---|---|---|')
    for name, spent in times.items():
        print(f'| {name} | {statistics.median(spent):.1f} | '
              f'{min(spent):.1f} |')
    (a, *ga), (b, *gb) = results.values()
    print(f'# largest difference: value {float((a - b).abs()):.2e} (of '
          f'{float(a):.1f}), gradients '
          f'{max(float((x - y).abs().max()) for x, y in zip(ga, gb)):.2e}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
