r"""Sparse updates (``TrainConfig.optimizer='sparse_adam'``): LazyAdam, the
first step against dense Adam, clipping of the rows a step changed, models
refused, and the flags."""
import json

import pytest
import torch
from test_cli import one_error

from hlr_graph import cli
from hlr_graph.data import load_dataset
from hlr_graph.data.graph import split_edges
from hlr_graph.loader import TripletBatch
from hlr_graph.models import CML
from hlr_graph.models.cml import clip_rows_
from hlr_graph.models.registry import build_model
from hlr_graph.train import (
    LazyAdam,
    Optimizers,
    TrainConfig,
    Trainer,
    build_optimizers,
    experiment,
)
from hlr_graph.train import trainer as trainer_module

SETTINGS = {
    'cml': {},
    'lrml': dict(clip_ram=True),
    'adacml': dict(max_history=5),
    'hlr': dict(num_memories=4, max_history=5, clip_ram=True),
    'hlrpp': dict(num_memories=4, max_history=5),
    'transcf': {},
    'bpr': {},
}
r"""Every model sparse updates apply to, small."""


@pytest.fixture(scope='module')
def synthetic():
    return load_dataset('synthetic', log=False)[0]


def make_model(data, name, seed=0):
    torch.manual_seed(seed)
    return build_model(name, data['user'].num_nodes, data['item'].num_nodes,
                       split_edges(data, 'train'), embedding_dim=16,
                       **SETTINGS.get(name, {}))


def first_batch(trainer: Trainer) -> TripletBatch:
    return next(iter(trainer.loader('train')))


def test_lazy_adam_is_adam_on_the_rows_it_updates():
    torch.manual_seed(0)
    start = torch.randn(30, 4)
    dense = torch.nn.Parameter(start.clone())
    lazy = torch.nn.Parameter(start.clone())
    adam = torch.optim.Adam([dense], lr=0.01, foreach=False)
    optimizer = LazyAdam([lazy], lr=0.01)
    for _ in range(10):  # Every row in every gradient, in shuffled order.
        grad = torch.randn(30, 4)
        order = torch.randperm(30)
        dense.grad = grad
        lazy.grad = torch.sparse_coo_tensor(order.unsqueeze(0), grad[order],
                                            (30, 4), check_invariants=True)
        adam.step()
        optimizer.step()
        assert torch.equal(lazy, dense)  # Bit for bit.
    # A step over some rows leaves the others and their moments alone.
    state = {k: v.clone() for k, v in optimizer.state[lazy].items()}
    before = lazy.detach().clone()
    rows = torch.tensor([3, 7, 7])  # A repeated row sums its gradients.
    lazy.grad = torch.sparse_coo_tensor(rows.unsqueeze(0), torch.ones(3, 4),
                                        (30, 4), check_invariants=True)
    optimizer.step()
    other = torch.ones(30, dtype=torch.bool)
    other[rows] = False
    assert torch.equal(lazy[other], before[other])
    assert not (lazy[rows] == before[rows]).any()
    for key in ('exp_avg', 'exp_avg_sq'):
        moment = optimizer.state[lazy][key]
        assert torch.equal(moment[other], state[key][other])
    assert torch.allclose(optimizer.state[lazy]['exp_avg'][7],
                          0.9 * state['exp_avg'][7] + 0.1 * 2.0)
    assert optimizer.state[lazy]['step'].item() == 11
    lazy.grad = torch.ones(30, 4)
    with pytest.raises(RuntimeError, match='sparse'):
        optimizer.step()


def single_tensor_adam(parameters, lr):
    r"""Adam's single-tensor implementation, which :class:`LazyAdam`
    matches bit for bit (the fused one rounds differently)."""
    return torch.optim.Adam(parameters, lr=lr, foreach=False)


