import pytest
import torch
from torch_geometric.testing import withCUDA
from torch_geometric.utils import to_dense_batch

from hlr_graph.nn import (
    ItemAttentionConv,
    ItemItemRelationConv,
    KeyValueMemory,
    UserAttention,
    squared_distance,
    translation_distance,
)


def test_key_value_memory_follows_eqs_2_to_4():
    memory = KeyValueMemory(2, num_memories=2)
    with torch.no_grad():
        memory.keys.copy_(torch.tensor([[1., 0.], [0., 1.]]))
        memory.memories.copy_(torch.tensor([[1., 2.], [3., 4.]]))
    a, b = torch.tensor([[2., 1.]]), torch.tensor([[1., 3.]])
    # s = a * b = [2, 3]; logits K s = [2, 3]; w = softmax([2, 3]).
    w = torch.softmax(torch.tensor([2., 3.]), 0)
    relation, weight = memory(a, b, return_attention=True)
    assert torch.allclose(weight[0], w)
    assert torch.allclose(relation[0], w[0] * torch.tensor([1., 2.]) +
                          w[1] * torch.tensor([3., 4.]))

    # A temperature divides the logits: softmax([2, 3] / 0.5).
    memory.temperature = 0.5
    assert torch.allclose(memory.attention(a, b)[0],
                          torch.softmax(torch.tensor([4., 6.]), 0))
    with pytest.raises(ValueError, match='temperature must be positive'):
        KeyValueMemory(2, temperature=0.0)


def test_clip_ram_bounds_memories_and_key_columns():
    memory = KeyValueMemory(3, num_memories=4)
    with torch.no_grad():
        memory.keys.fill_(1.0)  # Columns of norm 2, rows of norm sqrt(3).
        memory.memories.fill_(1.0)
    memory.clip_(1.0)
    assert torch.allclose(memory.keys.norm(dim=0), torch.ones(3), atol=1e-5)
    assert torch.allclose(memory.keys.norm(dim=1),
                          torch.full((4, ), 3**0.5 / 2), atol=1e-5)
    assert torch.allclose(memory.memories.norm(dim=1), torch.ones(4),
                          atol=1e-5)


def test_user_attention_is_a_softmax_per_query():
    query = torch.tensor([[1., 0.], [0., 1.], [1., 1.]])
    relation = torch.tensor([[1., 0.], [2., 0.], [0., 3.], [5., 5.]])
    index = torch.tensor([0, 0, 1, 1])
    out, alpha = UserAttention()(query, relation, index, 3)
    first = torch.softmax(torch.tensor([1., 2.]), 0)
    second = torch.softmax(torch.tensor([3., 5.]), 0)
    assert torch.allclose(alpha, torch.cat([first, second]))
    assert torch.allclose(out[0], first[0] * relation[0] +
                          first[1] * relation[1])
    assert torch.equal(out[2], torch.zeros(2))  # No edge: no relation.


