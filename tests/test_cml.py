import pytest
import torch
from torch_geometric.testing import withCUDA

from hlr_graph.data import SyntheticMultiInterest, split_edges
from hlr_graph.evaluation import Evaluator
from hlr_graph.loader import TripletBatch
from hlr_graph.models import CML, MostPopular
from hlr_graph.train import TrainConfig, Trainer


def tiny_cml():
    model = CML(2, 3, embedding_dim=2, margin=0.5)
    with torch.no_grad():
        model.user_emb.weight.copy_(torch.tensor([[0., 0.], [1., 0.]]))
        model.item_emb.weight.copy_(torch.tensor([[0.6, 0.], [0., 0.2],
                                                  [-1., 0.]]))
    return model


def test_cml_loss_is_the_summed_hinge_of_eq_1():
    model = tiny_cml()
    batch = TripletBatch(user=torch.tensor([0, 1]), pos=torch.tensor([1, 0]),
                         neg=torch.tensor([0, 2]),
                         history=torch.empty(2, 0, dtype=torch.long))
    # User 0: d+ = 0.04, d- = 0.36 -> 0.04 - 0.36 + 0.5 = 0.18.
    # User 1: d+ = 0.16, d- = 4.00 -> negative, hinge 0.
    assert model.loss(batch).item() == pytest.approx(0.18)


def test_cml_scores_are_negative_squared_distances():
    model = tiny_cml()
    scores = model.score(torch.tensor([0, 1]))
    expected = -torch.tensor([[0.36, 0.04, 1.0], [0.16, 1.04, 4.0]])
    assert torch.allclose(scores, expected, atol=1e-6)
    assert torch.allclose(scores[1], -model(torch.tensor([1, 1, 1]),
                                            torch.arange(3)))


def test_clipping_bounds_every_row_after_a_step():
    model = CML(5, 7, embedding_dim=4)
    with torch.no_grad():
        model.user_emb.weight.mul_(10)
        model.item_emb.weight[0] = torch.tensor([0.1, 0.0, 0.0, 0.0])
    model.constrain_()
    for emb in (model.user_emb.weight, model.item_emb.weight):
        assert (emb.norm(dim=1) <= 1 + 1e-6).all()
    assert torch.allclose(model.user_emb.weight.norm(dim=1),
                          torch.ones(5), atol=1e-5)  # Were all above 1.
    assert torch.equal(model.item_emb.weight[0],
                       torch.tensor([0.1, 0.0, 0.0, 0.0]))  # Untouched.


@pytest.fixture(scope='module')
def synthetic():
    return SyntheticMultiInterest()[0]


def train(data, seed, epochs=4, **kwargs):
    torch.manual_seed(seed)
    model = CML(data['user'].num_nodes, data['item'].num_nodes)
    fit = Trainer(model, data, TrainConfig(epochs=epochs, seed=seed,
                                           progress=False, **kwargs)).fit()
    return model, fit


def test_training_reproduces_with_a_seed_and_keeps_norms(synthetic):
    # Several CPU threads may round differently from run to run (about 1e-7);
    # one thread shows that every random draw is seeded.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, fit_a = train(synthetic, 3)
        b, fit_b = train(synthetic, 3)
        c, _ = train(synthetic, 4)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(a.user_emb.weight, b.user_emb.weight)
    assert torch.equal(a.item_emb.weight, b.item_emb.weight)
    assert [(r['train_loss'], r['valid_loss']) for r in fit_a['epochs']] == \
        [(r['train_loss'], r['valid_loss']) for r in fit_b['epochs']]
    assert not torch.equal(a.user_emb.weight, c.user_emb.weight)
    assert (a.item_emb.weight.norm(dim=1) <= 1 + 1e-6).all()


def test_trainer_keeps_the_best_validation_epoch(synthetic, tmp_path):
    model, fit = train(synthetic, 0, epochs=6,
                       best_weights=str(tmp_path / 'best.pt'))
    losses = [r['valid_loss'] for r in fit['epochs']]
    assert fit['best_epoch'] == 1 + losses.index(min(losses))
    saved = torch.load(tmp_path / 'best.pt', weights_only=True)
    assert torch.equal(saved['user_emb.weight'], model.user_emb.weight)
    assert losses[-1] < losses[0]  # It learns.


def test_patience_stops_early(synthetic):
    _, fit = train(synthetic, 0, epochs=50, patience=1, lr=0.05)
    assert len(fit['epochs']) < 50
    assert len(fit['epochs']) == fit['best_epoch'] + 1


@withCUDA
def test_selection_by_validation_ndcg(synthetic, tmp_path, device):
    model, fit = train(synthetic, 0, epochs=5, eval_every=2,
                       device=str(device),
                       select_by='ndcg@10',
                       best_weights=str(tmp_path / 'b.pt'))
    # Measured at epochs 2, 4 and at the last one, 5; the best is kept.
    ndcg = {r['epoch']: r['valid_ndcg@10'] for r in fit['epochs']
            if 'valid_ndcg@10' in r}
    assert sorted(ndcg) == [2, 4, 5]
    assert fit['best_epoch'] == max(ndcg, key=ndcg.get)
    assert fit['best_valid_loss'] == \
        fit['epochs'][fit['best_epoch'] - 1]['valid_loss']
    saved = torch.load(tmp_path / 'b.pt', weights_only=True)
    assert torch.equal(saved['user_emb.weight'], model.user_emb.weight)
    with pytest.raises(ValueError, match='select_by must be one of'):
        train(synthetic, 0, epochs=1, select_by='mrr@10')
    with pytest.raises(ValueError, match='patience'):
        train(synthetic, 0, epochs=1, select_by='ndcg@10', eval_every=2,
              patience=1)


def test_cml_beats_the_popularity_floor_on_planted_interests(synthetic):
    model, _ = train(synthetic, 0, epochs=30)
    popular = MostPopular(synthetic['user'].num_nodes,
                          synthetic['item'].num_nodes)
    popular.fit(split_edges(synthetic, 'train'))
    evaluator = Evaluator(synthetic, 'test', ks=(10, ), num_cohorts=0)
    cml = evaluator.evaluate(model)['metrics']
    floor = evaluator.evaluate(popular)['metrics']
    assert cml['recall@10'] > 1.5 * floor['recall@10']
    assert cml['ndcg@10'] > 1.5 * floor['ndcg@10']
