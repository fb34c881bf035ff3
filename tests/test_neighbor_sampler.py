import pytest
import torch
import torch.nn.functional as F
from test_main_job import load_example
from test_sampler import neighbours, random_graph
from torch_geometric.nn.conv import GATConv, LGConv, SAGEConv
from torch_geometric.nn.models import GraphSAGE

from hlr_graph.data import INTERACTS, ITEM, REV_INTERACTS, USER
from hlr_graph.data.index import UserItemIndex
from hlr_graph.data.registry import load_dataset
from hlr_graph.evaluation import Evaluator
from hlr_graph.evaluation import recommend as recommend_items
from hlr_graph.loader import (
    SubgraphBatch,
    TripletBatch,
    TripletBatches,
    TripletLoader,
    TripletNeighborSampler,
    sample_neighbours,
)
from hlr_graph.models import HLR
from hlr_graph.nn.encoder import GNNEncoder
from hlr_graph.train import TrainConfig, Trainer

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def encoders(dim, layers=2):
    return {
        'lightgcn': GNNEncoder([LGConv(normalize=False, aggr='mean')
                                for _ in range(layers)], combine='mean'),
        'sage': GNNEncoder([SAGEConv(dim, dim) for _ in range(layers)],
                           act=F.relu),
        'gat': GNNEncoder([GATConv(dim, dim) for _ in range(layers)],
                          act=F.elu),
    }


def hop_of(store):
    r"""``[N]`` the hop at which each node of a store was reached (0: a
    seed), from ``num_sampled_nodes``."""
    counts = torch.tensor(store.num_sampled_nodes)
    return torch.repeat_interleave(torch.arange(counts.numel()), counts)


def check_form(batch, data, num_neighbors):
    r"""What a ``neg_sampling='triplet'`` mini-batch of a link neighbour
    loader holds, whichever sampler drew it: the seeds first, ids that
    point back at the graph, and fan-outs within their bounds."""
    graph = data[INTERACTS].edge_index
    users, items = batch[USER], batch[ITEM]
    for store in (users, items):
        assert store.n_id.dtype == torch.long
        assert store.num_nodes == store.n_id.numel()
        assert store.n_id.unique().numel() == store.n_id.numel()
    user = users.n_id[users.src_index]
    pos = items.n_id[items.dst_pos_index]
    neg = items.n_id[items.dst_neg_index]
    # The distinct users, then the distinct positive and negative items,
    # lead their node lists:
    num_seed_users = user.unique().numel()
    assert torch.equal(users.n_id[:num_seed_users].sort().values,
                       user.unique())
    seed_items = torch.cat([pos, neg]).unique()
    assert torch.equal(items.n_id[:seed_items.numel()].sort().values,
                       seed_items)
    # Every edge is a graph edge in the direction of its type, e_id its id:
    for edge_type, (src, dst) in ((INTERACTS, (USER, ITEM)),
                                  (REV_INTERACTS, (ITEM, USER))):
        store = batch[edge_type]
        assert store.edge_index.dtype == torch.long
        source = batch[src].n_id[store.edge_index[0]]
        target = batch[dst].n_id[store.edge_index[1]]
        user_item = (source, target) if src == USER else (target, source)
        assert torch.equal(graph[0][store.e_id], user_item[0])
        assert torch.equal(graph[1][store.e_id], user_item[1])
        # Without replacement: no edge twice into the same target.
        assert store.e_id.unique().numel() == store.e_id.numel()
        # At most the first hop's fan-out into any node.
        if store.edge_index.size(1):
            assert torch.bincount(store.edge_index[1]).max() <= max(
                num_neighbors)
    return user, pos, neg


