import json
import os

import pytest
import torch

from hlr_graph.data import load_dataset
from hlr_graph.data.__main__ import main as data_main
from hlr_graph.data.graph import split_edges
from hlr_graph.data.registry import loaded_name

# 3 users, 5 items.
RATINGS = 'user,item,rating\na,x,5\na,y,5\nb,z,2\nb,v,5\nc,w,5\nc,x,1\n'
PLAYS = ('user,item,rating,plays\n'
         'a,x,5,1\na,y,5,9\nb,z,2,9\nb,v,5,9\nc,w,5,1\nc,x,1,1\n')


def stats_of(argv, capsys):
    assert data_main(['stats', '--json', *argv]) == 0
    return json.loads(capsys.readouterr().out)


def graph_key(ds):
    data = ds[0]
    return ([split_edges(data, s).tolist() for s in ('train', 'val', 'test')],
            data['user'].raw_id, data['item'].raw_id)


# Issue case 1: every option that changes the graph is in the cache key #######


def test_stats_after_swapping_columns_is_not_stale(tmp_path, capsys):
    path = tmp_path / 'my.csv'
    path.write_text(RATINGS)
    base = ['--dataset', str(path), '--threshold', '0', '--k-core', '0',
            '--cache-dir', str(tmp_path / 'cache')]
    first = stats_of(base, capsys)
    assert (first['users'], first['items']) == (3, 5)
    swapped = stats_of(base + ['--user-col', 'item', '--item-col', 'user'],
                       capsys)
    assert (swapped['users'], swapped['items']) == (5, 3)


@pytest.mark.parametrize('change, expected', [
    (dict(rating_col='plays'), (2, 3, 3)),  # Plays >= 4, not ratings >= 4.
    (dict(rating_col=-1), (3, 5, 6)),       # Implicit: every row.
    (dict(user_col='item', item_col='user', rating_col='rating'),
     (4, 3, 4)),
    (dict(sep=';'), None),                  # One column: a format error.
])
def test_every_file_option_is_in_the_cache_key(tmp_path, change, expected):
    path = tmp_path / 'my.csv'
    path.write_text(PLAYS)
    common = dict(k_core=0, cache_dir=str(tmp_path / 'cache'))
    first = load_dataset(str(path), file_options=dict(rating_col='rating'),
                         **common)
    assert (first.stats['users'], first.stats['items'],
            first.stats['interactions']) == (3, 4, 4)  # Ratings >= 4.
    if expected is None:
        with pytest.raises(ValueError, match='my.csv'):
            load_dataset(str(path), file_options=change, **common)
    else:
        other = load_dataset(str(path), file_options=change, **common)
        assert (other.stats['users'], other.stats['items'],
                other.stats['interactions']) == expected
        assert other.processed_paths != first.processed_paths


def test_force_reload_processes_again(tmp_path, capsys):
    path = tmp_path / 'my.csv'
    path.write_text(RATINGS)
    argv = ['--dataset', str(path), '--k-core', '0', '--cache-dir',
            str(tmp_path / 'cache')]
    ds = load_dataset(str(path), k_core=0, cache_dir=str(tmp_path / 'cache'))
    with open(ds.processed_paths[1]) as f:  # Tamper with the cache.
        stats = json.load(f)
    with open(ds.processed_paths[1], 'w') as f:
        json.dump({**stats, 'users': -1}, f)
    capsys.readouterr()
    assert stats_of(argv, capsys)['users'] == -1  # Read from the cache.
    assert stats_of(argv + ['--force-reload'], capsys)['users'] == 3
    again = load_dataset(str(path), k_core=0, force_reload=True,
                         cache_dir=str(tmp_path / 'cache'), log=True)
    assert 'Processing' in capsys.readouterr().err
    assert again.stats['users'] == 3


# Issue case 1 (record) and the brief's item 2: options rebuild the graph #####


def test_options_of_a_file_round_trip(tmp_path):
    path = tmp_path / 'events.tsv'
    path.write_text('item\tuser\tstars\n' + ''.join(
        f'i{(u * 7 + k) % 9}\tu{u}\t{1 + (u + k) % 5}\n'
        for u in range(12) for k in range(6)))
    ds = load_dataset(str(path), threshold=3, k_core=2, split='per_user',
                      seed=7, val_fraction=0.2,
                      cache_dir=str(tmp_path / 'cache'))
    options = ds.options
    assert options == {
        'name': str(path), 'threshold': 3.0, 'k_core': 2,
        'split': 'per_user', 'seed': 7, 'test_fraction': 0.1,
        'val_fraction': 0.2,
        'file_options': {'sep': '\t', 'user_col': 'user', 'item_col': 'item',
                         'rating_col': 'stars', 'header': True}}
    assert json.loads(json.dumps(options)) == options
    assert ds.stats['preprocessing']['options'] == options
    rebuilt = load_dataset(**options, cache_dir=str(tmp_path / 'other'))
    assert rebuilt.processed_paths[0] != ds.processed_paths[0]
    assert graph_key(rebuilt) == graph_key(ds)
    assert rebuilt.options == options


