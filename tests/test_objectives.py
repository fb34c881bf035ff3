r"""Objectives over K negatives (issue 14): each loss by hand, negatives
that avoid positives, the paper's K = 1 hinge unchanged, and the batched
translations of K negatives equal to one call per negative."""
import json
import math

import pytest
import torch
from test_cli import one_error
from test_sampler import neighbours, random_graph

from hlr_graph import cli
from hlr_graph.data import INTERACTS
from hlr_graph.data.batch import TripletBatch
from hlr_graph.loader import TripletBatches
from hlr_graph.models import (
    CML,
    HLR,
    LRML,
    AdaCML,
    HLRPlusPlus,
    TransCF,
    build_model,
    default_hyperparameters,
    registry,
)
from hlr_graph.models.registry import TRAINING_SETTINGS, setting_names
from hlr_graph.nn import metric_loss
from hlr_graph.nn.distance import squared_distance
from hlr_graph.train import Experiment, TrainConfig, Trainer, run_experiment

POS = torch.tensor([0.5, 1.0])
NEG = torch.tensor([[0.2, 0.9, 2.0], [3.0, 0.8, 1.1]])


def test_hinge_sums_every_negative():
    # m + d+ - d-: [0.8, 0.1, -1.0], [-1.5, 0.7, 0.4] with m = 0.5.
    assert math.isclose(metric_loss(POS, NEG, 0.5, 'hinge').item(),
                        0.8 + 0.1 + 0.7 + 0.4, rel_tol=1e-6)


def test_hardest_takes_the_closest_negative():
    # Closest: 0.2 and 0.8: [0.5 + 0.5 - 0.2]_+ + [0.5 + 1.0 - 0.8]_+.
    assert math.isclose(metric_loss(POS, NEG, 0.5, 'hardest').item(),
                        0.8 + 0.7, rel_tol=1e-6)


def test_warp_weights_the_hardest_by_the_estimated_rank():
    # Violations: 2 of 3 for both; rank = 100 * 2 / 3.
    weight = math.log(1 + 100 * 2 / 3)
    assert math.isclose(
        metric_loss(POS, NEG, 0.5, 'warp', num_items=100).item(),
        weight * (0.8 + 0.7), rel_tol=1e-6)


def test_ccl_pulls_the_positive_and_pushes_negatives_to_the_margin():
    # d+ summed, plus w / K * sum [m - d-]_+ with m = 1, w = 3, K = 3.
    expected = 1.5 + 3 / 3 * ((1 - 0.2) + (1 - 0.9) + (1 - 0.8))
    assert math.isclose(
        metric_loss(POS, NEG, 1.0, 'ccl', negative_weight=3.0).item(),
        expected, rel_tol=1e-6)


def test_warp_weight_carries_no_gradient():
    pos = POS.clone().requires_grad_()
    metric_loss(pos, NEG, 0.5, 'warp', num_items=100).backward()
    weight = math.log(1 + 100 * 2 / 3)
    assert torch.allclose(pos.grad, torch.full((2, ), weight))


def test_unknown_loss_and_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        metric_loss(POS, NEG, 0.5, 'bpr')
    with pytest.raises(ValueError, match=r'neg must be \[B, K\]'):
        metric_loss(POS, NEG[:1], 0.5)
    with pytest.raises(ValueError, match="loss must be one of"):
        CML(3, 4, loss='softmax')


def test_k_negatives_never_include_a_positive():
    data = random_graph()
    items_of = neighbours(data[INTERACTS].edge_index)
    batches = TripletBatches(data, max_history=2, batch_size=16, seed=0,
                             shuffle=True, num_negatives=7)
    for _ in range(3):
        for batch in batches:
            assert batch.neg.shape == (batch.user.numel(), 7)
            for u, negs in zip(batch.user.tolist(), batch.neg.tolist()):
                assert not set(negs) & items_of[u]


def test_one_negative_keeps_the_paper_stream():
    data = random_graph()
    kwargs = dict(max_history=3, batch_size=16, seed=4, shuffle=True)
    for a, b in zip(TripletBatches(data, **kwargs),
                    TripletBatches(data, num_negatives=1, **kwargs)):
        assert a.neg.dim() == 1 and torch.equal(a.neg, b.neg)


def triplets(num_negatives):
    gen = torch.Generator().manual_seed(0)
    return TripletBatch(
        user=torch.tensor([0, 1, 2, 1]), pos=torch.tensor([0, 1, 2, 3]),
        neg=torch.randint(4, 9, (4, num_negatives), generator=gen),
        history=torch.tensor([[1, 2, 3, 4, 5, 6, 0], [0, 0, 0, 1, 2, 2, 3]]))


