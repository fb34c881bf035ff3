r"""The synthetic data set at any size: bounded memory, seeded, power-law
degrees, planted topics, and its sizes in the options and the cache key."""
import tracemalloc

import numpy as np
import pytest
import torch

from hlr_graph import cli
from hlr_graph.data import (
    SyntheticMultiInterest,
    load_dataset,
    split_edges,
    synthetic,
)
from hlr_graph.data.__main__ import main as data_main
from hlr_graph.data.synthetic import default_topics, multi_interest_interactions

MILLION = dict(num_users=20_000, num_items=5_000, num_interactions=10 ** 6)


@pytest.fixture(scope='module')
def million():
    r"""A 10^6-interaction graph, generated under tracemalloc (numpy reports
    its buffers to it): ``(interactions, peak bytes)``."""
    tracemalloc.start()
    try:
        data = multi_interest_interactions(**MILLION)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return data, peak


def output_bytes(data) -> int:
    return sum(a.nbytes for a in (data.user, data.item, data.user_ids,
                                  data.item_ids))


def test_a_million_interactions_within_a_memory_bound(million):
    data, peak = million
    assert 0.999 * 10 ** 6 <= len(data) <= 10 ** 6
    assert data.user.dtype == data.item.dtype == np.int32
    assert output_bytes(data) < 9 * 2 ** 20  # Two int32 codes a row.
    # The output plus one chunk of draws: far below one int64 pair table
    # with its sort (10^6 x 16 bytes x 4 = 61 MiB) over 10^8 rows.
    assert peak < 100 * 2 ** 20


def test_memory_is_the_output_plus_one_chunk(monkeypatch):
    monkeypatch.setattr(synthetic, 'CHUNK_ROWS', 1 << 14)
    tracemalloc.start()
    try:
        data = multi_interest_interactions(4000, 1000, 200_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The rows are written into one preallocated buffer and trimmed once;
    # a chunk of 16 K draws adds well under 2 MiB.
    assert peak < 2 * output_bytes(data) + 2 * 2 ** 20


def test_pairs_are_distinct_and_sorted(million):
    data, _ = million
    key = data.user.astype(np.int64) * data.num_items + data.item
    assert (np.diff(key) > 0).all()
    assert data.num_users == 20_000 and data.num_items == 5_000


def test_seeded():
    a = multi_interest_interactions(3000, 800, 60_000, seed=1)
    b = multi_interest_interactions(3000, 800, 60_000, seed=1)
    c = multi_interest_interactions(3000, 800, 60_000, seed=2)
    assert np.array_equal(a.user, b.user) and np.array_equal(a.item, b.item)
    assert len(a) != len(c) or not np.array_equal(a.item, c.item)


def test_degrees_are_heavy_tailed(million):
    data, _ = million
    user = np.bincount(data.user, minlength=data.num_users)
    item = np.bincount(data.item, minlength=data.num_items)
    assert user.max() >= 5 * np.median(user)
    assert item.max() >= 5 * np.median(item)
    # A power law, not a few outliers: the top 1 % of items hold far more
    # than 1 % of the interactions.
    top = np.sort(item)[::-1][:len(item) // 100]
    assert top.sum() > 0.04 * item.sum()


def test_users_items_concentrate_on_few_topics(million):
    data, _ = million
    topics = default_topics(data.num_items)
    topic = np.char.partition(np.char.lstrip(data.item_ids, 't'),
                              '-')[:, 0].astype(np.int64)
    assert topic.max() + 1 == topics == 45
    counts = np.bincount(data.user.astype(np.int64) * topics +
                         topic[data.item],
                         minlength=data.num_users * topics).reshape(
                             data.num_users, topics)
    top3 = np.sort(counts, axis=1)[:, -3:].sum(1) / counts.sum(1)
    # 90 % from 2 or 3 liked topics, 10 % uniform: about 0.9 + 0.1 * 3/45.
    assert 0.85 < top3.mean() < 0.96
    # Items drawn at random would put about 3/45 + chance in three topics.
    shuffled = np.random.default_rng(0).permutation(topic)[data.item]
    counts = np.bincount(data.user.astype(np.int64) * topics + shuffled,
                         minlength=data.num_users * topics).reshape(
                             data.num_users, topics)
    assert (np.sort(counts, axis=1)[:, -3:].sum(1) /
            counts.sum(1)).mean() < 0.35


def test_default_is_small_and_keeps_the_old_shape():
    data = multi_interest_interactions()
    assert data.num_users == 600 and data.num_items == 360
    assert 17_900 < len(data) <= 18_000
    assert list(data.item_ids[:2]) == ['t0-i0', 't0-i1']
    assert data.item_ids[-1] == 't11-i29' and data.user_ids[-1] == 'u599'


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_users=10, num_items=4, num_interactions=30), 'half of all'),
    (dict(num_users=10, num_items=100, num_interactions=5), 'one '
     'interaction per user'),
    (dict(num_users=0, num_items=10, num_interactions=5), 'at least one'),
])
def test_impossible_sizes_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        multi_interest_interactions(**kwargs)


# The data set ###############################################################

SMALL = dict(num_users=900, num_items=300, interactions=20_000)


def test_sizes_are_options_and_part_of_the_cache_key(tmp_path):
    ds = SyntheticMultiInterest(**SMALL, cache_dir=str(tmp_path), log=False)
    assert {k: ds.options[k] for k in SMALL} == SMALL
    assert ds.stats['preprocessing']['options'] == ds.options
    assert ds.stats['raw']['interactions'] > 19_000
    default = SyntheticMultiInterest(cache_dir=str(tmp_path), log=False)
    assert default.options['num_users'] == 600
    assert default.processed_file_names != ds.processed_file_names
    other = SyntheticMultiInterest(**{**SMALL, 'interactions': 21_000},
                                   cache_dir=str(tmp_path), log=False)
    assert other.processed_file_names != ds.processed_file_names
    assert other.stats['raw']['interactions'] > ds.stats['raw'][
        'interactions']
    rebuilt = load_dataset(**ds.options, cache_dir=str(tmp_path / 'b'),
                           log=False)
    assert rebuilt.options == ds.options
    for split in ('train', 'val', 'test'):
        assert torch.equal(split_edges(rebuilt[0], split),
                           split_edges(ds[0], split))
    edges = split_edges(ds[0], 'train')
    assert edges.dtype == torch.long and ds[0]['user'].num_nodes <= 900


def test_stats_command_takes_the_size_flags(tmp_path, capsys):
    assert data_main(['stats', '--dataset', 'synthetic', '--num-users',
                      '900', '--num-items', '300', '--interactions',
                      '20000', '--cache-dir', str(tmp_path), '--json']) == 0
    out = capsys.readouterr().out
    assert '"num_users": 900' in out and '"interactions": 20000' in out


@pytest.mark.parametrize('argv, message', [
    (['--dataset', 'ml-100k', '--num-users', '5'],
     'error: --num-users: only --dataset synthetic takes them, not ml-100k'),
    (['--dataset', 'synthetic', '--num-users', '10', '--num-items', '4',
      '--interactions', '30'], 'error: --interactions 30: the synthetic'),
    (['--dataset', 'synthetic', '--num-items', '0'],
     'error: --num-items: must be >= 1, got 0'),
])
def test_size_flag_mistakes_are_one_line(argv, message, tmp_path, capsys):
    try:
        code = cli.main(['stats', *argv, '--cache-dir', str(tmp_path)])
    except SystemExit as e:  # argparse's own range check.
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count('\n') == 1
