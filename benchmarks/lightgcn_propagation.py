r"""Time of one LightGCN propagation (3 layers, d = 64) over Yelp2018's
training graph, forward and backward, with PyG's ``LGConv`` product (whose
backward multiplies by the CSR adjacency's transpose) and with the
project's :class:`~hlr_graph.models.lightgcn.SymmetricLGConv` (whose backward
multiplies by the symmetric adjacency itself). Both give the same gradient.

    python benchmarks/lightgcn_propagation.py --root ../shared/data
"""
import argparse
import os
import sys
import time

import torch
from torch_geometric.nn.conv import LGConv

from hlr_graph.data import Yelp2018, split_edges
from hlr_graph.models import LightGCN


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--root', default=os.environ.get('HLR_GRAPH_DATA'))
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args(argv)
    data = Yelp2018(root=args.root)[0]
    model = LightGCN(data['user'].num_nodes, data['item'].num_nodes,
                     split_edges(data, 'train'))
    print(f'# {" ".join(sys.argv)}')
    print(f'# torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'{model.adj_t.size(0)} nodes, {model.adj_t.values().numel()} '
          f'adjacency entries, {args.repeats} repeats, median seconds')
    symmetric = model.encoder.convs
    pyg = torch.nn.ModuleList(LGConv(normalize=False) for _ in symmetric)
    read_out = torch.randn(model.adj_t.size(0), model.encoder.embedding_dim)
    grads = {}
    for name, convs in (('PyG LGConv', pyg), ('SymmetricLGConv', symmetric)):
        model.encoder.convs = convs
        forward, backward = [], []
        for _ in range(args.repeats):
            model.zero_grad()
            tic = time.perf_counter()
            out = model.embeddings()
            toc = time.perf_counter()
            (out * read_out).sum().backward()
            forward.append(toc - tic)
            backward.append(time.perf_counter() - toc)
        grads[name] = model.encoder.embedding.weight.grad.clone()
        print(f'{name}: forward {torch.tensor(forward).median():.3f}s, '
              f'backward {torch.tensor(backward).median():.3f}s')
    difference = (grads['PyG LGConv'] - grads['SymmetricLGConv']).abs().max()
    print(f'largest gradient difference: {difference:.2e}')


if __name__ == '__main__':
    main()
