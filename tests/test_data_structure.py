import json

import networkx as nx
import numpy as np
import pytest
import torch

from hlr_graph.data import load_dataset
from hlr_graph.data.__main__ import format_stats
from hlr_graph.data.__main__ import main as data_main
from hlr_graph.data.graph import split_edges
from hlr_graph.data.structure import bipartite_components, graph_statistics


def networkx_statistics(edge_index, num_users, num_items):
    r"""The oracle: the same statistics through :mod:`networkx`."""
    graph = nx.Graph()
    graph.add_nodes_from(('u', u) for u in range(num_users))
    graph.add_nodes_from(('i', i) for i in range(num_items))
    graph.add_edges_from((('u', u), ('i', i))
                         for u, i in edge_index.t().tolist())
    parts = sorted(nx.connected_components(graph),
                   key=lambda c: (-len(c), min(c)))
    largest = graph.subgraph(parts[0])
    user_deg = np.array([graph.degree[('u', u)] for u in range(num_users)])
    item_deg = np.array([graph.degree[('i', i)] for i in range(num_items)])
    return parts, {
        'components': len(parts),
        'isolated_users': int((user_deg == 0).sum()),
        'isolated_items': int((item_deg == 0).sum()),
        'largest_component': {
            'users': sum(n[0] == 'u' for n in parts[0]),
            'items': sum(n[0] == 'i' for n in parts[0]),
            'interactions': largest.number_of_edges()},
        'user_degree': [user_deg.min(), np.median(user_deg), user_deg.mean(),
                        user_deg.max()],
        'item_degree': [item_deg.min(), np.median(item_deg), item_deg.mean(),
                        item_deg.max()],
    }


def check_against_networkx(edge_index, num_users, num_items):
    parts, expected = networkx_statistics(edge_index, num_users, num_items)
    user_comp, item_comp = bipartite_components(edge_index, num_users,
                                                num_items)
    ours = {}
    for u, c in enumerate(user_comp.tolist()):
        ours.setdefault(c, set()).add(('u', u))
    for i, c in enumerate(item_comp.tolist()):
        ours.setdefault(c, set()).add(('i', i))
    assert sorted(map(sorted, ours.values())) == sorted(map(sorted, parts))

    stats = graph_statistics(edge_index, num_users, num_items)
    top = stats['largest_component']
    assert {k: top[k] for k in ('users', 'items', 'interactions')} == \
        expected['largest_component']
    assert top['users_share'] == pytest.approx(top['users'] / num_users)
    assert top['interactions_share'] == pytest.approx(
        top['interactions'] / edge_index.size(1))
    for key in ('components', 'isolated_users', 'isolated_items'):
        assert stats[key] == expected[key]
    for who in ('user', 'item'):
        d = stats[f'{who}_degree']
        assert [d['min'], d['median'], d['mean'], d['max']] == \
            pytest.approx(expected[f'{who}_degree'])


@pytest.mark.parametrize('seed', range(6))
def test_components_match_networkx_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    num_users, num_items = rng.integers(5, 80, size=2)
    num_edges = rng.integers(0, 2 * (num_users + num_items))
    key = np.unique(rng.integers(0, num_users * num_items, num_edges))
    edge_index = torch.from_numpy(np.stack([key // num_items,
                                            key % num_items]))
    check_against_networkx(edge_index, int(num_users), int(num_items))


def test_components_of_a_long_path_in_scrambled_order():
    # u0 - i0 - u1 - i1 - ... - u199 - i199, with node ids shuffled, so that
    # labels must travel far.
    rng = np.random.default_rng(0)
    users, items = rng.permutation(200), rng.permutation(200)
    path = [(users[k], items[k]) for k in range(200)] + \
        [(users[k + 1], items[k]) for k in range(199)]
    edge_index = torch.tensor(path).t()
    check_against_networkx(edge_index, 200, 200)
    user_comp, item_comp = bipartite_components(edge_index, 200, 200)
    assert user_comp.unique().tolist() == [0] == item_comp.unique().tolist()


def test_stats_report_the_training_graph(data_root):
    ds = load_dataset('ml-100k', root=data_root, threshold=0, k_core=0,
                      split='per_user')
    data = ds[0]
    edge_index = split_edges(data, 'train')
    _, expected = networkx_statistics(edge_index, data['user'].num_nodes,
                                      data['item'].num_nodes)
    graph = ds.stats['train_graph']
    assert graph['components'] == expected['components']
    assert graph['isolated_items'] == expected['isolated_items'] > 0
    assert graph['largest_component']['interactions'] == \
        expected['largest_component']['interactions'] == edge_index.size(1)
    assert graph['user_degree']['max'] == expected['user_degree'][3]


# Issue: ``stats`` prints a table by default and JSON with --json ############


def test_stats_prints_a_table_and_json_on_request(tmp_path, capsys):
    path = tmp_path / 'my.csv'
    path.write_text('user,item\n' + ''.join(
        f'u{u},i{(u + k) % 7}\n' for u in range(9) for k in range(3)) +
        'loner,island\n')
    argv = ['stats', '--dataset', str(path), '--k-core', '0', '--split',
            'per_user']  # Every user's 1 or 3 rows stay in training.
    assert data_main(argv) == 0
    table = capsys.readouterr().out
    with pytest.raises(json.JSONDecodeError):
        json.loads(table)
    assert data_main(argv + ['--json']) == 0
    stats = json.loads(capsys.readouterr().out)
    assert table == format_stats(stats) + '\n'
    assert stats['train_graph']['components'] == 2
    lines = {line.split('  ')[0]: line for line in table.splitlines()}
    assert 'my.csv' in lines['data set']
    assert "user 'user', item 'item', rating none (implicit)" in \
        lines['file columns']
    assert '2 connected components' in lines['training graph']
    assert lines['largest component'].startswith(
        'largest component  9 users (90.0%), 7 items (87.5%)')
    assert '28' in table and 'validation' in table


def test_format_stats_reads_stats_without_the_new_keys():
    old = {'dataset': 'x', 'users': 2, 'items': 3, 'interactions': 4,
           'density': 0.5, 'median_interactions_per_user': 2.0, 'train': 2,
           'valid': 1, 'test': 1}
    text = format_stats(old)
    assert 'x' in text and 'training graph' not in text
