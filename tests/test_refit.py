r"""``--refit``: the number of epochs chosen on the validation split, the
model retrained on training + validation interactions for exactly that
many, the test measured once."""
import json
import re

import pytest
import torch
from test_cli import one_error

from hlr_graph import cli
from hlr_graph.data import (
    ITEM,
    REV_INTERACTS,
    known_edges,
    load_dataset,
    refit_view,
    split_edges,
)
from hlr_graph.evaluation import evaluator as evaluator_module
from hlr_graph.train import Experiment, TrainConfig, Trainer, run_experiment
from hlr_graph.train import experiment as experiment_module
from hlr_graph.train.experiment import load_model

# CML with a learning rate high enough that the validation loss turns up:
# the selection run keeps epoch 3 of 5 (asserted below).
CML = {'lr': 0.2, 'embedding_dim': 16}


@pytest.fixture(scope='module')
def synthetic():
    return load_dataset('synthetic')[0]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pairs(edges):
    return set(zip(*edges.tolist()))


def experiment(out=None, model='cml', hyperparameters=CML, epochs=5,
               **kwargs):
    return Experiment(
        model=model, hyperparameters=dict(hyperparameters),
        train=TrainConfig(epochs=epochs, batch_size=500, seed=3,
                          progress=False, log=False),
        num_cohorts=0, output_dir=None if out is None else str(out),
        refit=True, **kwargs)


def test_refit_view_trains_on_train_and_validation(synthetic):
    train, val = split_edges(synthetic, 'train'), split_edges(synthetic, 'val')
    before = train.clone()
    view = refit_view(synthetic)
    edges = split_edges(view, 'train')
    assert edges.size(1) == train.size(1) + val.size(1)
    assert pairs(edges) == pairs(train) | pairs(val)
    key = edges[0] * synthetic[ITEM].num_nodes + edges[1]
    assert bool((key[1:] > key[:-1]).all())  # Sorted by user, then item.
    assert torch.equal(view[REV_INTERACTS].edge_index, edges.flip(0))
    assert split_edges(view, 'val').shape == (2, 0)
    assert torch.equal(split_edges(view, 'test'),
                       split_edges(synthetic, 'test'))
    assert pairs(known_edges(view, 'test')) == pairs(
        known_edges(synthetic, 'test'))
    # The cached graph is left as it is:
    assert torch.equal(split_edges(synthetic, 'train'), before)
    assert split_edges(synthetic, 'val').size(1) == val.size(1)


def test_trainer_without_validation_keeps_the_last_epoch(synthetic,
                                                         one_thread):
    torch.manual_seed(0)
    from hlr_graph.models.registry import build_model
    model = build_model('cml', synthetic['user'].num_nodes,
                        synthetic[ITEM].num_nodes, embedding_dim=8)
    fit = Trainer(model, synthetic, TrainConfig(
        epochs=3, batch_size=500, lr=0.2, progress=False, log=False,
        validate=False)).fit()
    assert fit['best_epoch'] == 3 and fit['best_valid_loss'] is None
    assert [r['epoch'] for r in fit['epochs']] == [1, 2, 3]
    assert all('valid_loss' not in r for r in fit['epochs'])
    with pytest.raises(ValueError, match='patience'):
        Trainer(model, synthetic, TrainConfig(
            epochs=3, patience=1, progress=False, log=False,
            validate=False)).fit()