def test_options_keep_a_headerless_file_implicit(tmp_path):
    path = tmp_path / 'clicks.txt'
    path.write_text(''.join(f'{u} {i} {u * i}\n' for u in range(6)
                            for i in range(5)))
    ds = load_dataset(str(path), k_core=0, file_options=dict(rating_col=-1),
                      cache_dir=str(tmp_path / 'cache'))
    assert ds.options['file_options'] == {
        'sep': None, 'user_col': 0, 'item_col': 1, 'rating_col': -1,
        'header': False}
    assert ds.stats['interactions'] == 30  # No threshold on the third field.
    rebuilt = load_dataset(**ds.options, cache_dir=str(tmp_path / 'other'))
    assert graph_key(rebuilt) == graph_key(ds)


def test_options_of_a_named_data_set_round_trip(data_root, tmp_path):
    ds = load_dataset('ml-100k', root=data_root, threshold=0, k_core=5,
                      split='per_user', seed=3)
    assert ds.options == {'name': 'ml-100k', 'threshold': 0.0, 'k_core': 5,
                          'split': 'per_user', 'seed': 3,
                          'test_fraction': 0.1, 'val_fraction': 0.1}
    assert ds.stats['preprocessing']['options'] == ds.options
    rebuilt = load_dataset(**ds.options, root=data_root,
                           cache_dir=str(tmp_path))
    assert rebuilt.stats['preprocessing']['below_threshold_dropped'] == 0
    assert graph_key(rebuilt) == graph_key(ds)


def test_the_name_a_data_set_loads_as_is_known_before_it_loads(tmp_path):
    # What chooses a preset's family on the command line before any data
    # loads, and in the run once they have.
    path = tmp_path / 'yelp'  # A file named like a data set keeps its name.
    path.write_text(RATINGS)
    for name in ('synthetic', str(path)):
        ds = load_dataset(name, threshold=0, k_core=0,
                          cache_dir=str(tmp_path / 'cache'))
        assert loaded_name(name) == ds.name
    assert loaded_name(str(path)) == 'yelp'


def test_options_of_the_defaults_round_trip(tmp_path):
    ds = load_dataset('synthetic', cache_dir=str(tmp_path / 'a'))
    assert ds.options['threshold'] == 0.0 and ds.options['k_core'] == 5
    rebuilt = load_dataset(**ds.options, cache_dir=str(tmp_path / 'b'))
    assert graph_key(rebuilt) == graph_key(ds)
    assert torch.equal(split_edges(rebuilt[0], 'test'),
                       split_edges(ds[0], 'test'))


# Issue: a CSV path that does not exist is not an "unknown data set" ##########


@pytest.mark.parametrize('name', ['my.csv', 'ratings.dat.gz',
                                  os.path.join('data', 'clicks')])
def test_missing_path_is_file_not_found(name, tmp_path, monkeypatch,
                                        capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=f'^{name}: no such file$'):
        load_dataset(name)
    assert data_main(['stats', '--dataset', name]) == 2
    assert capsys.readouterr().err == f'error: {name}: no such file\n'


def test_unknown_name_suggests_a_data_set():
    with pytest.raises(ValueError, match=r"unknown data set 'ml100k' \(did "
                       r"you mean 'ml-100k'\?\)"):
        load_dataset('ml100k')


# Issue: "Processing..." is never left without its end ########################


def test_processing_failure_is_announced_and_leaves_no_folder(tmp_path,
                                                              capsys):
    path = tmp_path / 'few.csv'
    path.write_text('user,item\na,x\nb,y\n')
    cache = tmp_path / 'cache'
    with pytest.raises(ValueError, match='no interaction is left'):
        load_dataset(str(path), k_core=10, cache_dir=str(cache))
    err = capsys.readouterr().err
    assert "Processing 'few.csv'..." in err
    assert err.rstrip().endswith('Processing failed.')
    assert not cache.exists()

    cache.mkdir()  # An existing cache folder stays, and stays clean.
    path.write_text('user,item,rating\na,x,5\nb,y,good\n')
    assert data_main(['stats', '--dataset', str(path), '--k-core', '0',
                      '--cache-dir', str(cache)]) == 2
    err = capsys.readouterr().err
    assert err.index('Processing failed.') < err.index("error: ")
    assert "few.csv:3: rating 'good' is not a number" in err
    assert os.listdir(cache) == []


def test_processing_success_ends_with_done(tmp_path, capsys):
    path = tmp_path / 'ok.csv'
    path.write_text(RATINGS)
    load_dataset(str(path), k_core=0, cache_dir=str(tmp_path / 'cache'))
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["Processing 'ok.csv'...", 'Done!']
    load_dataset(str(path), k_core=0, cache_dir=str(tmp_path / 'cache'))
    assert capsys.readouterr().err == ''  # Cached: nothing to announce.
