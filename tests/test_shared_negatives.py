r"""Negatives shared by a batch (``share_negatives``): one draw of K items
for every triplet, the pairs where a shared item is the user's own masked
out of every loss, and the models' one-product paths equal to the
per-triplet path on the same negatives."""
import json
import math

import pytest
import torch
from test_objectives import MODELS, TRANSCF_EDGES
from test_sampler import neighbours, random_graph
from torch_geometric.sampler import EdgeSamplerInput

from hlr_graph import cli
from hlr_graph.data import INTERACTS, load_dataset
from hlr_graph.data.batch import SharedTripletBatch, TripletBatch
from hlr_graph.data.index import UserItemIndex
from hlr_graph.loader import TripletBatches, TripletSampler
from hlr_graph.models import (
    BPRMF,
    CML,
    HLR,
    LRML,
    AdaCML,
    HLRPlusPlus,
    TransCF,
    default_hyperparameters,
)
from hlr_graph.models.registry import with_flags
from hlr_graph.models.relational import RelationalCML
from hlr_graph.nn import ccl_negative_term, metric_loss
from hlr_graph.nn.distance import (
    pairwise_squared_distance,
    squared_distance,
)
from hlr_graph.train import Experiment, TrainConfig, Trainer, run_experiment


def shared_batches(num_negatives=7, **kwargs):
    return TripletBatches(random_graph(), max_history=2, batch_size=16,
                          seed=0, shuffle=True, num_negatives=num_negatives,
                          share_negatives=True, **kwargs)


def test_one_draw_per_batch_masked_where_the_user_has_the_item():
    items_of = neighbours(random_graph()[INTERACTS].edge_index)
    masked = 0
    for batch in shared_batches():
        assert isinstance(batch, SharedTripletBatch)
        assert batch.neg.shape == (batch.user.numel(), 7)
        assert (batch.neg == batch.shared).all()
        for u, negs, valid in zip(batch.user.tolist(), batch.neg.tolist(),
                                  batch.valid.tolist()):
            assert valid == [n not in items_of[u] for n in negs]
            masked += valid.count(False)
    assert masked > 0  # The random graph is dense: some pairs collide.


def test_batches_differ_and_repeat_with_the_seed():
    first = [b.shared for b in shared_batches()]
    again = [b.shared for b in shared_batches()]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1])


def test_membership_is_contains_for_every_pair():
    data = random_graph()
    index = UserItemIndex(data[INTERACTS].edge_index, 30, 25)
    gen = torch.Generator().manual_seed(3)
    user = torch.randint(30, (40, ), generator=gen)
    item = torch.randint(25, (60, ), generator=gen)  # Repeats on purpose.
    expected = index.contains(user.repeat_interleave(60),
                              item.repeat(40)).view(40, 60)
    assert torch.equal(index.membership(user, item), expected)
    assert expected.any() and not expected.all()


def shared_triplets(valid=None):
    shared = torch.tensor([4, 7, 5, 8, 6, 4])  # K = 6 >= N = 4, a repeat.
    user = torch.tensor([0, 1, 2, 1])
    if valid is None:
        valid = torch.ones(4, 6, dtype=torch.bool)
    return SharedTripletBatch(
        user, torch.tensor([0, 1, 2, 3]), shared.expand(4, -1),
        torch.tensor([[1, 2, 3, 4, 5, 6, 0], [0, 0, 0, 1, 2, 2, 3]]), valid)


def per_triplet(batch):
    return TripletBatch(batch.user, batch.pos, batch.neg.clone(),
                        batch.history)


@pytest.mark.parametrize('make', MODELS + [
    lambda: HLR(3, 9, embedding_dim=8, num_memories=4, max_history=-1,
                copy=True),
    lambda: HLR(3, 9, embedding_dim=8, num_memories=8, max_history=-1)])
