import json

import networkx as nx
import numpy as np
import pytest

from hlr_graph.data import Interactions
from hlr_graph.data.__main__ import main as data_main
from hlr_graph.data.preprocess import binarize, drop_duplicates, k_core, reindex


def interactions(user, item, rating=None, fold=None):
    user, item = np.asarray(user), np.asarray(item)
    return Interactions(
        user, item, np.array([f'u{i}' for i in range(user.max() + 1)]),
        np.array([f'i{i}' for i in range(item.max() + 1)]),
        None if rating is None else np.asarray(rating, dtype=float),
        None if fold is None else np.asarray(fold, dtype=np.int8))


def networkx_core(data, k):
    graph = nx.Graph()
    graph.add_edges_from((('u', u), ('i', i))
                         for u, i in zip(data.user, data.item))
    core = nx.k_core(graph, k)
    return sorted((a[1], b[1]) if a[0] == 'u' else (b[1], a[1])
                  for a, b in core.edges())


def test_binarize_keeps_ratings_at_threshold():
    data = interactions([0, 0, 1, 1], [0, 1, 0, 1], [4, 3.5, 5, 4.0])
    out = binarize(data, 4)
    assert list(zip(out.user, out.item)) == [(0, 0), (1, 0), (1, 1)]
    assert out.rating is None
    assert len(binarize(data, None)) == 4


def test_drop_duplicates_counts_and_prefers_training():
    data = interactions([0, 0, 1, 0], [1, 1, 0, 2], fold=[2, 0, 0, 0])
    out, dropped = drop_duplicates(data)
    assert dropped == 1
    assert sorted(zip(out.user, out.item, out.fold)) == [(0, 1, 0), (0, 2, 0),
                                                         (1, 0, 0)]


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('k', [2, 3, 5])
def test_k_core_matches_networkx_on_random_graphs(seed, k):
    rng = np.random.default_rng(seed)
    key = np.unique(rng.integers(0, 60 * 50, 700))
    data = interactions(key // 50, key % 50)
    out = k_core(data, k)
    assert sorted(zip(out.user, out.item)) == networkx_core(data, k)


def test_k_core_matches_networkx_on_movielens(data_root):
    from hlr_graph.data.readers import read_table
    raw = read_table(f'{data_root}/ml-100k/u.data', sep='\t', rating_col=2)
    data, _ = drop_duplicates(binarize(raw, 4))
    out = k_core(data, 10)
    assert sorted(zip(out.user, out.item)) == networkx_core(data, 10)
    assert np.bincount(out.user).max() > 10 and len(out) == 52_764


def test_reindex_is_contiguous_and_keeps_ids():
    data = interactions([3, 3, 7], [5, 1, 5])
    out = reindex(data)
    assert list(out.user) == [0, 0, 1] and list(out.item) == [1, 0, 1]
    assert list(out.user_ids) == ['u3', 'u7']
    assert list(out.item_ids) == ['i1', 'i5']


@pytest.mark.parametrize('name, raw', [
    ('ml-100k', {'users': 943, 'items': 1682, 'interactions': 100_000}),
    ('yelp', {'users': 31_668, 'items': 38_048, 'interactions': 1_561_406}),
    ('lastfm', {'users': 1892, 'items': 17_632, 'interactions': 92_834}),
])
def test_stats_command_raw_counts(name, raw, data_root, capsys):
    assert data_main(['stats', '--json', '--dataset', name,
                      '--root', data_root]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats['raw'] == raw
    for key in ('users', 'items', 'interactions', 'density',
                'median_interactions_per_user'):
        assert key in stats
    assert stats['density'] == pytest.approx(
        stats['interactions'] / (stats['users'] * stats['items']))
    assert stats['train'] + stats['valid'] + stats['test'] == \
        stats['interactions']


def test_stats_command_preprocessing_flags(data_root, capsys):
    assert data_main(['stats', '--json', '--dataset', 'ml-100k', '--root',
                      data_root, '--threshold', '0', '--k-core', '0']) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats['users'], stats['items'], stats['interactions']) == (
        943, 1682, 100_000)
    assert stats['median_interactions_per_user'] == 65.0


def test_stats_command_reports_missing_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr('hlr_graph.data.dataset.download_url',
                        lambda *a, **k: (_ for _ in ()).throw(OSError('off')))
    assert data_main(['stats', '--dataset', 'lastfm', '--root',
                      str(tmp_path)]) == 2
    assert 'user_artists.dat not found' in capsys.readouterr().err
