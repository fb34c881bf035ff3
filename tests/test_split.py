import numpy as np
import pytest

from hlr_graph.data import Interactions, MovieLens100K, split_edges
from hlr_graph.data.interactions import TEST, TRAIN, VALID
from hlr_graph.data.split import given_split, per_user_split, reference_split


def random_interactions(seed=0, users=50, items=40, n=600):
    rng = np.random.default_rng(seed)
    key = np.unique(rng.integers(0, users * items, n))
    return Interactions(key // items, key % items,
                        np.arange(users).astype(str),
                        np.arange(items).astype(str))


def test_reference_split_sizes_and_seed():
    data = random_interactions()
    n = len(data)
    fold = reference_split(data, seed=2021)
    num_test = int(np.ceil(0.2 * n))
    assert (fold == TEST).sum() == num_test
    assert (fold == VALID).sum() == int(np.ceil(0.1 * (n - num_test)))
    assert (fold == reference_split(data, seed=2021)).all()
    assert (fold != reference_split(data, seed=7)).any()


def test_per_user_split_rounds_each_user():
    data = random_interactions(1)
    fold = per_user_split(data, seed=3)
    for user in np.unique(data.user):
        mine = fold[data.user == user]
        n = mine.size
        assert (mine == TEST).sum() == int(np.floor(0.1 * n + 0.5))
        assert (mine == VALID).sum() == int(np.floor(0.1 * n + 0.5))
    assert (fold == per_user_split(data, seed=3)).all()
    assert (fold != per_user_split(data, seed=4)).any()


def test_given_split_keeps_test_and_carves_validation():
    data = random_interactions(2)
    data.fold = np.where(np.arange(len(data)) % 5 == 0, TEST, TRAIN)
    fold = given_split(data, seed=0, val_fraction=0.25)
    assert ((fold == TEST) == (data.fold == TEST)).all()
    train = data.fold == TRAIN
    for user in np.unique(data.user[train]):
        mine = fold[train & (data.user == user)]
        assert (mine == VALID).sum() == int(np.floor(0.25 * mine.size + 0.5))


@pytest.mark.parametrize('split', ['reference', 'per_user'])
def test_graph_splits_are_disjoint_and_complete(split, data_root):
    ds = MovieLens100K(root=data_root, split=split)
    data = ds[0]
    parts = [split_edges(data, s) for s in ('train', 'val', 'test')]
    keys = [set((p[0] * 10_000 + p[1]).tolist()) for p in parts]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert sum(len(k) for k in keys) == ds.stats['interactions']
    assert [len(k) for k in keys] == [ds.stats['train'], ds.stats['valid'],
                                      ds.stats['test']]
    reverse = data['item', 'rev_interacts', 'user'].edge_index
    assert (reverse.flip(0) == parts[0]).all()


def test_split_is_stable_per_seed(data_root):
    a = MovieLens100K(root=data_root, seed=5)[0]
    b = MovieLens100K(root=data_root, seed=5, force_reload=True)[0]
    c = MovieLens100K(root=data_root, seed=6)[0]
    assert (split_edges(a, 'test') == split_edges(b, 'test')).all()
    assert split_edges(a, 'test').shape != split_edges(c, 'test').shape or \
        (split_edges(a, 'test') != split_edges(c, 'test')).any()