def test_shared_paths_equal_the_per_triplet_path(make):
    # CML and copy: one [B, d] x [d, K] product; the memory models: the
    # shared items as candidates of every query (also below K = N).
    torch.manual_seed(1)
    model = make()
    batch = shared_triplets()
    user_nodes, item_nodes, local = batch.compact()
    assert isinstance(local, SharedTripletBatch)
    assert torch.equal(item_nodes[local.shared], batch.shared)
    users, items = model.lookup(user_nodes, item_nodes)
    to_pos = model.translate(users, items, local.user, local.pos,
                             local.history)
    got = model.negative_distances(users, items, local, to_pos)
    plain = model.negative_distances(users, items, per_triplet(local), to_pos)
    assert got.shape == (4, 6)
    assert torch.allclose(got, plain, atol=1e-5)
    for loss in ('hinge', 'hardest', 'ccl'):
        model.objective = loss
        assert torch.allclose(model.loss(batch),
                              model.loss(per_triplet(batch)), atol=1e-4)
    # ccl's term without autograd (CML and copy) has autograd's gradient.
    model.negative_weight = 3.0
    assert_same_loss_and_gradient(model, model.loss(batch),
                                  model.loss(per_triplet(batch)))


@pytest.mark.parametrize('make, shares', [
    (lambda: CML(3, 9, embedding_dim=8), True),
    (lambda: HLR(3, 9, embedding_dim=8, num_memories=4, copy=True), True),
    (lambda: LRML(3, 9, embedding_dim=8, num_memories=4, copy=True), True),
    (lambda: HLR(3, 9, embedding_dim=8, num_memories=4), False),
    (lambda: LRML(3, 9, embedding_dim=8, num_memories=4), False),
    (lambda: AdaCML(3, 9, embedding_dim=8), False),
    (lambda: TransCF(3, 9, TRANSCF_EDGES, embedding_dim=8), False),
    (lambda: RelationalCML(3, 9, embedding_dim=8, num_memories=4), False)])
def test_which_models_take_the_one_product_path(make, shares):
    model = make()
    assert model.shares_product(shared_triplets()) is shares
    assert model.shares_product(per_triplet(shared_triplets())) is False


def row_by_row(pos, neg, valid, margin, loss, num_items, weight=1.0):
    # Each triplet's loss over the K_b negatives that count, as if it had
    # drawn only them (a row with none keeps ccl's d+ alone).
    total = 0
    for b in range(pos.numel()):
        if valid[b].any():
            total = total + metric_loss(pos[b:b + 1], neg[b, valid[b]][None],
                                        margin, loss, num_items, weight)
        elif loss == 'ccl':
            total = total + pos[b]
    return total


@pytest.mark.parametrize('loss', ['hinge', 'hardest', 'warp', 'ccl'])
def test_masked_pairs_leave_the_means_over_the_others(loss):
    # ccl's mean and warp's rank estimate divide by the K_b pairs that
    # count, not by K: a masked pair is no sample of a negative.
    gen = torch.Generator().manual_seed(4)
    pos, neg = torch.rand(5, generator=gen), torch.rand(5, 8, generator=gen)
    valid = torch.rand(5, 8, generator=gen) > .5
    valid[2], valid[3] = False, True
    masked = neg.masked_fill(~valid, math.inf)
    got = metric_loss(pos, masked, 0.5, loss, 100, 3.0, valid.sum(dim=1))
    expected = row_by_row(pos, neg, valid, 0.5, loss, 100, 3.0)
    assert torch.allclose(got, expected, atol=1e-6)
    if loss in ('ccl', 'warp'):  # Dividing by K instead differs.
        assert not torch.allclose(metric_loss(pos, masked, 0.5, loss, 100,
                                              3.0), expected, atol=1e-3)


def composed_ccl_negatives(query, items, valid, margin, weight):
    # ccl's negative term as metric_loss composes it (d+ = 0).
    neg = pairwise_squared_distance(query, items)
    if valid is not None:
        neg = neg.masked_fill(~valid, math.inf)
    return metric_loss(query.new_zeros(query.size(0)), neg, margin, 'ccl',
                       negative_weight=weight,
                       counts=None if valid is None else valid.sum(dim=1))