TRANSCF_EDGES = torch.tensor([[0, 0, 1, 2, 2], [0, 5, 1, 2, 5]])

MODELS = [
    lambda: CML(3, 9, embedding_dim=8),
    lambda: LRML(3, 9, embedding_dim=8, num_memories=4),
    lambda: AdaCML(3, 9, embedding_dim=8, max_history=-1),
    lambda: HLR(3, 9, embedding_dim=8, num_memories=4, max_history=-1),
    lambda: HLRPlusPlus(3, 9, embedding_dim=8, num_memories=4,
                        max_history=-1),
    lambda: TransCF(3, 9, TRANSCF_EDGES, embedding_dim=8),
]


@pytest.mark.parametrize('make', MODELS)
def test_one_negative_hinge_is_the_papers_loss_to_the_bit(make):
    torch.manual_seed(1)
    model = make()
    one = triplets(1)
    flat = TripletBatch(one.user, one.pos, one.neg.view(-1), one.history)
    assert one.neg.dim() == 2 and flat.neg.dim() == 1
    # [B] negatives take the paper's expression; [B, 1] the objective's.
    assert torch.equal(model.loss(one), model.loss(flat))


@pytest.mark.parametrize('loss', ['hinge', 'hardest', 'warp', 'ccl'])
def test_transcf_takes_k_negatives(loss):
    # The objective over the K distances d(u, v-_k) (forward(), checked by
    # hand in test_baselines), both regularisers with the negatives' mean.
    torch.manual_seed(1)
    weight = 2.0 if loss == 'ccl' else 1.0
    model = TransCF(3, 9, TRANSCF_EDGES, embedding_dim=8, alpha_nbr=0.5,
                    alpha_dist=0.25, loss=loss, negative_weight=weight)
    batch = triplets(3)
    users, items = model.embeddings()
    d_pos = model(batch.user, batch.pos)
    d_neg = torch.stack([model(batch.user, batch.neg[:, k])
                         for k in range(3)], dim=1)

    def user_off(user):  # ||p_u - nbr_u||^2: nbr_u, the mean of items.
        return squared_distance(users[user], model.neighbourhood(
            items, model.user_rowptr, model.user_col, user))

    def item_off(item):  # ||q_v - nbr_v||^2: nbr_v, the mean of users.
        return squared_distance(items[item], model.neighbourhood(
            users, model.item_rowptr, model.item_col, item))

    regulariser = (user_off(batch.user) + item_off(batch.pos) + torch.stack(
        [item_off(batch.neg[:, k]) for k in range(3)]).mean(0))
    expected = (metric_loss(d_pos, d_neg, model.margin, loss, 9, weight) +
                0.5 * regulariser.sum() + 0.25 * d_pos.sum())
    assert torch.allclose(model.loss(batch), expected, atol=1e-6)


@pytest.mark.parametrize('make', MODELS)
def test_batched_negatives_equal_one_translation_each(make):
    torch.manual_seed(1)
    model = make()
    batch = triplets(5)
    user_nodes, item_nodes, local = batch.compact()
    users, items = model.lookup(user_nodes, item_nodes)
    to_pos = model.translate(users, items, local.user, local.pos,
                             local.history)
    # K = 5 >= N = 4: memory models take the factorised path; the
    # repeated message passing (theirs below N) must agree as well.
    got = model.negative_distances(users, items, local, to_pos)
    passing = CML.negative_distances(model, users, items, local, to_pos)
    naive = torch.stack([squared_distance(
        model.translate(users, items, local.user, local.neg[:, k],
                        local.history),
        items[local.neg[:, k]]) for k in range(5)], dim=1)
    assert torch.allclose(got, naive, atol=1e-6)
    assert torch.allclose(passing, naive, atol=1e-6)


@pytest.mark.parametrize('make', MODELS[2:5])
def test_batched_negatives_of_a_query_without_history(make):
    torch.manual_seed(1)
    model = make()
    batch = triplets(5)
    keep = batch.history[1] != 1  # Triplet 1 has no history.
    batch = TripletBatch(batch.user, batch.pos, batch.neg,
                         batch.history[:, keep])
    users, items = model.embeddings()
    to_pos = model.translate(users, items, batch.user, batch.pos,
                             batch.history)
    got = model.negative_distances(users, items, batch, to_pos)
    naive = torch.stack([squared_distance(
        model.translate(users, items, batch.user, batch.neg[:, k],
                        batch.history),
        items[batch.neg[:, k]]) for k in range(5)], dim=1)
    assert torch.allclose(got, naive, atol=1e-6)
    if isinstance(model, AdaCML):  # No relation (HLR's has the user slot).
        plain = squared_distance(users[batch.user[1]], items[batch.neg[1]])
        assert torch.allclose(got[1], plain, atol=1e-6)
    got.sum().backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all()
               for p in model.parameters())