@pytest.mark.parametrize('name', list(SETTINGS))
def test_first_step_of_sparse_and_dense_updates_agree(synthetic, monkeypatch,
                                                      name):
    lr = 0.01
    initial = make_model(synthetic, name)
    dense, sparse = make_model(synthetic, name), make_model(synthetic, name)
    config = TrainConfig(batch_size=100, lr=lr, seed=3, progress=False,
                         log=False)
    batch = first_batch(Trainer(dense, synthetic, config))
    monkeypatch.setattr(trainer_module, 'build_optimizer',
                        single_tensor_adam)
    dense_loss = Trainer(dense, synthetic, config).train_step(
        batch, build_optimizers(dense, lr, 'adam'))
    optimizers = build_optimizers(sparse, lr, 'sparse_adam')
    assert isinstance(optimizers.sparse, LazyAdam)
    sparse_loss = Trainer(sparse, synthetic, config).train_step(
        batch, optimizers)
    assert sparse_loss.item() == dense_loss.item()  # The same forward pass.

    touched = {'user_emb': batch.user.unique(),
               'item_emb': torch.cat([batch.pos, batch.neg,
                                      batch.history[0]]).unique()}
    clipped = make_model(synthetic, name)
    clipped.constrain_()  # Dense updates clip every row.
    exact = name not in ('transcf', 'bpr')  # Rows looked up once each.
    for table, rows in touched.items():
        weight = sparse.sparse_parameters()[table]
        assert weight.grad.is_sparse
        assert torch.equal(weight.grad.indices()[0], rows)
        after = {'dense': getattr(dense, table).weight,
                 'sparse': weight}
        other = torch.ones(weight.size(0), dtype=torch.bool)
        other[rows] = False
        assert other.any()
        # Adam's first step moves only rows with a gradient, by the same
        # amount under both; rows that were not looked up stay as they
        # were under sparse updates, and are only clipped under dense ones.
        if exact:
            assert torch.equal(after['sparse'][rows], after['dense'][rows])
        else:  # Repeated lookups: gradients summed in another order.
            assert torch.allclose(after['sparse'][rows],
                                  after['dense'][rows], rtol=0, atol=1e-6)
        assert not torch.equal(after['sparse'][rows],
                               getattr(initial, table).weight[rows])
        assert torch.equal(after['sparse'][other],
                           getattr(initial, table).weight[other])
        assert torch.equal(after['dense'][other],
                           getattr(clipped, table).weight[other])
    # Every other parameter (memory, keys) took the same dense update.
    for key, value in dense.state_dict().items():
        if key.split('.')[0] not in touched:
            assert torch.equal(sparse.state_dict()[key], value), key


def test_the_trainers_fused_adam_agrees_to_rounding(synthetic):
    lr = 0.01
    dense, sparse = make_model(synthetic, 'hlr'), make_model(synthetic, 'hlr')
    config = TrainConfig(batch_size=500, lr=lr, seed=3, progress=False,
                         log=False)
    batch = first_batch(Trainer(dense, synthetic, config))
    Trainer(dense, synthetic, config).train_step(
        batch, build_optimizers(dense, lr, 'adam'))
    Trainer(sparse, synthetic, config).train_step(
        batch, build_optimizers(sparse, lr, 'sparse_adam'))
    rows = batch.user.unique()
    assert torch.allclose(sparse.user_emb.weight[rows],
                          dense.user_emb.weight[rows], rtol=0, atol=1e-6)


def test_a_sparse_step_clips_only_the_rows_it_changed():
    weight = torch.tensor([[3.0, 4.0], [0.6, 0.8], [0.0, 2.0], [0.3, 0.4]])
    clip_rows_(weight, 1.0, torch.tensor([1, 2, 3]))
    assert torch.equal(weight, torch.tensor(
        [[3.0, 4.0], [0.6, 0.8], [0.0, 1.0], [0.3, 0.4]]))
    model = CML(4, 3, embedding_dim=2)
    with torch.no_grad():
        model.user_emb.weight.fill_(2.0)
        model.item_emb.weight.fill_(2.0)
    model.constrain_({'user_emb': torch.tensor([1]),
                      'item_emb': torch.tensor([], dtype=torch.long)})
    norms = model.user_emb.weight.norm(dim=1)
    assert torch.allclose(norms[1], torch.tensor(1.0))
    assert (norms[[0, 2, 3]] > 2.8).all()
    assert (model.item_emb.weight == 2.0).all()  # No row changed.
    model.constrain_()
    assert torch.allclose(model.user_emb.weight.norm(dim=1), torch.ones(4))


def test_training_with_sparse_updates_clips_and_resets_the_tables(synthetic):
    model = make_model(synthetic, 'hlr')
    optimizers = build_optimizers(model, 0.05, 'sparse_adam')
    assert model.sparse_gradients and model.user_emb.sparse
    assert [p.shape for group in optimizers.dense.param_groups
            for p in group['params']] == [p.shape for p in
                                          model.memory.parameters()]
    fit = Trainer(model, synthetic, TrainConfig(
        epochs=2, batch_size=500, lr=0.05, optimizer='sparse_adam',
        progress=False, log=False)).fit()
    assert len(fit['epochs']) == 2
    assert not model.sparse_gradients and not model.user_emb.sparse
    # Every row a step changed is back within the bound; rows no batch
    # looked up keep their initial norm, above it or not.
    initial = make_model(synthetic, 'hlr')
    changed = (model.item_emb.weight != initial.item_emb.weight).any(1)
    norms = model.item_emb.weight.norm(dim=1)
    assert changed.any() and (norms[changed] <= 1 + 1e-6).all()
    assert torch.equal(norms[~changed],
                       initial.item_emb.weight.norm(dim=1)[~changed])


class EncodedCML(CML):
    r"""A model whose vectors come from another encoder over whole
    tables (as ``examples/hlr_on_lightgcn.py``)."""
    def embeddings(self):
        users, items = super().embeddings()
        return users + items.mean(0), items