@pytest.mark.parametrize('chunk_size', [None, 1, 4, 11, 50])
@pytest.mark.parametrize('masked', [False, True])
def test_ccl_negative_term_is_the_composed_loss(chunk_size, masked):
    # Value and both gradients against autograd through the composition,
    # in float64: blocks that do and do not divide K, masked pairs, a row
    # with none that counts, pairs inside and outside the margin, and a
    # pair at distance zero (the clamp of the distance at 0).
    gen = torch.Generator().manual_seed(5)
    query = torch.rand(9, 6, generator=gen, dtype=torch.float64) - 0.5
    items = torch.rand(11, 6, generator=gen, dtype=torch.float64) - 0.5
    query[4] = items[7]
    valid = torch.rand(9, 11, generator=gen) > 0.3 if masked else None
    if masked:
        valid[2] = False
    margin, weight = 0.6, 3.0
    distance = pairwise_squared_distance(query, items)
    assert (distance < margin).any() and (distance > margin).any()
    a, b = query.clone().requires_grad_(), items.clone().requires_grad_()
    got = ccl_negative_term(a, b, margin, weight, valid, chunk_size)
    got_grads = torch.autograd.grad(got, (a, b))
    a, b = query.clone().requires_grad_(), items.clone().requires_grad_()
    expected = composed_ccl_negatives(a, b, valid, margin, weight)
    expected_grads = torch.autograd.grad(expected, (a, b))
    assert torch.allclose(got, expected, rtol=0, atol=1e-12)
    for g, e in zip(got_grads, expected_grads):
        assert torch.allclose(g, e, rtol=0, atol=1e-12)
    assert got_grads[1].abs().sum() > 0


def test_ccl_negative_term_in_float32_at_yelps_size():
    # 1,000 queries, 4,096 negatives (the default blocks), ten queries a
    # rounding away from a negative. In float32 the two paths round the
    # distance differently, so a pair within rounding of the margin (where
    # the gradient jumps) or of zero (the clamp) may count in one and not
    # in the other; everywhere else the gradients agree to rounding.
    gen = torch.Generator().manual_seed(6)
    items = torch.randn(4096, 100, generator=gen)
    items = items / items.norm(dim=1, keepdim=True) * 0.5
    query = torch.randn(1000, 100, generator=gen)
    query = query / query.norm(dim=1, keepdim=True) * 0.5
    query[:10] = items[:10] + 1e-6 * torch.randn(10, 100, generator=gen)
    valid = torch.rand(1000, 4096, generator=gen) > 0.002
    a, b = query.clone().requires_grad_(), items.clone().requires_grad_()
    got = ccl_negative_term(a, b, 0.5, 64.0, valid)
    got_grads = torch.autograd.grad(got, (a, b))
    a, b = query.clone().requires_grad_(), items.clone().requires_grad_()
    expected = composed_ccl_negatives(a, b, valid, 0.5, 64.0)
    expected_grads = torch.autograd.grad(expected, (a, b))
    assert torch.allclose(got, expected, rtol=1e-5)
    exact = pairwise_squared_distance(query.double(), items.double())
    edge = ((exact - 0.5).abs() < 1e-6) | (exact < 1e-6)
    for g, e, pairs in ((got_grads[0], expected_grads[0], edge),
                        (got_grads[1], expected_grads[1], edge.t())):
        off = ((g - e).abs() > 1e-4).any(dim=1)  # Rows that differ.
        assert off.sum() <= 4 and pairs[off].any(dim=1).all()