def test_refit_trains_the_selected_epochs_on_train_and_validation(
        synthetic, one_thread, monkeypatch, tmp_path):
    trainers, evaluators, ranked = [], [], []
    init, rank = Trainer.__init__, evaluator_module.Evaluator.rank

    def spy_init(self, model, data, config=None):
        trainers.append((data, config))
        init(self, model, data, config)

    def spy_rank(self, model, *args, **kwargs):
        out = rank(self, model, *args, **kwargs)
        ranked.append((self, out[0]))
        return out

    evaluator_init = evaluator_module.Evaluator.__init__

    def spy_evaluator(self, data, split='test', *args, **kwargs):
        evaluators.append((split, pairs(known_edges(data, split))))
        evaluator_init(self, data, split, *args, **kwargs)

    monkeypatch.setattr(Trainer, '__init__', spy_init)
    monkeypatch.setattr(evaluator_module.Evaluator, 'rank', spy_rank)
    monkeypatch.setattr(evaluator_module.Evaluator, '__init__',
                        spy_evaluator)
    out = tmp_path / 'run'
    results = run_experiment(experiment(out))

    # The selection run keeps epoch 3 of 5; the refit trains exactly 3.
    best = results['best_epoch']
    assert best == 3 and len(results['epochs']) == 5
    assert results['protocol'] == 'refit'
    refit = results['refit']
    assert refit['epochs'] == best
    assert [r['epoch'] for r in refit['records']] == [1, 2, 3]
    assert refit['train_loss'] == refit['records'][-1]['train_loss']
    assert refit['test_evaluations'] == 1

    # Two trainers: the selection run on the training edges, the refit on
    # training + validation edges, no validation, exactly best epochs.
    assert len(trainers) == 2
    (selection, first), (view, second) = trainers
    assert torch.equal(split_edges(selection, 'train'),
                       split_edges(synthetic, 'train')) and first.validate
    known = pairs(split_edges(synthetic, 'train')) | pairs(
        split_edges(synthetic, 'val'))
    assert pairs(split_edges(view, 'train')) == known
    assert refit['train_interactions'] == len(known)
    assert not second.validate and second.epochs == best
    assert second.patience is None

    # The test is ranked once, excluding training and validation items.
    tests = [known for split, known in evaluators if split == 'test']
    assert tests == [known]
    test_ranks = [items for ev, items in ranked if ev.split == 'test']
    assert len(test_ranks) == 1
    users = [ev for ev, _ in ranked if ev.split == 'test'][0].users
    for user, row in zip(users.tolist(), test_ranks[0].tolist()):
        assert not any((user, item) in known for item in row if item >= 0)

    # results.json carries both phases; model.pt is the refit's weights,
    # selection_model.pt the selection run's.
    written = json.loads((out / 'results.json').read_text())
    assert written['best_epoch'] == best and written['valid']
    assert written['refit']['records'] == refit['records']
    assert written['test'] == results['test']
    record = json.loads((out / 'run.json').read_text())
    assert record['refit'] is True
    assert (out / 'selection_model.pt').is_file()
    assert (out / 'refit_checkpoint.pt').is_file()
    weights = torch.load(out / 'model.pt', weights_only=True)
    selected = torch.load(out / 'selection_model.pt', weights_only=True)
    assert weights.keys() == selected.keys()
    assert any(not torch.equal(weights[k], selected[k]) for k in weights)


def test_refit_is_the_model_trained_on_both_from_the_seed(synthetic,
                                                          one_thread):
    results = run_experiment(experiment())
    # The same model trained by hand on the view for best_epoch epochs:
    view = refit_view(synthetic)
    from hlr_graph.models.registry import build_model, model_arguments
    torch.manual_seed(3)
    arguments = model_arguments('cml', embedding_dim=16)
    model = build_model('cml', view['user'].num_nodes, view[ITEM].num_nodes,
                        split_edges(view, 'train'), **arguments)
    fit = Trainer(model, view, TrainConfig(
        epochs=results['best_epoch'], batch_size=500, lr=0.2, seed=3,
        progress=False, log=False, validate=False)).fit()
    assert [r['train_loss'] for r in fit['epochs']] == [
        r['train_loss'] for r in results['refit']['records']]


def test_closed_form_model_refits_on_train_and_validation(synthetic,
                                                           tmp_path):
    out = tmp_path / 'popular'
    results = run_experiment(experiment(out, model='popular',
                                        hyperparameters={}))
    assert results['best_epoch'] == 0 and results['refit']['epochs'] == 0
    items = known_edges(synthetic, 'test')[1]
    counts = torch.bincount(items, minlength=synthetic[ITEM].num_nodes)
    weights = torch.load(out / 'model.pt', weights_only=True)
    assert torch.equal(weights['popularity'], counts.float())
    selected = torch.load(out / 'selection_model.pt', weights_only=True)
    assert not torch.equal(selected['popularity'], counts.float())