def random_setting(seed, num_users=5, num_items=9, dim=6, num_memories=4,
                   temperature=1.0, device='cpu', dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    user = (torch.randn(num_users, dim, generator=gen) * 0.4).to(device,
                                                                 dtype)
    item = (torch.randn(num_items, dim, generator=gen) * 0.4).to(device,
                                                                 dtype)
    memory = KeyValueMemory(dim, num_memories, temperature).to(device,
                                                               dtype)
    histories = [torch.randperm(num_items, generator=gen)[:n].tolist()
                 for n in (3, 0, 1, 5, 2)[:num_users]]
    return user, item, memory, histories


def history_edges(histories, device='cpu'):
    row = torch.tensor([u for u, h in enumerate(histories) for _ in h],
                       dtype=torch.long, device=device)
    col = torch.tensor([i for h in histories for i in h], dtype=torch.long,
                       device=device)
    return row, col


def message_passing_distance(conv, user, item, histories):
    r"""Distances of every (user, item) pair, one query per pair."""
    num_users, num_items = user.size(0), item.size(0)
    query_user = torch.arange(num_users,
                              device=user.device).repeat_interleave(num_items)
    query_item = torch.arange(num_items, device=user.device).repeat(num_users)
    src, dst = [], []
    for q, u in enumerate(query_user.tolist()):
        src += histories[u]
        dst += [q] * len(histories[u])
    edge_index = torch.tensor([src, dst], dtype=torch.long,
                              device=user.device)
    relation = conv((item, item[query_item]), user[query_user], edge_index)
    return squared_distance(user[query_user] + relation,
                            item[query_item]).view(num_users, num_items)


CONVS = [(ItemItemRelationConv, dict(user_slot=True)),
         (ItemItemRelationConv, dict(user_slot=False)),
         (ItemAttentionConv, {})]


@withCUDA
@pytest.mark.parametrize('conv_cls, kwargs', CONVS)
@pytest.mark.parametrize('seed, temperature', [(0, 1.0), (1, 1.0), (2, 1.0),
                                               (3, 0.05)])
def test_dense_path_equals_message_passing(conv_cls, kwargs, seed,
                                           temperature, device):
    user, item, memory, histories = random_setting(
        seed, temperature=temperature, device=device, dtype=torch.float64)
    conv = conv_cls(memory, **kwargs)
    expected = message_passing_distance(conv, user, item, histories)
    row, col = history_edges(histories, device)
    context, mask = to_dense_batch(item[col], row, batch_size=user.size(0))
    weight = conv.dense(item, context, mask, user)
    dense = translation_distance(user, item, weight, memory.memories)
    assert torch.allclose(dense, expected, atol=1e-12)

    # More padding with garbage in it changes nothing:
    pad = torch.randn(user.size(0), 3, item.size(1), device=device,
                      dtype=user.dtype) * 9
    padded = torch.cat([context, pad], dim=1)
    padded_mask = torch.cat([mask, mask.new_zeros(user.size(0), 3)], dim=1)
    weight = conv.dense(item, padded, padded_mask, user)
    assert torch.allclose(translation_distance(user, item, weight,
                                               memory.memories), expected,
                          atol=1e-12)


@withCUDA
@pytest.mark.parametrize('conv_cls, kwargs', CONVS)
def test_attention_sums_to_one_per_query(conv_cls, kwargs, device):
    user, item, memory, histories = random_setting(3, device=device)
    conv = conv_cls(memory, **kwargs)
    row, col = history_edges(histories, device)
    edge_index = torch.stack([col, row])
    _, (edges, alpha, weight) = conv((item, item[:5]), user, edge_index,
                                     return_attention_weights=True)
    total = alpha.new_zeros(5).index_add_(0, edges[1], alpha)
    has_edges = torch.bincount(edges[1], minlength=5) > 0
    assert torch.allclose(total[has_edges], alpha.new_ones(
        int(has_edges.sum())))
    assert torch.allclose(weight.sum(-1), weight.new_ones(edges.size(1)))


def layer_inputs(seed=3):
    user, item, memory, histories = random_setting(seed)
    row, col = history_edges(histories)
    # (source, target) = (history item, query): 9 items, 5 queries.
    return user, item, memory, torch.stack([col, row])


@pytest.mark.parametrize('conv_cls, kwargs', CONVS)
@pytest.mark.parametrize('case, message', [
    ('float', r'edge_index must be a \[2, E\] torch.long tensor of '
     r'\(source, target\) edges, got a \[2, 11\] torch.float32'),
    ('three rows', r'edge_index must be a \[2, E\] torch.long tensor.*'
     r'got a \[3, 11\]'),
    ('source too large', r'edge_index\[0\] holds 9, out of range for x\[0\] '
     r'\(history items\): expected indices in \[0, 9\)'),
    ('negative source', r'edge_index\[0\] holds -1, out of range'),
    ('target too large', r'edge_index\[1\] holds 5, out of range for the '
     r'queries \(rows of user\): expected indices in \[0, 5\)'),
    ('(query, item) order', r'edge_index\[1\] holds 8, out of range for the '
     r'queries .*\(history item, query\)'),
])
def test_layers_reject_bad_edge_index_with_a_message(conv_cls, kwargs, case,
                                                      message):
    user, item, memory, edge_index = layer_inputs()
    edge_index = edge_index.clone()
    if case == 'float':
        edge_index = edge_index.float()
    elif case == 'three rows':
        edge_index = torch.cat([edge_index, edge_index[:1]])
    elif case == 'source too large':
        edge_index[0, 2] = 9
    elif case == 'negative source':
        edge_index[0, 0] = -1
    elif case == 'target too large':
        edge_index[1, -1] = 5
    else:  # The other order: targets run up to the largest item id.
        edge_index = edge_index.flip(0)
        assert edge_index[1].max() == 8 and edge_index[0].max() < 9
    conv = conv_cls(memory, **kwargs)
    with pytest.raises(ValueError, match=message):
        conv((item, item[:5]), user, edge_index)


@pytest.mark.parametrize('conv_cls, kwargs', CONVS)
def test_layers_reject_inconsistent_sizes_with_a_message(conv_cls, kwargs):
    user, item, memory, edge_index = layer_inputs()
    conv = conv_cls(memory, **kwargs)
    with pytest.raises(ValueError, match=r'x\[1\] \(target items\) has 4 '
                       r'rows, expected 5 \(one per row of user\)'):
        conv((item, item[:4]), user, edge_index)
    with pytest.raises(ValueError, match=r'x\[0\] \(history items\) has 5 '
                       r'channels, expected 6 \(the memory size\)'):
        conv((item[:, :5], item[:5]), user, edge_index)
    with pytest.raises(ValueError, match=r'user has 7 channels, expected 6'):
        conv((item, item[:5]), torch.cat([user, user[:, :1]], 1),
             edge_index)
    with pytest.raises(ValueError, match=r'x must be a pair'):
        conv(item, user, edge_index)
    # Fewer history vectors than the edges index:
    with pytest.raises(ValueError, match=r'edge_index\[0\] holds 8, out of '
                       r'range for x\[0\] \(history items\): expected '
                       r'indices in \[0, 6\)'):
        conv((item[:6], item[:5]), user, edge_index)


def test_user_attention_rejects_bad_inputs_with_a_message():
    query, relation = torch.randn(3, 2), torch.randn(4, 2)
    attention = UserAttention()
    with pytest.raises(ValueError, match=r'index holds 3, out of range for '
                       r'the queries \(rows of query\): expected indices in '
                       r'\[0, 3\)'):
        attention(query, relation, torch.tensor([0, 1, 3, 2]), 3)
    with pytest.raises(ValueError, match=r'relation has 4 rows, expected 3'):
        attention(query, relation, torch.tensor([0, 1, 2]), 3)
    with pytest.raises(ValueError, match=r'query has 3 rows, expected 4 '
                       r'\(num_queries\)'):
        attention(query, relation, torch.tensor([0, 1, 2, 2]), 4)
    with pytest.raises(ValueError, match=r'index must be a \[E\] torch.long'):
        attention(query, relation, torch.tensor([0., 1., 2., 2.]), 3)


@pytest.mark.parametrize('conv_cls, kwargs', CONVS)
def test_attention_is_written_as_pyg_writes_it(conv_cls, kwargs):
    # As GATConv: edge_update gives the coefficients, normalised per query,
    # message weights the key attention by them, aggr='sum' adds them up,
    # and nothing stays on the module between calls.
    user, item, memory, edge_index = layer_inputs()
    user, item, memory = user.double(), item.double(), memory.double()
    conv = conv_cls(memory, **kwargs)
    assert conv.aggr == 'sum'
    out, (edges, alpha, weight) = conv((item, item[:5]), user, edge_index,
                                       return_attention_weights=True)
    anchor, query = ((item[:5], user) if conv_cls is ItemItemRelationConv
                     else (user, item[:5]))
    source = item
    if edges.size(1) > edge_index.size(1):  # The slot edges come last.
        source = torch.cat([item, user if conv_cls is ItemItemRelationConv
                            else item[:5]])
    size = (source.size(0), 5)
    w, a = conv.edge_updater(edges, x=(source, anchor),
                             query=query @ memory.memories.t(), size=size)
    assert torch.equal(w, weight) and torch.equal(a, alpha)
    total = a.new_zeros(5).index_add_(0, edges[1], a)
    assert torch.allclose(total[torch.bincount(edges[1], minlength=5) > 0],
                          a.new_ones(1))
    aggregated = conv.propagate(edges, weight=w, alpha=a, size=size)
    assert torch.allclose(aggregated @ memory.memories, out)
    assert not [name for name, value in vars(conv).items()
                if isinstance(value, torch.Tensor)]


@pytest.mark.parametrize('conv_cls, kwargs', CONVS)
def test_layers_accept_no_edges(conv_cls, kwargs):
    user, item, memory, _ = layer_inputs()
    conv = conv_cls(memory, **kwargs)
    out = conv((item, item[:5]), user, torch.empty(2, 0, dtype=torch.long))
    assert out.shape == (5, 6)
    if conv_cls is ItemItemRelationConv and not kwargs['user_slot']:
        assert torch.equal(out, torch.zeros(5, 6))
