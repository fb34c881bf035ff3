import math

import pytest
import torch
from torch_geometric.nn.models import LightGCN as PyGLightGCN
from torch_geometric.testing import withCUDA

from hlr_graph.data import SyntheticMultiInterest, split_edges
from hlr_graph.evaluation import Evaluator
from hlr_graph.loader import TripletBatch
from hlr_graph.models import (
    ALS,
    BPRMF,
    LRML,
    AdaCML,
    LightGCN,
    MostPopular,
    TransCF,
    build_model,
    default_hyperparameters,
)
from hlr_graph.train import TrainConfig, Trainer

EMPTY = torch.empty(2, 0, dtype=torch.long)


def set_(param, values):
    with torch.no_grad():
        param.copy_(torch.tensor(values, dtype=torch.float))


def test_lrml_forward_by_hand():
    model = LRML(1, 2, embedding_dim=2, num_memories=2, margin=0.5)
    set_(model.user_emb.weight, [[1.0, 0.5]])
    set_(model.item_emb.weight, [[0.2, 0.4], [0.0, 1.0]])
    set_(model.memory.keys, [[1.0, 0.0], [0.0, 2.0]])
    set_(model.memory.memories, [[0.1, 0.0], [0.0, -0.3]])
    # Item 0: s = p * q = [0.2, 0.2]; logits K s = [0.2, 0.4].
    w = torch.softmax(torch.tensor([0.2, 0.4]), 0)
    relation = w[0] * torch.tensor([0.1, 0.0]) + w[1] * torch.tensor(
        [0.0, -0.3])
    expected = (torch.tensor([1.0, 0.5]) + relation -
                torch.tensor([0.2, 0.4])).pow(2).sum()
    distance = model(torch.tensor([0]), torch.tensor([0]))
    assert distance.item() == pytest.approx(expected.item(), abs=1e-6)
    assert model.score(torch.tensor([0]))[0, 0].item() == pytest.approx(
        -expected.item(), abs=1e-6)
    all_items = model(torch.tensor([0, 0]), torch.tensor([0, 1]))
    assert torch.allclose(model.score(torch.tensor([0]))[0], -all_items,
                          atol=1e-6)


def test_transcf_forward_and_loss_by_hand():
    # User 0 likes items 0 and 1; user 1 likes item 1.
    edge_index = torch.tensor([[0, 0, 1], [0, 1, 1]])
    model = TransCF(2, 3, edge_index, embedding_dim=2, margin=1.0,
                    alpha_nbr=0.5, alpha_dist=0.25)
    set_(model.user_emb.weight, [[1.0, 0.0], [0.0, 1.0]])
    set_(model.item_emb.weight, [[0.5, 0.5], [1.0, -1.0], [0.0, 0.2]])
    nbr_user0 = torch.tensor([0.75, -0.25])  # Mean of items 0 and 1.
    nbr_item1 = torch.tensor([0.5, 0.5])  # Mean of users 0 and 1.
    nbr_item2 = torch.tensor([0.0, 0.0])  # No user.
    p, q1, q2 = (torch.tensor([1.0, 0.0]), torch.tensor([1.0, -1.0]),
                 torch.tensor([0.0, 0.2]))
    d_pos = (p + nbr_user0 * nbr_item1 - q1).pow(2).sum()
    d_neg = (p + nbr_user0 * nbr_item2 - q2).pow(2).sum()
    assert model(torch.tensor([0]), torch.tensor([1])).item() == \
        pytest.approx(d_pos.item())
    batch = TripletBatch(torch.tensor([0]), torch.tensor([1]),
                         torch.tensor([2]), EMPTY)
    regulariser = ((p - nbr_user0).pow(2).sum() +
                   (q1 - nbr_item1).pow(2).sum() +
                   (q2 - nbr_item2).pow(2).sum())
    expected = torch.relu(d_pos - d_neg + 1.0) + 0.5 * regulariser + \
        0.25 * d_pos
    assert model.loss(batch).item() == pytest.approx(expected.item())
    scores = model.score(torch.tensor([0, 1]))
    for user in (0, 1):
        assert torch.allclose(scores[user], -model(
            torch.tensor([user] * 3), torch.arange(3)), atol=1e-6)


