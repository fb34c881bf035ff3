from collections import Counter

import pytest
import torch
from torch_geometric.data import HeteroData

from hlr_graph.data import (
    INTERACTS,
    ITEM,
    REV_INTERACTS,
    USER,
    MovieLens100K,
    known_edges,
    split_edges,
)
from hlr_graph.data.index import segment_search
from hlr_graph.loader import (
    HistorySampler,
    TripletBatch,
    TripletBatches,
    TripletLoader,
    TripletSampler,
    UserItemIndex,
    sample_negatives,
)

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
r"""Where the samplers' invariants are checked: the CPU, and a GPU when
there is one."""


def random_graph(num_users=30, num_items=25, n=300, seed=0):
    gen = torch.Generator().manual_seed(seed)
    key = torch.randint(num_users * num_items, (n, ), generator=gen).unique()
    data = HeteroData()
    data[USER].num_nodes, data[ITEM].num_nodes = num_users, num_items
    edge_index = torch.stack([key // num_items, key % num_items])
    data[INTERACTS].edge_index = edge_index
    data[REV_INTERACTS].edge_index = edge_index.flip(0)
    return data


def star_graph(popularity):
    r"""User 0 likes items 0..n-1; item j also has popularity[j] - 1 other
    users, so its training popularity is popularity[j]."""
    users, items = [0] * len(popularity), list(range(len(popularity)))
    next_user = 1
    for item, pop in enumerate(popularity):
        for _ in range(pop - 1):
            users.append(next_user)
            items.append(item)
            next_user += 1
    return torch.tensor([users, items]), next_user, len(popularity)


def neighbours(edge_index):
    out = {}
    for u, i in edge_index.t().tolist():
        out.setdefault(u, set()).add(i)
    return out


def loaders(data, device, **kwargs):
    r"""A :class:`TripletLoader` (the CPU only) or :class:`TripletBatches`
    on :obj:`device`, yielding :class:`TripletBatch` on the CPU."""
    if device == 'loader':
        for batch in TripletLoader(data, **kwargs):
            yield TripletBatch.from_hetero(batch)
    else:
        for batch in TripletBatches(data, device=device, **kwargs):
            assert batch.user.device.type == device
            yield batch.to('cpu')


@pytest.mark.parametrize('device', ['loader'] + DEVICES)
@pytest.mark.parametrize('sampling', ['random', 'unpop'])
def test_batches_respect_history_and_negative_rules(sampling, device):
    data = random_graph()
    items_of = neighbours(data[INTERACTS].edge_index)
    for _ in range(5):
        for triplets in loaders(data, device, max_history=3,
                                history_sampling=sampling, batch_size=16,
                                shuffle=True, seed=0):
            for b, (u, pos, neg) in enumerate(zip(triplets.user.tolist(),
                                                  triplets.pos.tolist(),
                                                  triplets.neg.tolist())):
                history = triplets.history[0][triplets.history[1] == b]
                assert pos not in history.tolist()  # No target leakage.
                assert neg not in items_of[u]  # Never a training positive.
                assert set(history.tolist()) <= items_of[u] - {pos}
                assert history.numel() <= 3
                if len(items_of[u]) - 1 <= 3:  # Small: all candidates.
                    assert set(history.tolist()) == items_of[u] - {pos}
                    assert history.numel() == len(items_of[u]) - 1
                elif sampling == 'random':  # Without replacement.
                    assert history.unique().numel() == history.numel() == 3


def test_validation_negatives_avoid_train_and_valid(data_root):
    data = MovieLens100K(root=data_root)[0]
    known = neighbours(known_edges(data, 'test'))
    loader = TripletLoader(data, split_edges(data, 'val'), max_history=5,
                           positives=known_edges(data, 'test'),
                           batch_size=500, seed=1)
    train_items = neighbours(split_edges(data, 'train'))
    for batch in loader:
        t = TripletBatch.from_hetero(batch)
        for u, neg in zip(t.user.tolist(), t.neg.tolist()):
            assert neg not in known[u]
        for item, b in t.history.t().tolist():  # Histories: training items.
            assert item in train_items[t.user[b].item()]


@pytest.mark.parametrize('device', DEVICES)
def test_random_history_is_uniform_without_replacement(device):
    edge_index, num_users, num_items = star_graph([1] * 10)
    sampler = HistorySampler(UserItemIndex(edge_index.to(device), num_users,
                                           num_items), max_history=3)
    gen = torch.Generator(device).manual_seed(0)
    draws = 20_000
    query, item, _ = sampler(
        torch.zeros(draws, dtype=torch.long, device=device),
        torch.full((draws, ), 9, device=device), gen)
    assert item.device.type == device
    query, item = query.cpu(), item.cpu()
    assert (torch.bincount(query) == 3).all()
    for b in range(0, draws, 997):
        assert item[query == b].unique().numel() == 3
    freq = torch.bincount(item, minlength=10).double() / draws
    assert freq[9] == 0  # The target.
    assert torch.allclose(freq[:9], torch.full((9, ), 3 / 9,
                                               dtype=torch.double),
                          atol=0.015)


@pytest.mark.parametrize('device', DEVICES)
def test_unpop_history_follows_inverse_popularity(device):
    popularity = [1, 2, 4, 8, 1, 2, 4, 8]
    edge_index, num_users, num_items = star_graph(popularity)
    sampler = HistorySampler(UserItemIndex(edge_index.to(device), num_users,
                                           num_items),
                             max_history=5, sampling='unpop')
    gen = torch.Generator(device).manual_seed(0)
    draws = 40_000
    target = torch.full((draws, ), 4, device=device)  # Leave out item 4.
    query, item, _ = sampler(
        torch.zeros(draws, dtype=torch.long, device=device), target, gen)
    assert item.device.type == device
    query, item = query.cpu(), item.cpu()
    assert (torch.bincount(query) == 5).all()
    weight = torch.tensor([1 / p for p in popularity], dtype=torch.double)
    weight[4] = 0
    expected = weight / weight.sum()
    freq = torch.bincount(item, minlength=8).double() / item.numel()
    assert freq[4] == 0
    assert torch.allclose(freq, expected, atol=0.01)
    # With replacement: repeats occur.
    assert any(item[query == b].unique().numel() < 5 for b in range(50))


def test_history_positions_are_edge_ids():
    data = random_graph(seed=3)
    edge_index = data[INTERACTS].edge_index
    index = UserItemIndex(edge_index, 30, 25)
    sampler = HistorySampler(index, max_history=-1)
    query, item, position = sampler(torch.arange(30))
    assert (edge_index[1][index.perm[position]] == item).all()
    assert (edge_index[0][index.perm[position]] == query).all()
    assert query.numel() == edge_index.size(1)  # -1 keeps every item.


def test_loader_is_reproducible_per_seed():
    data = random_graph(seed=4)

    def first_batches(seed):
        loader = TripletLoader(data, max_history=2, batch_size=8,
                               shuffle=True, seed=seed)
        return [TripletBatch.from_hetero(b) for _, b in zip(range(3), loader)]

    a, b, c = first_batches(1), first_batches(1), first_batches(2)
    for x, y in zip(a, b):
        for name in ('user', 'pos', 'neg', 'history'):
            assert torch.equal(getattr(x, name), getattr(y, name))
    assert any(not torch.equal(x.neg, z.neg) for x, z in zip(a, c))


def test_mini_batch_is_a_pyg_graph():
    data = random_graph(seed=5)
    batch = next(iter(TripletLoader(data, max_history=2, batch_size=4,
                                    seed=0)))
    assert batch[USER].num_nodes == 4
    assert batch[USER].src_index.tolist() == [0, 1, 2, 3]
    assert batch[ITEM].dst_pos_index.tolist() == [0, 1, 2, 3]
    assert batch[ITEM].dst_neg_index.tolist() == [4, 5, 6, 7]
    user, item = batch[INTERACTS].edge_index
    assert torch.equal(batch[REV_INTERACTS].edge_index,
                       torch.stack([item, user]))
    # e_id points at the history edge in the full graph:
    full = data[INTERACTS].edge_index
    assert torch.equal(full[0][batch[INTERACTS].e_id],
                       batch[USER].n_id[user])
    assert torch.equal(full[1][batch[INTERACTS].e_id],
                       batch[ITEM].n_id[item])


def test_negatives_fail_loudly_for_users_with_every_item():
    edge_index = torch.tensor([[0, 0, 1], [0, 1, 0]])
    index = UserItemIndex(edge_index, 2, 2)
    with pytest.raises(RuntimeError, match=r'users \[0\]'):
        sample_negatives(index, torch.tensor([0, 1]), max_rounds=20)


def _link_neighbor_loader_available():
    import torch_geometric.typing as typing
    return typing.WITH_PYG_LIB or typing.WITH_TORCH_SPARSE


@pytest.mark.skipif(not _link_neighbor_loader_available(),
                    reason='LinkNeighborLoader needs pyg-lib or torch-sparse')
def test_link_neighbor_loader_batches_drop_the_target():
    from torch_geometric.loader import LinkNeighborLoader
    data = random_graph(seed=6)
    items_of = neighbours(data[INTERACTS].edge_index)
    loader = LinkNeighborLoader(
        data, num_neighbors={REV_INTERACTS: [4], INTERACTS: [0]},
        edge_label_index=(INTERACTS, data[INTERACTS].edge_index),
        neg_sampling='triplet', batch_size=16, shuffle=True)
    seen = Counter()
    for batch in loader:
        t = TripletBatch.from_hetero(batch)
        for b, (u, pos) in enumerate(zip(t.user.tolist(), t.pos.tolist())):
            history = t.history[0][t.history[1] == b].tolist()
            assert pos not in history
            assert set(history) <= items_of[u]
            seen[len(history) > 0] += 1
    assert seen[True] > 0


def test_loader_processes_draw_their_own_negatives():
    data = HeteroData()  # 16 users with one item each, among 5000 items:
    data[USER].num_nodes, data[ITEM].num_nodes = 16, 5000  # no rejection.
    edge_index = torch.stack([torch.arange(16), torch.arange(16)])
    data[INTERACTS].edge_index = edge_index
    data[REV_INTERACTS].edge_index = edge_index.flip(0)

    def first_batches():
        loader = TripletLoader(data, max_history=2, batch_size=8, seed=3,
                               num_workers=2)
        return [TripletBatch.from_hetero(b) for _, b in zip(range(2), loader)]

    first, second = first_batches()
    # Without per-process seeds both processes would draw the same stream.
    assert not torch.equal(first.neg, second.neg)
    again = first_batches()  # And the seeds come from the loader's seed.
    assert torch.equal(again[0].neg, first.neg)
    assert torch.equal(again[1].history, second.history)


def test_history_edges_run_from_item_to_query():
    # One convention, PyG's (source, target): (history item, query).
    data = random_graph(seed=7)
    items_of = neighbours(data[INTERACTS].edge_index)
    loader = TripletLoader(data, max_history=3, batch_size=16, seed=0)
    t = TripletBatch.from_hetero(next(iter(loader)))
    item, query = t.history
    assert query.max() < 16 and (query.diff() >= 0).all()  # Sorted queries.
    assert item.max() >= 16  # Item ids, not triplet rows.
    for j, b in t.history.t().tolist():
        assert j in items_of[t.user[b].item()] - {t.pos[b].item()}
    # compact() keeps the order: items index the compacted item table.
    user_nodes, item_nodes, compact = t.compact()
    assert torch.equal(item_nodes[compact.history[0]], item)
    assert torch.equal(compact.history[1], query)

    # Scoring histories: (history item, row in user), sorted by row.
    index = UserItemIndex(data[INTERACTS].edge_index, 30, 25)
    user = torch.tensor([4, 2, 9])
    item, row = HistorySampler(index, max_history=-1).sample_rows(user)
    assert (row.diff() >= 0).all() and row.max() == 2
    for j, r in zip(item.tolist(), row.tolist()):
        assert j in items_of[user[r].item()]
    assert row.numel() == sum(len(items_of[u]) for u in user.tolist())


def test_triplet_loader_requires_the_history_size():
    # A silent max_history=0 turns HLR into CML: the size must be given.
    data = random_graph(seed=8)
    with pytest.raises(TypeError, match='max_history'):
        TripletLoader(data, batch_size=4)
    with pytest.raises(TypeError, match='max_history'):
        TripletSampler(data[INTERACTS].edge_index, 30, 25)
    batch = next(iter(TripletLoader(data, max_history=0, batch_size=4)))
    assert TripletBatch.from_hetero(batch).history.size(1) == 0


@pytest.mark.parametrize('sampling,max_history', [('random', 3), ('unpop', 4),
                                                  ('random', 0)])
def test_triplet_batches_are_the_loaders_batches_on_cpu(sampling,
                                                        max_history):
    data = random_graph(60, 50, 900)
    kwargs = dict(max_history=max_history, history_sampling=sampling,
                  seed=5, batch_size=64, shuffle=True)
    loader, batches = TripletLoader(data, **kwargs), TripletBatches(
        data, **kwargs)
    assert len(loader) == len(batches)
    for _ in range(3):  # Epochs: the streams stay in step across passes.
        expected = [TripletBatch.from_hetero(b) for b in loader]
        got = list(batches)
        assert len(got) == len(expected)
        for a, b in zip(expected, got):
            for name in ('user', 'pos', 'neg', 'history'):
                assert torch.equal(getattr(a, name), getattr(b, name))


def test_triplet_batches_without_shuffle_keep_the_edge_order():
    data = random_graph()
    edges = data[INTERACTS].edge_index
    batches = list(TripletBatches(data, max_history=2, batch_size=7,
                                  drop_last=True, seed=0))
    assert len(batches) == edges.size(1) // 7
    assert torch.equal(torch.cat([b.user for b in batches]),
                       edges[0, :len(batches) * 7])
    assert torch.equal(torch.cat([b.pos for b in batches]),
                       edges[1, :len(batches) * 7])


@pytest.mark.parametrize('right', [False, True])
def test_segment_search_is_searchsorted_within_each_segment(right):
    gen = torch.Generator().manual_seed(0)
    values = torch.randint(0, 20, (200, ), generator=gen)
    rowptr = torch.tensor([0, 0, 1, 7, 60, 61, 200])
    for row in range(6):  # Sorted within each segment only.
        a, b = rowptr[row], rowptr[row + 1]
        values[a:b] = values[a:b].sort().values
    row = torch.randint(0, 6, (500, ), generator=gen)
    query = torch.randint(-1, 22, (500, ), generator=gen)
    start, end = rowptr[row], rowptr[row + 1]
    got = segment_search(values, start, end, query, right=right)
    for r, q, s, e, g in zip(row, query, start, end, got):
        expected = s + torch.searchsorted(values[s:e], q, right=right)
        assert g == expected


def test_find_is_membership_and_position():
    data = random_graph()
    edge_index = data[INTERACTS].edge_index
    index = UserItemIndex(edge_index, 30, 25)
    user = torch.arange(30).repeat_interleave(25)
    item = torch.arange(25).repeat(30)
    position = index.find(user, item)
    known = set(map(tuple, edge_index.t().tolist()))
    for u, i, p in zip(user.tolist(), item.tolist(), position.tolist()):
        assert (p >= 0) == ((u, i) in known)
        if p >= 0:
            assert edge_index[:, index.perm[p]].tolist() == [u, i]