@pytest.mark.parametrize('sparse', [False, True])
@pytest.mark.parametrize('loss', ['hardest', 'warp'])
@pytest.mark.parametrize('make', MODELS[:5] + [
    lambda: HLR(3, 9, embedding_dim=8, num_memories=4, max_history=-1,
                copy=True)])
def test_closest_negative_shortcut_is_the_full_loss(make, loss, sparse,
                                                     monkeypatch):
    # Only the closest negative is recomputed with autograd: the same loss
    # to the bit and the same gradients as K negatives with autograd.
    torch.manual_seed(1)
    model = make()
    model.objective = loss
    if sparse:
        model.sparse_gradients_()
    batch = triplets(6)
    batch.neg[0] = 4  # Six ties: the gradient must reach min's column.

    def loss_and_grads():
        model.zero_grad()
        value = model.loss(batch)
        value.backward()
        return value, [p.grad.to_dense() for p in model.parameters()
                       if p.grad is not None]

    fast, fast_grads = loss_and_grads()
    with monkeypatch.context() as m:  # Autograd through all K negatives.
        m.setattr(model, 'closest_negative_distances',
                  model.negative_distances)
        full, full_grads = loss_and_grads()
    assert fast > 0 and torch.equal(fast, full)
    assert len(fast_grads) == len(full_grads) > 0
    for a, b in zip(fast_grads, full_grads):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize('loss', ['hinge', 'hardest', 'warp', 'ccl'])
def test_every_loss_trains_hlr_with_k_negatives(loss):
    torch.manual_seed(0)
    model = HLR(3, 9, embedding_dim=8, num_memories=4, max_history=-1,
                loss=loss)
    value = model.loss(triplets(6))
    value.backward()
    assert torch.isfinite(value)
    assert model.item_emb.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('argv,needle', [
    (['--model', 'bpr', '--num-negatives', '3'], '--num-negatives'),
    (['--model', 'popular', '--num-negatives', '3'], '--num-negatives'),
    (['--model', 'lightgcn', '--num-negatives', '1'], '--num-negatives'),
    (['--model', 'als', '--lr', '0.1'], '--lr'),
    (['--model', 'popular', '--batch-size', '5'], 'closed form'),
    (['--model', 'popular', '--optimizer', 'sparse_adam'], '--optimizer'),
    (['--model', 'cml', '--negative-weight', '2'],
     '--negative-weight 2 weighs the negatives of --loss ccl only'),
    (['--model', 'bpr', '--loss', 'warp'], '--loss'),
    (['--model', 'cml', '--num-negatives', '0'], '--num-negatives'),
    (['--model', 'bpr', '--share-negatives'], '--share-negatives'),
    (['--model', 'als', '--share-negatives'], '--share-negatives'),
    (['--model', 'cml', '--num-negatives', '4', '--share-negatives',
      '--num-workers', '1'], '--num-negatives 4 shared by the batch'),
    (['--model', 'cml', '--share-negatives'], 'at least 2'),
])
def test_objective_mistakes_are_one_line(argv, needle, tmp_path, capsys):
    cli.main(['stats', '--dataset', 'synthetic'])  # Cached: no Processing.
    capsys.readouterr()
    code = cli.main(['train', '--dataset', 'synthetic', '--epochs', '1',
                     '--output-dir', str(tmp_path / 'run'), *argv])
    one_error(capsys, code, needle)
    assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('settings,needle', [
    (dict(num_negatives=1, share_negatives=True),
     'share_negatives=True needs num_negatives of at least 2, not '
     'num_negatives=1'),
    (dict(num_negatives=4, share_negatives=True, num_workers=2),
     'num_workers=2: num_negatives=4 shared by the batch draws its '
     "negatives on the model's device, not in loader processes: set "
     'num_workers to 0, or set num_negatives to 1 and set share_negatives '
     'to False'),
    (dict(num_negatives=4, num_workers=2), 'set num_negatives to 1'),
    (dict(num_negatives=0), 'num_negatives must be at least 1, got 0'),
])
def test_the_trainer_says_the_rules_of_negatives_in_python(settings,
                                                           needle):
    # One rule set (check_negatives) for the models, the trainer and the
    # command lines, each naming the settings its own way:
    trainer = Trainer(CML(30, 25), random_graph(), TrainConfig(
        epochs=1, progress=False, log=False, validate=False, **settings))
    with pytest.raises(ValueError) as error:
        trainer.fit()
    assert needle in str(error.value)