@pytest.mark.parametrize('name', ['lightgcn', 'encoded'])
def test_models_that_read_whole_tables_are_refused(synthetic, name):
    if name == 'encoded':
        model, message = EncodedCML(600, 900, 8), 'EncodedCML cannot'
    else:
        model = build_model(name, synthetic['user'].num_nodes,
                            synthetic['item'].num_nodes,
                            split_edges(synthetic, 'train'))
        message = 'LightGCN cannot be trained with sparse updates'
    with pytest.raises(ValueError, match=message):
        Trainer(model, synthetic, TrainConfig(
            epochs=1, optimizer='sparse_adam', progress=False,
            log=False)).fit()
    assert not model.sparse_gradients


def test_an_unknown_optimizer_is_refused(synthetic):
    with pytest.raises(ValueError, match="optimizer must be one of"):
        Trainer(make_model(synthetic, 'cml'), synthetic, TrainConfig(
            epochs=1, optimizer='sgd', progress=False, log=False)).fit()


def test_optimizers_save_and_load_both_states(synthetic):
    model = make_model(synthetic, 'hlr')
    optimizers = build_optimizers(model, 0.01, 'sparse_adam')
    trainer = Trainer(model, synthetic, TrainConfig(batch_size=500))
    trainer.train_step(first_batch(trainer), optimizers)
    state = optimizers.state_dict()
    assert set(state) == {'optimizer', 'sparse_optimizer'}
    assert len(state['optimizer']['state']) == 2  # Memories and keys.
    assert len(state['sparse_optimizer']['state']) == 2  # Both tables.
    again = build_optimizers(make_model(synthetic, 'hlr'), 0.01,
                             'sparse_adam')
    again.load_state_dict(state)
    for a, b in zip(again.sparse.state.values(),
                    optimizers.sparse.state.values()):
        assert all(torch.equal(a[k], b[k]) for k in a)
    cml = build_optimizers(make_model(synthetic, 'cml'), 0.01, 'sparse_adam')
    assert cml.dense is None and cml.state_dict()['optimizer'] is None
    assert Optimizers(None).step() is None  # Dense: clip every row.


# The flags ###################################################################


@pytest.mark.parametrize('command', ['train', 'tune'])
def test_the_flag_refuses_lightgcn_before_the_data_loads(
        tmp_path, capsys, monkeypatch, command):
    def load_dataset(*args, **kwargs):
        raise AssertionError('the data set was loaded')

    monkeypatch.setattr(experiment, 'load_dataset', load_dataset)
    argv = [command, '--dataset', 'synthetic', '--model', 'lightgcn',
            '--optimizer', 'sparse_adam']
    argv += (['--output', str(tmp_path / 'tune.json')] if command == 'tune'
             else ['--output-dir', str(tmp_path / 'run')])
    one_error(capsys, cli.main(argv), '--optimizer sparse_adam',
              "model 'lightgcn'", 'whole embedding table')
    assert list(tmp_path.iterdir()) == []


def test_train_records_the_optimizer_and_resumes_with_it(tmp_path, capsys):
    out = tmp_path / 'run'
    args = ['train', '--model', 'hlr', '--dim', '8', '--num-memories', '2',
            '--max-history', '3', '--epochs', '1', '--optimizer',
            'sparse_adam', '--no-progress', '--quiet', '--eval-users', '50',
            '--cohorts', '0', '--output-dir', str(out)]
    assert cli.main(args) == 0
    record = json.loads((out / 'run.json').read_text())
    assert record['train']['optimizer'] == 'sparse_adam'
    checkpoint = torch.load(out / 'checkpoint.pt', weights_only=True)
    assert checkpoint['settings']['optimizer'] == 'sparse_adam'
    assert checkpoint['sparse_optimizer'] is not None
    capsys.readouterr()
    one_error(capsys, cli.main(['train', '--resume', '--output-dir',
                                str(out), '--optimizer', 'adam']),
              '--optimizer adam', "the run's sparse_adam")
    results = json.loads((out / 'results.json').read_text())
    (out / 'results.json').unlink()  # As if stopped before its evaluation.
    assert cli.main(['train', '--resume', '--output-dir', str(out),
                     '--quiet']) == 0
    again = json.loads((out / 'results.json').read_text())
    assert again['test'] == results['test']


def test_tune_passes_the_optimizer_to_every_trial(tmp_path, capsys):
    output = tmp_path / 'tune.json'
    args = ['tune', '--dataset', 'synthetic', '--model', 'cml', '--trials',
            '1', '--epochs', '1', '--output', str(output), '--optimizer']
    assert cli.main(args + ['sparse_adam']) == 0
    assert json.loads(output.read_text())['optimizer'] == 'sparse_adam'
    capsys.readouterr()
    one_error(capsys, cli.main(args + ['adam']),
              "--optimizer adam differs from the search's sparse_adam")
