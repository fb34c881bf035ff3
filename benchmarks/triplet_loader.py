r"""Speed of the training triplets alone: the
:class:`hlr_graph.loader.TripletLoader` over Yelp2018's training interactions
(negatives that avoid the user's training items, and histories that never
hold the target), with no model, for CML's batches (no history) and HLR's
(L items drawn by ``unpop``).

    python benchmarks/triplet_loader.py --root ../shared/data
"""
import argparse
import os
import sys
import time

import torch

from hlr_graph.data import Yelp2018, known_edges, split_edges
from hlr_graph.loader import TripletBatch, TripletLoader


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--root', default=os.environ.get('HLR_GRAPH_DATA'))
    parser.add_argument('--batches', type=int, default=300,
                        help='batches timed per setting')
    parser.add_argument('--history', type=int, default=5)
    args = parser.parse_args(argv)
    data = Yelp2018(root=args.root)[0]
    print(f'# {" ".join(sys.argv)}')
    print(f'# Yelp2018 train {split_edges(data, "train").size(1)} pairs, '
          f'batch 1000, torch threads {torch.get_num_threads()}')
    for history, sampling in ((0, 'random'), (args.history, 'unpop')):
        loader = TripletLoader(data, split_edges(data, 'train'),
                               max_history=history, history_sampling=sampling,
                               positives=known_edges(data, 'train'), seed=0,
                               batch_size=1000, shuffle=True)
        count, tic = 0, time.perf_counter()
        for batch in loader:
            TripletBatch.from_hetero(batch)
            count += 1
            if count == args.batches:
                break
        seconds = (time.perf_counter() - tic) / count
        print(f'L = {history} ({sampling}): {seconds * 1000:.1f} ms per '
              f'batch, {seconds * len(loader):.1f} s per epoch of '
              f'{len(loader)} batches (extrapolated from {count})')


if __name__ == '__main__':
    main()