def test_load_model_builds_a_refit_lightgcn_on_both(synthetic, tmp_path):
    out = tmp_path / 'lightgcn'
    run_experiment(experiment(out, model='lightgcn', epochs=1,
                              hyperparameters={'embedding_dim': 8,
                                               'num_layers': 1}))
    model = load_model(str(out), synthetic)
    interactions = known_edges(synthetic, 'test').size(1)
    assert model.adj_t._nnz() == 2 * interactions


def test_refit_needs_the_test_and_one_process():
    with pytest.raises(ValueError, match='test=True'):
        run_experiment(experiment(test=False))
    exp = experiment()
    exp.train.distributed = True
    with pytest.raises(ValueError, match='one process'):
        run_experiment(exp)



def test_cli_refuses_refit_with_distributed(tmp_path, capsys):
    code = cli.main(['train', '--refit', '--distributed', '--output-dir',
                     str(tmp_path / 'x'), '--no-progress'])
    one_error(capsys, code, '--refit', '--distributed')


ARGS = ['train', '--epochs', '4', '--lr', '0.2', '--dim', '16',
        '--batch-size', '500', '--seed', '3', '--cohorts', '0',
        '--no-progress', '--quiet']


def test_evaluate_measures_a_refit_as_it_was_tested(tmp_path, capsys):
    out = str(tmp_path / 'refit')
    assert cli.main([*ARGS, '--refit', '--output-dir', out]) == 0
    again = tmp_path / 'again.json'
    assert cli.main(['evaluate', out, '--output', str(again), '--quiet']) == 0
    tested = json.loads((tmp_path / 'refit' / 'results.json').read_text())
    # Popularity counts training + validation interactions, as the refit's:
    assert json.loads(again.read_text())['metrics'] == tested['test']
    capsys.readouterr()
    one_error(capsys, cli.main(['evaluate', out, '--on', 'val']),
              '--on val', 'is a --refit run')


def test_cli_resume_refuses_adding_refit(tmp_path, capsys):
    out = str(tmp_path / 'plain')
    assert cli.main([*ARGS, '--epochs', '1', '--output-dir', out]) == 0
    capsys.readouterr()
    code = cli.main(['train', '--resume', '--refit', '--output-dir', out])
    one_error(capsys, code, "--refit on differs from the run's off")