@pytest.mark.parametrize('device', DEVICES)
def test_neighbour_sampler_invariants(device):
    data = random_graph(40, 30, 500, seed=1)
    graph = data[INTERACTS].edge_index
    items_of = neighbours(graph)
    users_of = neighbours(graph.flip(0))
    num_neighbors = [3, 2, 2]
    sampler = TripletNeighborSampler(graph, 40, 30, num_neighbors, seed=0,
                                     device=device)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        pick = torch.randperm(graph.size(1), generator=gen)[:12]
        user, pos = graph[:, pick]
        batch = sampler.sample(user, pos)
        assert batch.user.device.type == device
        batch = batch.to('cpu')
        sub = batch.subgraph
        sub[USER].src_index = batch.local.user  # What the loader adds.
        sub[ITEM].dst_pos_index = batch.local.pos
        sub[ITEM].dst_neg_index = batch.local.neg
        u, p, n = check_form(sub, data, num_neighbors)
        assert torch.equal(u, user) and torch.equal(p, pos)
        assert torch.equal(batch.user, user) and torch.equal(batch.neg, n)
        for a, b in zip(user.tolist(), n.tolist()):
            assert b not in items_of[a]  # Negatives are never positives.

        supervision = set(zip(user.tolist(), pos.tolist()))
        for edge_type in (INTERACTS, REV_INTERACTS):
            e_id = sub[edge_type].e_id
            pairs = set(zip(graph[0][e_id].tolist(), graph[1][e_id].tolist()))
            assert not pairs & supervision  # Never the predicted edge.

        # Hop by hop: node sets grow, each node expanded at its own hop
        # only, with min(fan-out, degree left) distinct neighbours.
        for edge_type, node_type, adjacency in (
                (REV_INTERACTS, USER, items_of),
                (INTERACTS, ITEM, users_of)):
            store, nodes = sub[edge_type], sub[node_type]
            hop = hop_of(nodes)
            target = store.edge_index[1]
            count = torch.bincount(target, minlength=nodes.num_nodes)
            for local, node in enumerate(nodes.n_id.tolist()):
                h = int(hop[local])
                left = adjacency.get(node, set()) - {
                    b if node_type == USER else a for a, b in supervision
                    if (a if node_type == USER else b) == node}
                expected = (min(num_neighbors[h], len(left))
                            if h < len(num_neighbors) else 0)
                assert int(count[local]) == expected
        # A triplet's history: its user's first hop, never its target.
        for b in range(user.numel()):
            history = set(batch.history[0][batch.history[1] == b].tolist())
            assert int(pos[b]) not in history
            assert history <= items_of[int(user[b])]
            assert len(history) == min(3, len(
                items_of[int(user[b])] - {q for a, q in supervision
                                          if a == int(user[b])}))


@pytest.mark.parametrize('device', DEVICES)
def test_neighbours_are_uniform_without_replacement(device):
    edge_index = torch.stack([torch.zeros(10, dtype=torch.long),
                              torch.arange(10)]).to(device)
    index = UserItemIndex(edge_index, 1, 10)
    excluded = torch.zeros(10, dtype=torch.bool, device=device)
    excluded[index.find(torch.tensor([0], device=device),
                        torch.tensor([4], device=device))] = True
    draws = 20_000
    gen = torch.Generator(device).manual_seed(0)
    owner, position = sample_neighbours(
        index, torch.zeros(draws, dtype=torch.long, device=device), 3,
        excluded, gen)
    owner, item = owner.cpu(), index.col[position].cpu()
    assert (torch.bincount(owner, minlength=draws) == 3).all()
    for b in range(0, draws, 997):
        assert item[owner == b].unique().numel() == 3
    freq = torch.bincount(item, minlength=10).double() / draws
    assert freq[4] == 0  # Excluded.
    expected = torch.full((9, ), 3 / 9, dtype=torch.double)
    assert torch.allclose(freq[torch.arange(10) != 4], expected, atol=0.015)
    # -1: every neighbour that is not excluded.
    owner, position = sample_neighbours(index, torch.zeros(
        1, dtype=torch.long, device=device), -1, excluded, gen)
    assert sorted(index.col[position].tolist()) == [
        i for i in range(10) if i != 4]


