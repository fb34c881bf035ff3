r"""Speed of the connected components that ``stats`` reports
(:func:`hlr_graph.data.structure.graph_statistics`): on Yelp2018's training
graph, against networkx on the same edges, and on a random bipartite graph
of ``--edges`` edges (networkx is not run there: it would hold a Python
object per node and per edge).

    python benchmarks/graph_components.py --root ../shared/data
"""
import argparse
import os
import resource
import sys
import time

import torch

from hlr_graph.data import Yelp2018, split_edges
from hlr_graph.data.structure import graph_statistics


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def timed(name: str, function, *args) -> object:
    tic = time.perf_counter()
    out = function(*args)
    print(f'{name}: {time.perf_counter() - tic:.2f} s, peak RSS of the '
          f'process so far {peak_rss_gib():.2f} GiB')
    return out


def networkx_components(edge_index, num_users: int) -> int:
    import networkx as nx
    graph = nx.Graph()
    graph.add_edges_from(zip(edge_index[0].tolist(),
                             (edge_index[1] + num_users).tolist()))
    return nx.number_connected_components(graph)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--root', default=os.environ.get('HLR_GRAPH_DATA'))
    parser.add_argument('--edges', type=int, default=10**7)
    parser.add_argument('--users', type=int, default=10**6)
    parser.add_argument('--items', type=int, default=5 * 10**5)
    args = parser.parse_args(argv)
    print(f'# {" ".join(sys.argv)}')
    print(f'# torch threads {torch.get_num_threads()}')

    data = Yelp2018(root=args.root, log=False)[0]
    edges = split_edges(data, 'train')
    users, items = data['user'].num_nodes, data['item'].num_nodes
    print(f'Yelp2018 training graph: {users} users, {items} items, '
          f'{edges.size(1)} edges')
    ours = timed('  graph_statistics (torch)', graph_statistics, edges,
                 users, items)
    theirs = timed('  networkx number_connected_components',
                   networkx_components, edges, users)
    isolated = ours['isolated_users'] + ours['isolated_items']
    print(f'  components: {ours["components"] - isolated} with edges '
          f'(networkx: {theirs}), plus {isolated} isolated nodes')

    generator = torch.Generator().manual_seed(0)
    edges = torch.stack([
        torch.randint(args.users, (args.edges, ), generator=generator),
        torch.randint(args.items, (args.edges, ), generator=generator)])
    print(f'random graph: {args.users} users, {args.items} items, '
          f'{args.edges} edges')
    ours = timed('  graph_statistics (torch)', graph_statistics, edges,
                 args.users, args.items)
    print(f'  components: {ours["components"]}')


if __name__ == '__main__':
    main()