def test_adacml_forward_by_hand():
    model = AdaCML(1, 3, embedding_dim=2, max_history=-1)
    set_(model.user_emb.weight, [[0.5, 0.5]])
    set_(model.item_emb.weight, [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    # (source, target) = (history item, query): query 0 remembers 0 and 1.
    history = torch.tensor([[0, 1], [0, 0]])
    target = torch.tensor([0.6, 0.8])
    alpha = torch.softmax(torch.tensor([0.6, 0.8]), 0)  # q_t . q_j
    moved = torch.tensor([0.5, 0.5]) + alpha[0] * torch.tensor(
        [1.0, 0.0]) + alpha[1] * torch.tensor([0.0, 1.0])
    expected = (moved - target).pow(2).sum()
    distance = model(torch.tensor([0]), torch.tensor([2]), history)
    assert distance.item() == pytest.approx(expected.item(), abs=1e-6)
    scores = model.score(torch.tensor([0]), history)
    pairs = torch.stack([torch.tensor([0, 1]).repeat(3),
                         torch.arange(3).repeat_interleave(2)])
    assert torch.allclose(scores[0], -model(torch.zeros(3, dtype=torch.long),
                                            torch.arange(3), pairs),
                          atol=1e-6)
    # Without history the user is not moved: CML's distance.
    assert model.score(torch.tensor([0]), EMPTY)[0, 2].item() == \
        pytest.approx(-(torch.tensor([0.5, 0.5]) - target).pow(2).sum()
                      .item(), abs=1e-6)


def test_bpr_forward_and_loss_by_hand():
    model = BPRMF(1, 2, embedding_dim=2, weight_decay=0.1)
    set_(model.user_emb.weight, [[1.0, 2.0]])
    set_(model.item_emb.weight, [[0.5, 0.0], [0.0, 0.25]])
    assert model.score(torch.tensor([0])).tolist() == [[0.5, 0.5]]
    batch = TripletBatch(torch.tensor([0]), torch.tensor([0]),
                         torch.tensor([1]), EMPTY)
    # x+ - x- = 0: -log sigmoid(0) = log 2; penalty 5 + 0.25 + 0.0625.
    assert model.loss(batch).item() == pytest.approx(math.log(2) +
                                                     0.1 * 5.3125)


def test_lightgcn_forward_by_hand():
    edge_index = torch.tensor([[0], [0]])  # One user, one of two items.
    model = LightGCN(1, 2, edge_index, embedding_dim=2, num_layers=1)
    set_(model.encoder.embedding.weight, [[1.0, 0.0], [0.0, 1.0],
                                          [3.0, 3.0]])
    # One layer, alpha = 1/2: user -> (e_u + e_i0) / 2 (degrees 1 and 1);
    # item 0 -> (e_i0 + e_u) / 2; item 1 is isolated -> e_i1 / 2.
    user = torch.tensor([0.5, 0.5])
    expected = [user @ torch.tensor([0.5, 0.5]),
                user @ torch.tensor([1.5, 1.5])]
    assert torch.allclose(model.score(torch.tensor([0]))[0],
                          torch.stack(expected))


def test_lightgcn_propagation_and_gradients_equal_pyg():
    torch.manual_seed(0)
    edge_index = torch.stack([torch.randint(0, 6, (20, )),
                              torch.randint(0, 9, (20, ))]).unique(dim=1)
    model = LightGCN(6, 9, edge_index, embedding_dim=4, num_layers=2)
    reference = PyGLightGCN(15, 4, num_layers=2)
    reference.embedding.weight.data.copy_(model.encoder.embedding.weight)
    graph = torch.cat([edge_index + torch.tensor([[0], [6]]),
                       edge_index.flip(0) + torch.tensor([[6], [0]])], dim=1)
    weight = torch.randn(15, 4)  # A random linear read-out of the output.
    out, expected = model.embeddings(), reference.get_embedding(graph)
    (out * weight).sum().backward()
    (expected * weight).sum().backward()
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(model.encoder.embedding.weight.grad,
                          reference.embedding.weight.grad, atol=1e-6)


def test_als_factors_score_and_solve_the_normal_equations():
    pytest.importorskip('implicit')
    model = ALS(3, 4, embedding_dim=3, regularization=0.5, iterations=15)
    set_(model.user_factors, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                              [0.0, 0.0, 2.0]])
    set_(model.item_factors, [[1.0, 2.0, 3.0]] * 4)
    assert model.score(torch.tensor([2]))[0].tolist() == [6.0] * 4

    edge_index = torch.tensor([[0, 0, 1, 2, 2], [0, 1, 1, 2, 3]])
    torch.manual_seed(0)
    model.fit(edge_index)
    x, y = model.user_factors.double(), model.item_factors.double()
    # With alpha = 1 every confidence is 1: after the last (item) sweep,
    # (X^T X + lambda I) y_i = sum of x_u over the item's users, exactly
    # (3 conjugate-gradient steps solve a 3-dimensional system).
    left = (x.t() @ x + 0.5 * torch.eye(3, dtype=torch.double)) @ y.t()
    right = torch.zeros(4, 3, dtype=torch.double).index_add_(
        0, edge_index[1], x[edge_index[0]]).t()
    assert torch.allclose(left, right, atol=1e-4)


def test_every_model_builds_with_the_authors_settings():
    edge_index = torch.tensor([[0, 1], [1, 2]])
    for family in ('ml-100k', 'lastfm', 'yelp', 'amazon-ratings'):
        for name in ('als', 'bpr', 'lightgcn', 'cml', 'lrml', 'transcf',
                     'adacml', 'hlr', 'hlrpp'):
            settings = default_hyperparameters(family, name)
            settings.pop('lr', None)
            build_model(name, 3, 4, edge_index, **settings)


@withCUDA
@pytest.mark.parametrize('name', ['bpr', 'lightgcn', 'cml', 'lrml',
                                  'transcf', 'adacml', 'hlr', 'hlrpp'])
def test_losses_are_sums_over_triplets(name, device):
    # The trainer reports loss / triplets and Adam sees the gradient of the
    # sum: a batch repeated twice must have twice the loss.
    edge_index = torch.tensor([[0, 0, 1, 2], [1, 2, 2, 3]])
    torch.manual_seed(0)
    model = build_model(name, 3, 5, edge_index, embedding_dim=4).to(device)
    history = torch.tensor([[2, 1, 3], [0, 1, 1]])  # (item, query).
    batch = TripletBatch(torch.tensor([0, 1]), torch.tensor([1, 2]),
                         torch.tensor([4, 0]), history)
    twice = TripletBatch(batch.user.repeat(2), batch.pos.repeat(2),
                         batch.neg.repeat(2), torch.cat(
                             [history, history + torch.tensor([[0], [2]])],
                             dim=1))
    batch, twice = batch.to(device), twice.to(device)
    assert model.loss(twice).item() == pytest.approx(
        2 * model.loss(batch).item(), rel=1e-5)


@pytest.fixture(scope='module')
def synthetic():
    data = SyntheticMultiInterest()[0]
    popular = MostPopular(data['user'].num_nodes, data['item'].num_nodes)
    popular.fit(split_edges(data, 'train'))
    evaluator = Evaluator(data, 'test', ks=(10, ), num_cohorts=0)
    return data, evaluator, evaluator.evaluate(popular)['metrics']


@withCUDA
@pytest.mark.parametrize('name, settings', [
    ('als', dict(regularization=10.0, alpha=10.0)),
    ('bpr', dict(lr=0.01)),
    ('lightgcn', dict(lr=0.01, num_layers=2)),
    ('lrml', dict(lr=0.005)),
    ('transcf', dict(lr=0.005)),
    ('adacml', dict(lr=0.005, max_history=10)),
])
def test_baselines_learn_past_the_popularity_floor(name, settings,
                                                   synthetic, device):
    if name == 'als':
        pytest.importorskip('implicit')
    data, evaluator, floor = synthetic
    settings = dict(settings)
    lr = settings.pop('lr', 1e-3)
    torch.manual_seed(0)
    model = build_model(name, data['user'].num_nodes, data['item'].num_nodes,
                        split_edges(data, 'train'), **settings)
    Trainer(model, data, TrainConfig(epochs=8, lr=lr, progress=False,
                                     device=str(device))).fit()
    metrics = evaluator.evaluate(model)['metrics']
    assert metrics['ndcg@10'] > 1.5 * floor['ndcg@10']