def test_ccl_negative_term_refuses_what_it_cannot_do():
    query = torch.rand(3, 4, generator=torch.Generator().manual_seed(7))
    items = torch.rand(5, 4, generator=torch.Generator().manual_seed(8))
    with pytest.raises(ValueError, match='torch.bool'):
        ccl_negative_term(query, items, 1.0, 1.0,
                          torch.ones(3, 5, dtype=torch.uint8))
    with pytest.raises(ValueError, match='chunk_size must be at least 1'):
        ccl_negative_term(query, items, 1.0, chunk_size=0)
    with pytest.raises(ValueError, match='at least one negative'):
        ccl_negative_term(query, items[:0], 1.0)
    with pytest.raises(ValueError, match='one dtype'):
        ccl_negative_term(query, items.double(), 1.0)
    for weight in (-1.0, 0.0, math.nan, math.inf):
        with pytest.raises(ValueError, match='positive and finite'):
            ccl_negative_term(query, items, 1.0, weight)
        with pytest.raises(ValueError, match='positive and finite'):
            metric_loss(query[:, 0], query, 1.0, 'ccl',
                        negative_weight=weight)
        with pytest.raises(ValueError, match='positive and finite'):
            CML(3, 9, loss='ccl', negative_weight=weight)
    with pytest.raises(ValueError, match='K >= 1'):
        metric_loss(query[:, 0], query[:, :0], 1.0, 'ccl')
    # A negative margin pushes nothing, as the composition says.
    a = query.clone().requires_grad_()
    value = ccl_negative_term(a, items, -0.5, 2.0)
    assert value == 0 == composed_ccl_negatives(query, items, None, -0.5,
                                                2.0)
    value.backward()
    assert (a.grad == 0).all()
    # No second derivative: a gradient penalty must not drop it silently.
    a = query.clone().requires_grad_()
    (grad,) = torch.autograd.grad(ccl_negative_term(a, items, 2.0), a)
    with pytest.raises(RuntimeError, match='no second derivative'):
        torch.autograd.grad(ccl_negative_term(a, items, 2.0), a,
                            create_graph=True)


def test_ccl_negative_term_by_hand():
    # One query at the origin, negatives at distances 0.25 and 4 (d is
    # squared): only the first is inside the margin 1, so the term is
    # w / K (1 - 0.25) and the gradient reaches the first alone.
    query = torch.zeros(1, 2, requires_grad=True)
    items = torch.tensor([[0.5, 0.0], [0.0, 2.0]], requires_grad=True)
    value = ccl_negative_term(query, items, margin=1.0, negative_weight=4.0)
    assert value.item() == pytest.approx(4.0 / 2 * 0.75)
    value.backward()
    # d/dv of -(w / K) |u - v|^2 at v = (0.5, 0): -(w / K) 2 (v - u).
    assert torch.allclose(items.grad, torch.tensor([[-2.0, 0.0], [0, 0]]))
    assert torch.allclose(query.grad, torch.tensor([[2.0, 0.0]]))