def test_neighbour_loader_and_batches_agree_on_cpu():
    data = random_graph(60, 50, 900)
    kwargs = dict(max_history=4, num_neighbors=[4, 3], seed=5,
                  batch_size=64, shuffle=True)
    loader, batches = TripletLoader(data, **kwargs), TripletBatches(
        data, **kwargs)
    for _ in range(2):
        expected = [SubgraphBatch.from_hetero(b) for b in loader]
        got = list(batches)
        assert len(got) == len(expected) == len(loader)
        for a, b in zip(expected, got):
            assert isinstance(b, SubgraphBatch)
            for name in ('user', 'pos', 'neg', 'history'):
                assert torch.equal(getattr(a, name), getattr(b, name))
                assert torch.equal(getattr(a.local, name),
                                   getattr(b.local, name))
            for key in (USER, ITEM):
                assert torch.equal(a.subgraph[key].n_id,
                                   b.subgraph[key].n_id)
            for key in (INTERACTS, REV_INTERACTS):
                assert torch.equal(a.subgraph[key].edge_index,
                                   b.subgraph[key].edge_index)
    batch = next(iter(loader))
    check_form(batch, data, [4, 3])
    # The histories of TripletBatch.from_hetero are the first hop:
    triplets = TripletBatch.from_hetero(batch)
    assert torch.equal(triplets.history,
                       SubgraphBatch.from_hetero(batch).history)


def test_neighbour_loaders_refuse_a_history_that_is_not_the_first_hop():
    data = random_graph()
    with pytest.raises(ValueError, match=r'num_neighbors\[0\] = 4'):
        TripletBatches(data, max_history=5, num_neighbors=[4, 2])
    with pytest.raises(ValueError, match="'random'"):
        TripletLoader(data, max_history=4, history_sampling='unpop',
                      num_neighbors=[4, 2])
    with pytest.raises(ValueError, match='-1'):
        TripletBatches(data, max_history=0, num_neighbors=[4, -2])


@pytest.mark.parametrize('name', ['lightgcn', 'sage', 'gat'])
def test_layerwise_inference_is_the_full_forward(name):
    torch.manual_seed(0)
    encoder = encoders(8)[name]
    edge_index = torch.randint(50, (2, 400))
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    x = torch.randn(50, 8)
    with torch.no_grad():
        full = encoder(x, edge_index)
    assert torch.allclose(encoder.inference(x, edge_index, chunk_size=7),
                          full, atol=1e-6)


@pytest.mark.parametrize('name', ['lightgcn', 'sage', 'gat', 'GraphSAGE'])
def test_subgraph_encoding_is_the_full_graph_encoding_at_the_seeds(name):
    # With every neighbour and supervision edges outside the graph (as
    # validation edges are), a 2-hop subgraph holds everything a 2-layer
    # encoder reads at the seeds: their vectors are the full graph's.
    torch.manual_seed(0)
    data = random_graph(30, 25, 300, seed=2)
    graph = data[INTERACTS].edge_index
    # Any homogeneous PyG model is an encoder (PyG's GraphSAGE: one full
    # pass to rank, not layer by layer).
    encoder = (GraphSAGE(8, 8, num_layers=2) if name == 'GraphSAGE' else
               encoders(8)[name])
    model = HLR(30, 25, max_history=-1, embedding_dim=8).set_encoder(
        encoder, graph, chunk_size=9)
    known = UserItemIndex(graph, 30, 25)
    user = torch.arange(12)
    pos = torch.randint(25, (12, ))
    keep = ~known.contains(user, pos)
    sampler = TripletNeighborSampler(graph, 30, 25, [-1, -1], seed=0)
    batch = sampler.sample(user[keep], pos[keep])
    users, items = model.encode(batch.subgraph)
    with torch.no_grad():
        all_users, all_items = model.embeddings()  # Layer-wise, cached.
    local = batch.local
    assert torch.allclose(users[local.user], all_users[batch.user],
                          atol=1e-5)
    assert torch.allclose(items[local.pos], all_items[batch.pos], atol=1e-5)
    assert torch.allclose(items[local.neg], all_items[batch.neg], atol=1e-5)
    # The gradient path (a plain TripletBatch: the whole graph every step)
    # computes the same vectors as the layer-wise one:
    grad_users, grad_items = model.embeddings()
    assert torch.allclose(grad_users, all_users, atol=1e-5)
    assert torch.allclose(grad_items, all_items, atol=1e-5)
    # The loss reads the same triplets either way:
    plain = TripletBatch(batch.user, batch.pos, batch.neg, batch.history)
    assert torch.allclose(model.loss(batch), model.loss(plain), atol=1e-4)


