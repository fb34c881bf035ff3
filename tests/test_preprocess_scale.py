r"""The data path on int32 codes: no overflow, the same graphs as with int64,
and int64 edge tensors for PyG."""
import numpy as np
import pytest
import torch

from hlr_graph.data import Interactions, SyntheticMultiInterest
from hlr_graph.data.graph import INTERACTS, REV_INTERACTS, to_hetero_data
from hlr_graph.data.preprocess import (
    drop_duplicates,
    k_core,
    reindex,
    sorted_pairs,
)
from hlr_graph.data.split import per_user_split, reference_split


def table(user, item, num_users, num_items, dtype=np.int32, fold=None):
    return Interactions(
        np.asarray(user, dtype=dtype), np.asarray(item, dtype=dtype),
        np.arange(num_users).astype(str), np.arange(num_items).astype(str),
        fold=None if fold is None else np.asarray(fold, dtype=np.int8))


def random_table(seed, dtype, users=300, items=200, n=5000):
    rng = np.random.default_rng(seed)
    return table(rng.integers(0, users, n), rng.integers(0, items, n),
                 users, items, dtype)


def test_pair_keys_of_int32_codes_do_not_overflow():
    # user * 65536 + item wraps around in int32: (0, 3) and (65536, 3)
    # would share a key.
    data = table([0, 65536, 0], [3, 3, 3], 65537, 65536)
    out, dropped = drop_duplicates(data)
    assert dropped == 1
    assert list(zip(out.user, out.item)) == [(0, 3), (65536, 3)]


@pytest.mark.parametrize('seed', [0, 1])
def test_int32_and_int64_codes_give_the_same_graph(seed):
    graphs = []
    for dtype in (np.int64, np.int32):
        data, _ = drop_duplicates(random_table(seed, dtype))
        data = reindex(k_core(data, 3))
        assert data.user.dtype == data.item.dtype == np.int32
        fold = reference_split(data, 7)
        assert (fold == per_user_split(data, 7)).mean() > 0.5
        graph = to_hetero_data(data, fold)
        assert graph[INTERACTS].edge_index.dtype == torch.long
        graphs.append(graph)
    a, b = graphs
    for key in ('edge_index', 'val_edge_label_index',
                'test_edge_label_index'):
        assert torch.equal(a[INTERACTS][key], b[INTERACTS][key])
    assert a['user'].raw_id == b['user'].raw_id


def test_duplicates_keep_the_first_row_of_the_training_fold():
    data = table([2, 0, 2, 0, 2], [1, 1, 1, 0, 1], 3, 2,
                 fold=[2, 2, 0, 0, 0])
    out, dropped = drop_duplicates(data)
    assert dropped == 2
    assert list(zip(out.user, out.item, out.fold)) == [(0, 1, 2), (2, 1, 0),
                                                       (0, 0, 0)]


def test_graph_of_shuffled_rows_equals_sorted_rows():
    data, _ = drop_duplicates(random_table(3, np.int32))
    assert not sorted_pairs(data.user, data.item)
    fold = reference_split(data, 1)
    order = np.lexsort((data.item, data.user))
    ordered = data.select(order)
    assert sorted_pairs(ordered.user, ordered.item, strict=True)
    a, b = to_hetero_data(data, fold), to_hetero_data(ordered, fold[order])
    for key in ('edge_index', 'val_edge_label_index',
                'test_edge_label_index'):
        edges = a[INTERACTS][key]
        assert torch.equal(edges, b[INTERACTS][key])
        keys = edges[0] * 200 + edges[1]
        assert (keys[1:] > keys[:-1]).all()  # Sorted by user, then item.
    rev, edges = a[REV_INTERACTS].edge_index, a[INTERACTS].edge_index
    assert torch.equal(rev, edges.flip(0))
    assert rev.is_contiguous() and edges.is_contiguous()
    # One buffer (user, item, user): the reverse edges are no copy.
    assert rev.untyped_storage().data_ptr() == \
        edges.untyped_storage().data_ptr()


def test_shared_reverse_edges_survive_the_cache(tmp_path):
    for _ in range(2):  # Processed (and saved), then read from the cache.
        g = SyntheticMultiInterest(cache_dir=str(tmp_path), log=False)[0]
        rev, edges = g[REV_INTERACTS].edge_index, g[INTERACTS].edge_index
        assert torch.equal(rev, edges.flip(0)) and rev.is_contiguous()
        assert rev.untyped_storage().data_ptr() == \
            edges.untyped_storage().data_ptr()


def test_sorted_pairs_in_chunks():
    user = np.repeat(np.arange(10), 3)
    item = np.tile(np.arange(3), 10)
    assert sorted_pairs(user, item, strict=True, chunk=4)
    item[7] = item[6]
    assert sorted_pairs(user, item, chunk=4)
    assert not sorted_pairs(user, item, strict=True, chunk=4)
    user[20] = 0
    assert not sorted_pairs(user, item, chunk=4)


def test_unchanged_tables_are_not_copied():
    data = table([0, 0, 1, 1], [0, 1, 0, 1], 2, 2)
    assert drop_duplicates(data)[0] is data  # Sorted and distinct already.
    assert k_core(data, 2) is data
    out = reindex(data)
    assert out.user is data.user and out.user_ids is data.user_ids