def test_ccl_negative_term_gives_the_gradients_asked_for():
    gen = torch.Generator().manual_seed(9)
    query = torch.rand(3, 4, generator=gen).requires_grad_()
    items = torch.rand(5, 4, generator=gen)
    value = ccl_negative_term(query, items, 2.0, 1.0)
    (grad,) = torch.autograd.grad(value * 3, query)
    expected = torch.autograd.grad(3 * composed_ccl_negatives(
        query, items, None, 2.0, 1.0), query)[0]
    assert torch.allclose(grad, expected, atol=1e-6)
    items.requires_grad_()
    (grad,) = torch.autograd.grad(ccl_negative_term(
        query.detach(), items, 2.0, 1.0), items)
    expected = torch.autograd.grad(composed_ccl_negatives(
        query.detach(), items, None, 2.0, 1.0), items)[0]
    assert torch.allclose(grad, expected, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(ccl_negative_term(query, items, 2.0, 1.0),
                              value)
    with pytest.raises(ValueError, match='valid must be'):
        ccl_negative_term(query, items, 1.0, 1.0,
                          torch.ones(5, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match='query must be'):
        ccl_negative_term(query, items[:, :2], 1.0)


def gradients(model, value):
    model.zero_grad()
    value.backward()
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone()
            for p in model.parameters()]


def assert_same_loss_and_gradient(model, got, expected):
    assert torch.allclose(got, expected, atol=1e-5)
    for a, b in zip(gradients(model, got), gradients(model, expected)):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize('loss', ['hinge', 'hardest', 'warp', 'ccl'])
def test_transcf_regularises_the_shared_negatives_that_count(loss):
    torch.manual_seed(3)
    model = TransCF(3, 9, TRANSCF_EDGES, embedding_dim=8, alpha_nbr=0.5,
                    loss=loss)
    valid = torch.rand(4, 6, generator=torch.Generator().manual_seed(1)) > .3
    valid[0] = True
    batch = shared_triplets(valid)
    no_history = torch.zeros(2, 0, dtype=torch.long)
    expected = sum(model.loss(TripletBatch(
        batch.user[b:b + 1], batch.pos[b:b + 1], batch.neg[b, valid[b]][None],
        no_history)) for b in range(4))
    assert_same_loss_and_gradient(model, model.loss(batch), expected)


@pytest.mark.parametrize('loss', ['hinge', 'hardest', 'warp', 'ccl'])
@pytest.mark.parametrize('make', [
    lambda loss: CML(3, 9, embedding_dim=8, loss=loss),
    lambda loss: HLRPlusPlus(3, 9, embedding_dim=8, num_memories=4,
                             max_history=-1, loss=loss)])
def test_masked_pairs_count_for_nothing(make, loss):
    torch.manual_seed(2)
    model = make(loss)
    valid = torch.rand(4, 6, generator=torch.Generator().manual_seed(0)) > .4
    valid[1] = False  # A user with every shared item of its own.
    batch = shared_triplets(valid)
    pos = model(batch.user, batch.pos, batch.history)
    neg = torch.stack([model(batch.user, batch.neg[:, k], batch.history)
                       for k in range(6)], dim=1)
    expected = row_by_row(pos, neg, valid, model.margin, loss, 9)
    assert_same_loss_and_gradient(model, model.loss(batch), expected)
    # Every pair masked: no negative term, no NaN, no gradient from them.
    model.zero_grad()
    value = model.loss(shared_triplets(torch.zeros(4, 6, dtype=torch.bool)))
    value.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert all(torch.isfinite(g).all() for g in grads)
    if loss != 'ccl':  # Only the negatives' terms: nothing left.
        assert value == 0 and all((g == 0).all() for g in grads)
    else:  # ccl: d+ alone.
        assert torch.allclose(value, pos.sum(), atol=1e-5)
    if loss == 'ccl' and type(model) is CML:  # d+ only: the negatives'
        # rows (CML reads no history) are untouched.
        assert model.item_emb.weight.grad[[5, 6, 7, 8]].abs().sum() == 0


def test_the_batch_moves_to_a_device_still_shared():
    batch = shared_triplets().to('cpu')
    assert isinstance(batch, SharedTripletBatch)
    assert batch.neg.stride(0) == 0 and batch.valid.shape == (4, 6)


def test_subgraph_layouts_refuse_shared_negatives():
    data = random_graph()
    edges = data[INTERACTS].edge_index[:, :8]
    sampler = TripletSampler(data[INTERACTS].edge_index, 30, 25, 2,
                             num_negatives=4, share_negatives=True)
    with pytest.raises(ValueError, match='shared negatives with sample'):
        sampler.sample_from_edges(EdgeSamplerInput(None, *edges))
    with pytest.raises(ValueError, match='one negative per triplet'):
        TripletBatches(data, max_history=2, num_neighbors=[2],
                       share_negatives=True)


def test_a_one_negative_model_refuses_them():
    data = random_graph()
    trainer = Trainer(BPRMF(30, 25), data, TrainConfig(
        epochs=1, num_negatives=4, share_negatives=True, progress=False,
        log=False, validate=False))
    with pytest.raises(ValueError, match='one negative per triplet'):
        trainer.fit()


def test_the_main_job_trains_with_shared_negatives(tmp_path):
    out = tmp_path / 'run'
    assert cli.main(['train', '--dataset', 'synthetic', '--model', 'hlr',
                     '--epochs', '2', '--num-negatives', '64',
                     '--share-negatives', '--loss', 'ccl',
                     '--negative-weight', '4', '--quiet',
                     '--output-dir', str(out)]) == 0
    record = json.loads((out / 'results.json').read_text())
    assert record['hyperparameters']['share_negatives'] is True
    assert record['hyperparameters']['num_negatives'] == 64
    assert math.isfinite(record['epochs'][-1]['train_loss'])
    train = json.loads((out / 'run.json').read_text())['train']
    assert train['share_negatives'] is True


def test_a_setting_carries_shared_negatives(tmp_path):
    out = tmp_path / 'run'
    run_experiment(Experiment(
        dataset='synthetic', model='cml', output_dir=str(out), num_cohorts=0,
        hyperparameters=dict(num_negatives=16, share_negatives=True,
                             loss='ccl'),
        train=TrainConfig(epochs=1, progress=False, log=False)))
    train = json.loads((out / 'run.json').read_text())['train']
    assert (train['num_negatives'], train['share_negatives']) == (16, True)


def test_squared_distance_of_the_shared_items_by_hand():
    # CML's product path against ||p - q||^2 written out.
    torch.manual_seed(0)
    model = CML(3, 9, embedding_dim=8)
    batch = shared_triplets()
    users, items = model.embeddings()
    p = users[batch.user]
    got = model.negative_distances(users, items, batch, p)
    hand = squared_distance(p.unsqueeze(1), items[batch.shared])
    assert torch.allclose(got, hand, atol=1e-6)


def test_flags_that_take_the_sharing_away_draw_32_per_triplet():
    preset = dict(loss='ccl', num_negatives=4096, share_negatives=True)
    per_triplet = dict(loss='ccl', num_negatives=32)
    assert with_flags(preset, {'num_negatives': 64}) == {
        **per_triplet, 'num_negatives': 64}
    assert with_flags(preset, {'loss': 'hardest'}) == {
        **per_triplet, 'loss': 'hardest'}
    assert with_flags(preset, {'share_negatives': False}) == {
        **per_triplet, 'share_negatives': False}
    # Kept: the preset's own loss, or sharing given.
    assert with_flags(preset, {'loss': 'ccl'}) == preset
    assert with_flags(preset, {'loss': 'hardest', 'share_negatives': True}
                      ) == {**preset, 'loss': 'hardest'}
    assert with_flags(preset, {'num_negatives': 64, 'share_negatives': True}
                      ) == {**preset, 'num_negatives': 64}


def test_one_shared_negative_is_refused():
    trainer = Trainer(CML(30, 25), random_graph(), TrainConfig(
        epochs=1, share_negatives=True, progress=False, log=False,
        validate=False))
    with pytest.raises(ValueError, match='at least 2'):
        trainer.fit()


def test_a_resume_refuses_other_negatives(tmp_path):
    data = load_dataset('synthetic')[0]

    def fit(epochs, **negatives):
        torch.manual_seed(0)
        return Trainer(CML(data['user'].num_nodes, data['item'].num_nodes,
                           loss='ccl'), data, TrainConfig(
            epochs=epochs, progress=False, log=False, validate=False,
            checkpoint=str(tmp_path / 'checkpoint.pt'), batch_size=64,
            **negatives)).fit(resume=True)

    fit(1, num_negatives=8, share_negatives=True)
    for other, key in ((dict(num_negatives=4, share_negatives=True),
                        'num_negatives'),
                       (dict(num_negatives=8), 'share_negatives')):
        with pytest.raises(ValueError, match=f'written with {key}'):
            fit(2, **other)
    assert fit(2, num_negatives=8, share_negatives=True)['epochs']


def test_the_yelp_preset_shares_the_negatives_of_cml_and_hlrs():
    for model, k in (('cml', 4096), ('hlr', 4096), ('hlrpp', 4096)):
        settings = default_hyperparameters('yelp', model, 'best')
        assert settings['share_negatives'] is True
        assert (settings['num_negatives'], settings['loss']) == (k, 'ccl')
    assert 'share_negatives' not in default_hyperparameters('yelp', 'cml')