def test_the_model_says_the_weight_rule_in_python():
    with pytest.raises(ValueError, match="negative_weight=2.0 weighs the "
                       "negatives of loss='ccl' only, not loss='hinge'"):
        CML(30, 25, negative_weight=2.0)


def test_a_model_of_one_negative_says_so_before_the_workers_rule():
    # Setting num_workers to 0 would not help BPR-MF with K = 4:
    trainer = Trainer(build_model('bpr', 30, 25), random_graph(),
                      TrainConfig(epochs=1, progress=False, log=False,
                                  validate=False, num_negatives=4,
                                  num_workers=2))
    with pytest.raises(ValueError, match='trains on one negative per '
                       'triplet, not num_negatives=4'):
        trainer.fit()


def test_the_main_job_trains_with_k_negatives(tmp_path, capsys):
    out = tmp_path / 'run'
    assert cli.main(['train', '--dataset', 'synthetic', '--model', 'hlr',
                     '--epochs', '2', '--num-negatives', '4', '--loss',
                     'hardest', '--quiet', '--output-dir', str(out)]) == 0
    record = json.loads((out / 'results.json').read_text())
    assert record['hyperparameters']['loss'] == 'hardest'
    assert math.isfinite(record['epochs'][-1]['train_loss'])


def test_a_setting_carries_the_number_of_negatives(tmp_path):
    out = tmp_path / 'run'
    run_experiment(Experiment(
        dataset='synthetic', model='cml', output_dir=str(out), num_cohorts=0,
        hyperparameters=dict(num_negatives=4, loss='hardest', lr=2e-3),
        train=TrainConfig(epochs=1, progress=False, log=False)))
    train = json.loads((out / 'run.json').read_text())['train']
    assert (train['num_negatives'], train['lr']) == (4, 2e-3)


# Presets #####################################################################

def test_the_best_preset_overrides_the_papers_settings(monkeypatch):
    monkeypatch.setattr(registry, 'BEST', {
        'generic': {'cml': dict(loss='hardest', num_negatives=32)},
        'movielens': {'cml': dict(lr=2e-3)}, 'yelp': {}})
    paper = default_hyperparameters('ml-100k', 'cml')
    assert default_hyperparameters('ml-100k', 'cml', 'best') == {
        **paper, 'lr': 2e-3}
    # A data set whose family had no search takes the generic entry:
    for dataset in ('lastfm', 'synthetic'):
        assert default_hyperparameters(dataset, 'cml', 'best') == {
            **default_hyperparameters(dataset, 'cml'),
            'loss': 'hardest', 'num_negatives': 32}
    # A model its family's search left out keeps the paper's settings (a
    # searched family's evidence outweighs another family's), as does a
    # model the generic entry leaves out:
    assert (default_hyperparameters('yelp', 'cml', 'best')
            == default_hyperparameters('yelp', 'cml'))
    assert (default_hyperparameters('lastfm', 'hlr', 'best')
            == default_hyperparameters('lastfm', 'hlr'))
    with pytest.raises(ValueError, match="unknown preset 'tuned'"):
        default_hyperparameters('yelp', 'cml', 'tuned')


@pytest.mark.parametrize('family', sorted(registry.BEST))
def test_every_best_setting_is_one_the_model_takes(family):
    dataset = min((d for d, f in registry.FAMILIES.items() if f == family),
                  default='synthetic')
    for model, settings in registry.BEST[family].items():
        assert set(settings) <= setting_names(model), (family, model)
        arguments = {k: v for k, v in default_hyperparameters(
            dataset, model, 'best').items() if k not in TRAINING_SETTINGS}
        build_model(model, 4, 5, torch.tensor([[0, 1], [2, 3]]),
                    **arguments)