def test_encoded_model_trains_ranks_and_explains():
    torch.manual_seed(0)
    data = load_dataset('synthetic')[0]
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    model = HLR(num_users, num_items, max_history=5,
                embedding_dim=16).set_encoder(encoders(16)['sage'],
                                              data[INTERACTS].edge_index)
    with pytest.raises(ValueError, match="sparse updates.*'adam'"):
        model.sparse_gradients_()
    with torch.no_grad():
        before = model.embeddings()[1].clone()
    fit = Trainer(model, data, TrainConfig(
        epochs=1, batch_size=500, num_neighbors=(5, 3), progress=False,
        log=False)).fit()
    assert fit['best_epoch'] == 1
    with torch.no_grad():  # The cache saw the parameters change:
        after = model.embeddings()[1]
    assert not torch.allclose(before, after)
    metrics = Evaluator(data, 'test', num_cohorts=0).evaluate(model)
    assert 0 < metrics['metrics']['ndcg@10'] < 1
    items, _, explanation = recommend_items(
        model, torch.tensor([0, 1]), 5, data[INTERACTS].edge_index,
        explain=True)
    assert items.shape == (2, 5)
    assert explanation.attention.shape[:2] == (2, 5)


def test_hlr_on_gnn_example_reports_every_model(capsys):
    example = load_example('hlr_on_gnn')
    assert example.main(['--dataset', 'synthetic', '--epochs', '1',
                         '--num-neighbors', '4', '2', '--dim', '16',
                         '--baselines']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = {line.split('  ')[0].strip(): line.split()[-4:]
            for line in lines[-5:]}
    assert set(rows) == {'HLR', 'lightgcn + HLR', 'sage + HLR', 'gat + HLR',
                         'LightGCN (full graph)'}
    for metrics in rows.values():
        assert all(0 <= float(m) <= 1 for m in metrics)
    assert 'num_neighbors [4, 2] (L = 4)' in lines[-7]


def _link_neighbor_loader_available():
    import torch_geometric.typing as typing
    return typing.WITH_PYG_LIB or typing.WITH_TORCH_SPARSE


@pytest.mark.skipif(not _link_neighbor_loader_available(),
                    reason='LinkNeighborLoader needs pyg-lib or torch-sparse')
def test_link_neighbor_loader_batches_have_the_neighbour_samplers_form():
    from torch_geometric.loader import LinkNeighborLoader
    data = random_graph(seed=6)
    edges = data[INTERACTS].edge_index
    num_neighbors = [4, 3]
    kwargs = dict(edge_label_index=(INTERACTS, edges),
                  neg_sampling='triplet', batch_size=16, shuffle=True)
    theirs = next(iter(LinkNeighborLoader(data, num_neighbors=num_neighbors,
                                          **kwargs)))
    ours = next(iter(TripletLoader(data, edges, max_history=4,
                                   num_neighbors=num_neighbors, seed=0,
                                   batch_size=16, shuffle=True)))
    assert set(theirs.node_types) == set(ours.node_types)
    assert set(theirs.edge_types) == set(ours.edge_types)
    for key in theirs.node_types + theirs.edge_types:
        # pyg-lib also counts the nodes and edges of each hop, torch-sparse
        # does not; the rest is the same.
        assert (set(theirs[key].keys()) - {'num_sampled_nodes',
                                           'num_sampled_edges'} ==
                set(ours[key].keys()) - {'num_sampled_nodes',
                                         'num_sampled_edges'})
    check_form(theirs, data, num_neighbors)
    check_form(ours, data, num_neighbors)
    model = HLR(30, 25, max_history=4, embedding_dim=8).set_encoder(
        encoders(8)['sage'], edges)
    for batch in (theirs, ours):  # Both read and train the same way.
        read = SubgraphBatch.from_hetero(batch)
        assert torch.equal(
            read.subgraph[USER].n_id[read.local.user], read.user)
        assert torch.isfinite(model.loss(read))
    # Ours never holds the batch's supervision edges:
    user, pos = (ours[USER].n_id[ours[USER].src_index],
                 ours[ITEM].n_id[ours[ITEM].dst_pos_index])
    supervision = set(zip(user.tolist(), pos.tolist()))
    for edge_type in (INTERACTS, REV_INTERACTS):
        e_id = ours[edge_type].e_id
        assert not set(zip(edges[0][e_id].tolist(),
                           edges[1][e_id].tolist())) & supervision
