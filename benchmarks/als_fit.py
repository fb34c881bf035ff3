r"""Fit time of MF-ALS on Yelp2018's training interactions, with the
``implicit`` library the ALS baseline uses (conjugate-gradient steps, its
default and the reference's) and with exact Cholesky solves, and the test
NDCG@20 / Recall@20 of each fit through the project's evaluator.

    python benchmarks/als_fit.py --root ../shared/data
"""
import argparse
import os
import sys
import time

import torch

from hlr_graph.data import Yelp2018, split_edges
from hlr_graph.evaluation import Evaluator
from hlr_graph.models import ALS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--root', default=os.environ.get('HLR_GRAPH_DATA'))
    parser.add_argument('--regularization', type=float, default=20.0)
    args = parser.parse_args(argv)
    data = Yelp2018(root=args.root)[0]
    import implicit
    print(f'# {" ".join(sys.argv)}')
    print(f'# implicit {implicit.__version__}, torch threads '
          f'{torch.get_num_threads()}, Yelp2018 train '
          f'{split_edges(data, "train").size(1)} pairs')
    evaluator = Evaluator(data, 'test', ks=(20, ), num_cohorts=0)
    for name, use_cg in (('conjugate gradient', True), ('cholesky', False)):
        torch.manual_seed(0)
        model = ALS(data['user'].num_nodes, data['item'].num_nodes,
                    regularization=args.regularization)
        model.use_cg = use_cg
        tic = time.perf_counter()
        model.fit(split_edges(data, 'train'))
        seconds = time.perf_counter() - tic
        metrics = evaluator.evaluate(model)['metrics']
        print(f'{name}: fit {seconds:.1f}s, recall@20 '
              f'{metrics["recall@20"]:.4f}, ndcg@20 {metrics["ndcg@20"]:.4f}')


if __name__ == '__main__':
    main()