def test_a_flag_beats_the_preset_and_the_run_records_it(tmp_path,
                                                        monkeypatch, capsys):
    monkeypatch.setattr(registry, 'BEST', {registry.GENERIC: {
        'cml': dict(loss='hardest', num_negatives=3, lr=2e-3)}})
    out = tmp_path / 'run'
    assert cli.main(['train', '--dataset', 'synthetic', '--epochs', '1',
                     '--preset', 'best', '--num-negatives', '2', '--quiet',
                     '--output-dir', str(out)]) == 0
    run = json.loads((out / 'run.json').read_text())
    assert run['preset'] == 'best'
    assert run['model_arguments']['loss'] == 'hardest'
    assert (run['train']['num_negatives'], run['train']['lr']) == (2, 2e-3)
    # Resuming keeps the recorded number of negatives, not the preset's:
    assert Experiment.from_record(run).hyperparameters['num_negatives'] == 2
    results = json.loads((out / 'results.json').read_text())
    assert results['preset'] == 'best'
    assert results['hyperparameters']['num_negatives'] == 2
    # A run resumed with another preset is refused, naming both:
    code = cli.main(['train', '--resume', '--output-dir', str(out),
                     '--preset', 'paper'])
    one_error(capsys, code, '--preset paper', "the run's best")


def test_a_presets_lr_decay_sets_the_rates_and_a_flag_beats_it(
        tmp_path, monkeypatch):
    monkeypatch.setattr(registry, 'BEST', {registry.GENERIC: {
        'cml': dict(lr=0.02, lr_decay=0.5)}})
    rates = {}
    for name, flags in (('preset', []), ('flag', ['--lr-decay', '1'])):
        out = tmp_path / name
        assert cli.main(['train', '--dataset', 'synthetic', '--epochs', '3',
                         '--preset', 'best', '--quiet', *flags,
                         '--output-dir', str(out)]) == 0
        results = json.loads((out / 'results.json').read_text())
        rates[name] = [epoch['lr'] for epoch in results['epochs']]
        assert results['hyperparameters']['lr_decay'] == (
            0.5 if name == 'preset' else 1.0)
    assert rates == {'preset': [0.02, 0.01, 0.005],
                     'flag': [0.02, 0.02, 0.02]}


@pytest.mark.parametrize('dataset,model,rate', [
    # Yelp's validation chose 0.95 for CML and HLR; HLR++ follows HLR:
    ('yelp', 'cml', 0.95), ('yelp-stars', 'hlr', 0.95),
    ('yelp', 'hlrpp', 0.95),
    # Only where a search compared rates; elsewhere Adam's constant rate:
    ('yelp', 'adacml', 1.0), ('yelp', 'lrml', 1.0), ('ml-100k', 'hlr', 1.0),
    ('lastfm', 'cml', 1.0), ('synthetic', 'hlr', 1.0),
])
def test_the_best_preset_decays_the_rate_where_validation_chose_it(
        dataset, model, rate):
    def lr_decay(**options):
        r"""The rate the run trains with: TrainConfig's default where
        the settings name none."""
        settings = Experiment(dataset=dataset, model=model,
                              **options).settings(dataset)
        return settings.get('lr_decay', TrainConfig().lr_decay)

    assert lr_decay(preset='best') == rate
    assert lr_decay(preset='best', hyperparameters={'lr_decay': 1.0}) == 1.0
    assert lr_decay(preset='paper') == 1.0


def test_with_flags_drops_the_ccl_weight_with_another_loss():
    preset = dict(loss='ccl', negative_weight=32.0, margin=1.0, lr=1e-3)
    assert registry.with_flags(preset, {'lr': 2e-3}) == {**preset,
                                                         'lr': 2e-3}
    assert registry.with_flags(preset, {'loss': 'ccl'}) == preset
    assert registry.with_flags(preset, {'loss': 'hardest'}) == dict(
        loss='hardest', margin=1.0, lr=1e-3)
    assert preset['negative_weight'] == 32.0  # Not modified in place.


def test_a_loss_flag_drops_the_presets_ccl_weight(tmp_path, monkeypatch):
    # A preset holding ccl's negative weight: another --loss takes the
    # weight's default (the model refuses a weight outside ccl), while
    # ccl given as a flag keeps the preset's weight.
    monkeypatch.setattr(registry, 'BEST', {registry.GENERIC: {
        'cml': dict(loss='ccl', num_negatives=2, negative_weight=8.0)}})
    for loss, weight in (('hardest', 1.0), ('ccl', 8.0)):
        out = tmp_path / loss
        assert cli.main(['train', '--dataset', 'synthetic', '--epochs', '1',
                         '--preset', 'best', '--loss', loss, '--quiet',
                         '--output-dir', str(out)]) == 0
        arguments = json.loads((out / 'run.json').read_text())[
            'model_arguments']
        assert (arguments['loss'], arguments['negative_weight']) == (
            loss, weight)