def test_a_killed_refit_resumes_to_the_same_run(tmp_path, capsys,
                                                monkeypatch, one_thread):
    whole = tmp_path / 'whole'
    assert cli.main([*ARGS, '--refit', '--output-dir', str(whole)]) == 0
    printed = capsys.readouterr().out
    assert 'refit on train + validation' in printed
    assert 'test measured once' in printed
    expected = json.loads((whole / 'results.json').read_text())
    assert expected['refit']['epochs'] == expected['best_epoch'] >= 2

    epoch = Trainer._epoch

    def killed(self, loader, number, optimizer):
        if not self.config.validate and number == 2:
            raise KeyboardInterrupt
        return epoch(self, loader, number, optimizer)

    part = tmp_path / 'part'
    monkeypatch.setattr(Trainer, '_epoch', killed)
    assert cli.main([*ARGS, '--refit', '--output-dir', str(part)]) == 130
    assert not (part / 'results.json').exists()
    assert (part / 'refit_checkpoint.pt').is_file()
    monkeypatch.setattr(Trainer, '_epoch', epoch)
    capsys.readouterr()
    assert cli.main(['train', '--resume', '--output-dir', str(part),
                     '--no-progress']) == 0
    printed = capsys.readouterr().out
    assert 'holds a finished run' in printed  # The selection run.
    assert 'resuming from epoch 1 of' in printed  # The refit's checkpoint.
    assert str(part / 'refit_checkpoint.pt') in printed
    resumed = json.loads((part / 'results.json').read_text())
    assert resumed['test'] == expected['test']
    assert [r['train_loss'] for r in resumed['refit']['records']] == [
        r['train_loss'] for r in expected['refit']['records']]
    a = torch.load(whole / 'model.pt', weights_only=True)
    b = torch.load(part / 'model.pt', weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_default_run_is_not_a_refit(synthetic):
    results = run_experiment(Experiment(
        model='cml', hyperparameters=dict(CML),
        train=TrainConfig(epochs=1, batch_size=500, progress=False,
                          log=False), num_cohorts=0))
    assert 'refit' not in results and 'protocol' not in results
    assert experiment_module.SELECTION_WEIGHTS_FILE in \
        experiment_module.RUN_FILES


def test_als_refits_on_train_and_validation(synthetic, tmp_path):
    pytest.importorskip('implicit')
    from hlr_graph.models.registry import (
        build_model,
        default_hyperparameters,
        model_arguments,
    )
    out = tmp_path / 'als'
    results = run_experiment(experiment(out, model='als', hyperparameters={}))
    assert results['refit']['epochs'] == 0
    view = refit_view(synthetic)
    settings = default_hyperparameters('synthetic', 'als')
    settings.pop('lr', None)
    torch.manual_seed(3)
    model = build_model('als', view['user'].num_nodes, view[ITEM].num_nodes,
                        split_edges(view, 'train'),
                        **model_arguments('als', **settings))
    model.fit(split_edges(view, 'train'))
    weights = torch.load(out / 'model.pt', weights_only=True)
    assert weights.keys() == model.state_dict().keys()
    assert all(torch.equal(weights[k], model.state_dict()[k])
               for k in weights)


def test_a_decaying_rate_carries_into_the_refit_and_the_record(
        tmp_path, capsys):
    # The refit's epoch e trains at the selection run's rate of epoch e;
    # run.json gives a resumed run the same decay, and refuses another.
    out = tmp_path / 'decay'
    args = [*ARGS, '--epochs', '5', '--lr', '0.5', '--lr-decay', '0.9',
            '--refit', '--output-dir', str(out)]
    assert cli.main(args) == 0
    results = json.loads((out / 'results.json').read_text())
    assert results['hyperparameters']['lr_decay'] == 0.9
    rates = [r['lr'] for r in results['epochs']]
    assert rates == pytest.approx([0.5 * 0.9 ** e for e in range(5)],
                                  rel=1e-15)
    best = results['best_epoch']
    assert best == 4  # The validation loss turns up at epoch 5.
    assert [r['lr'] for r in results['refit']['records']] == rates[:best]
    record = json.loads((out / 'run.json').read_text())
    resumed = Experiment.from_record(record)
    assert resumed.train.lr_decay == 0.9
    assert resumed.settings()['lr_decay'] == 0.9
    code = cli.main(['train', '--resume', '--output-dir', str(out),
                     '--lr-decay', '0.5', '--quiet'])
    one_error(capsys, code, '--lr-decay', '0.9', '0.5')
    # The refit model loads and ranks as it was tested.
    assert cli.main(['evaluate', str(out), '--quiet']) == 0
    assert f"{results['test']['ndcg@10']:.4f}" in capsys.readouterr().out


def test_cli_refuses_a_rate_that_grows(tmp_path, capsys):
    code = cli.main([*ARGS, '--lr-decay', '1.5',
                     '--output-dir', str(tmp_path / 'x')])
    one_error(capsys, code, '--lr-decay', '1.5')
    code = cli.main(['train', '--model', 'als', '--lr-decay', '0.5',
                     '--quiet', '--output-dir', str(tmp_path / 'y')])
    one_error(capsys, code, '--lr-decay')
    assert not (tmp_path / 'x').exists() and not (tmp_path / 'y').exists()


@pytest.mark.parametrize('model,settings', [
    ('als', {'lr_decay': 0.9}), ('popular', {'lr': 1e-3}),
    ('cml', {'regularization': 1.0})])
def test_a_setting_the_model_does_not_take_is_refused(tmp_path, model,
                                                      settings):
    # From Python as on the command line, before the data loads: a
    # closed-form fit would ignore a learning rate.
    out = tmp_path / 'run'
    with pytest.raises(ValueError, match=re.escape(
            f"model '{model}' takes no {sorted(settings)}")):
        run_experiment(Experiment(model=model, hyperparameters=settings,
                                  output_dir=str(out)))
    assert not out.exists()
