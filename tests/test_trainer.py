import json
import os
import random

import numpy as np
import pytest
import torch
from torch.torch_version import TorchVersion

from hlr_graph.data import load_dataset
from hlr_graph.models.registry import build_model
from hlr_graph.train import (
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    build_optimizer,
    load_checkpoint,
    load_model,
)

MODELS = {
    'cml': dict(embedding_dim=16),
    'hlr': dict(embedding_dim=16, num_memories=4, max_history=5),
}


@pytest.fixture(scope='module')
def synthetic():
    return load_dataset('synthetic')[0]


@pytest.fixture
def one_thread():
    r"""Sums in a fixed order, so that runs compare bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(data, name='cml', init_seed=0, **kwargs):
    torch.manual_seed(init_seed)
    return build_model(name, data['user'].num_nodes, data['item'].num_nodes,
                       **{**MODELS[name], **kwargs})


def config(folder, epochs, **kwargs):
    os.makedirs(folder, exist_ok=True)
    return TrainConfig(**{
        'epochs': epochs, 'batch_size': 500, 'lr': 1e-2, 'seed': 3,
        'progress': False, 'log': False,
        'checkpoint': os.path.join(folder, 'checkpoint.pt'),
        'best_weights': os.path.join(folder, 'model.pt'), **kwargs})


def seed_globals(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def draw_globals():
    r"""One draw from each global generator, to compare their states."""
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(),
            random.random())


def losses(fit):
    return [(r['train_loss'], r['valid_loss']) for r in fit['epochs']]


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize('name,extra', [
    ('cml', {}),
    ('hlr', {}),
    ('cml', dict(select_by='recall@10', eval_every=2, eval_users=200)),
    ('cml', dict(optimizer='sparse_adam')),
    ('hlr', dict(optimizer='sparse_adam')),
    ('hlr', dict(lr_decay=0.7)),
    ('cml', dict(lr_decay=0.5, optimizer='sparse_adam')),
])
def test_resume_ends_bit_identical_to_an_uninterrupted_run(
        synthetic, tmp_path, one_thread, name, extra):
    seed_globals(11)
    whole = make_model(synthetic, name)
    fit = Trainer(whole, synthetic,
                  config(tmp_path / 'whole', 5, **extra)).fit()
    after_whole = draw_globals()

    seed_globals(11)
    first = make_model(synthetic, name)
    part = Trainer(first, synthetic,
                   config(tmp_path / 'parts', 2, **extra)).fit()
    assert len(part['epochs']) == 2
    seconds = load_checkpoint(str(tmp_path / 'parts' /
                                  'checkpoint.pt'))['seconds']
    # A new process: other weights and global generators until the
    # checkpoint restores them.
    seed_globals(99)
    resumed = make_model(synthetic, name, init_seed=5)
    assert not torch.equal(resumed.user_emb.weight, whole.user_emb.weight)
    rest = Trainer(resumed, synthetic,
                   config(tmp_path / 'parts', 5, **extra)).fit(resume=True)

    assert_same_state(resumed.state_dict(), whole.state_dict())
    assert losses(rest) == losses(fit)
    assert rest['best_epoch'] == fit['best_epoch']
    assert rest['epochs'] == [{**r, 'seconds': s['seconds']} for r, s in
                              zip(fit['epochs'], rest['epochs'])]
    assert draw_globals() == after_whole
    # The last epoch's state too, not only the kept epoch's weights.
    a = load_checkpoint(str(tmp_path / 'whole' / 'checkpoint.pt'))
    b = load_checkpoint(str(tmp_path / 'parts' / 'checkpoint.pt'))
    assert a['epoch'] == b['epoch'] == 5
    # The training time adds up over both sessions.
    assert b['seconds'] >= seconds + sum(r['seconds']
                                         for r in b['records'][2:])
    assert_same_state(a['model'], b['model'])
    optimizers = ('optimizer', 'sparse_optimizer')
    assert [a[k] is None for k in optimizers] == \
        [b[k] is None for k in optimizers] == \
        [name == 'cml' and bool(extra.get('optimizer')),
         not extra.get('optimizer')]  # Sparse CML has no dense parameter.
    for key in optimizers:
        if a[key] is not None:
            assert a[key]['state'].keys() == b[key]['state'].keys()
            for x, y in zip(a[key]['state'].values(),
                            b[key]['state'].values()):
                assert_same_state(x, y)
    assert_same_state(torch.load(tmp_path / 'whole' / 'model.pt',
                                 weights_only=True),
                      torch.load(tmp_path / 'parts' / 'model.pt',
                                 weights_only=True))


def test_resume_with_sampling_processes(synthetic, tmp_path, one_thread):
    # Each epoch's worker processes are seeded from the batch-order
    # generator, which the checkpoint holds.
    whole = make_model(synthetic)
    fit = Trainer(whole, synthetic,
                  config(tmp_path / 'whole', 3, num_workers=1)).fit()
    Trainer(make_model(synthetic), synthetic,
            config(tmp_path / 'parts', 1, num_workers=1)).fit()
    resumed = make_model(synthetic, init_seed=5)
    rest = Trainer(resumed, synthetic, config(
        tmp_path / 'parts', 3, num_workers=1)).fit(resume=True)
    assert losses(rest) == losses(fit)
    assert_same_state(resumed.state_dict(), whole.state_dict())


def test_resume_without_a_checkpoint_starts_from_scratch(
        synthetic, tmp_path, one_thread):
    a = make_model(synthetic)
    fit_a = Trainer(a, synthetic, config(tmp_path / 'a', 2)).fit()
    b = make_model(synthetic)
    fit_b = Trainer(b, synthetic,
                    config(tmp_path / 'b', 2)).fit(resume=True)
    assert losses(fit_a) == losses(fit_b)
    assert_same_state(a.state_dict(), b.state_dict())


def test_a_finished_run_is_not_trained_again_and_can_grow(
        synthetic, tmp_path, one_thread):
    model = make_model(synthetic)
    fit = Trainer(model, synthetic, config(tmp_path / 'run', 3)).fit()
    path = tmp_path / 'run' / 'checkpoint.pt'
    written = path.read_bytes()
    (tmp_path / 'run' / 'model.pt').unlink()
    (tmp_path / 'run' / 'checkpoint.pt.1234.tmp').write_bytes(b'half')
    again = make_model(synthetic, init_seed=4)
    fit_again = Trainer(again, synthetic,
                        config(tmp_path / 'run', 3)).fit(resume=True)
    assert path.read_bytes() == written  # Nothing trained or written,
    assert sorted(os.listdir(tmp_path / 'run')) == [  # but what was lost.
        'checkpoint.pt', 'model.pt']
    assert_same_state(torch.load(tmp_path / 'run' / 'model.pt',
                                 weights_only=True), model.state_dict())
    assert losses(fit_again) == losses(fit)
    assert fit_again['best_epoch'] == fit['best_epoch']
    assert_same_state(again.state_dict(), model.state_dict())

    # More epochs continue the run as if it had been asked for them.
    longer = make_model(synthetic, init_seed=4)
    fit_longer = Trainer(longer, synthetic,
                         config(tmp_path / 'run', 5)).fit(resume=True)
    whole = make_model(synthetic)
    fit_whole = Trainer(whole, synthetic, config(tmp_path / 'whole', 5)).fit()
    assert losses(fit_longer) == losses(fit_whole)
    assert_same_state(longer.state_dict(), whole.state_dict())
    # Fewer epochs than the checkpoint holds is refused.
    with pytest.raises(ValueError, match='5 epochs, more than epochs=4'):
        Trainer(make_model(synthetic), synthetic,
                config(tmp_path / 'run', 4)).fit(resume=True)


def test_a_run_stopped_by_patience_is_not_trained_again(
        synthetic, tmp_path, one_thread):
    model = make_model(synthetic)
    fit = Trainer(model, synthetic,
                  config(tmp_path, 40, lr=0.3, patience=1)).fit()
    assert len(fit['epochs']) == fit['best_epoch'] + 1 < 40
    written = (tmp_path / 'checkpoint.pt').read_bytes()
    again = make_model(synthetic)
    fit_again = Trainer(again, synthetic, config(
        tmp_path, 40, lr=0.3, patience=1)).fit(resume=True)
    assert (tmp_path / 'checkpoint.pt').read_bytes() == written
    assert losses(fit_again) == losses(fit)
    assert_same_state(again.state_dict(), model.state_dict())


@pytest.mark.parametrize('setting,change,message', [
    ('lr', dict(lr=1e-3), 'lr = 0.01, this run has lr = 0.001'),
    ('batch_size', dict(batch_size=400),
     'batch_size = 500, this run has batch_size = 400'),
    ('seed', dict(seed=4), 'seed = 3, this run has seed = 4'),
    ('select_by', dict(select_by='ndcg@10'),
     "select_by = 'loss', this run has select_by = 'ndcg@10'"),
    ('optimizer', dict(optimizer='sparse_adam'),
     "optimizer = 'adam', this run has optimizer = 'sparse_adam'"),
    ('lr_decay', dict(lr_decay=0.5),
     'lr_decay = 1.0, this run has lr_decay = 0.5'),
])
def test_a_checkpoint_of_other_settings_is_refused(
        synthetic, tmp_path, setting, change, message):
    Trainer(make_model(synthetic), synthetic, config(tmp_path, 1)).fit()
    with pytest.raises(ValueError, match=f'written with {message}'):
        Trainer(make_model(synthetic), synthetic,
                config(tmp_path, 2, **change)).fit(resume=True)


def test_a_checkpoint_from_before_the_optimizer_setting_resumes(
        synthetic, tmp_path):
    Trainer(make_model(synthetic), synthetic, config(tmp_path, 1)).fit()
    path = tmp_path / 'checkpoint.pt'
    state = torch.load(path, weights_only=True)
    del state['settings']['optimizer'], state['sparse_optimizer']
    del state['settings']['lr_decay']
    for record in state['records']:
        del record['lr']
    torch.save(state, path)  # As written before sparse updates existed.
    with pytest.raises(ValueError, match='written with lr_decay = 1.0'):
        Trainer(make_model(synthetic), synthetic, config(
            tmp_path, 2, lr_decay=0.9)).fit(resume=True)
    fit = Trainer(make_model(synthetic), synthetic,
                  config(tmp_path, 2)).fit(resume=True)
    assert [r['lr'] for r in fit['epochs']] == [1e-2, 1e-2]
    with pytest.raises(ValueError, match="written with optimizer = 'adam'"):
        Trainer(make_model(synthetic), synthetic, config(
            tmp_path, 3, optimizer='sparse_adam')).fit(resume=True)


class RateRecorder(Trainer):
    r"""Records the learning rate of every optimiser at every step."""
    def train_step(self, batch, optimizer):
        self.rates.append(
            [g['lr'] for o in (optimizer.dense, optimizer.sparse)
             if o is not None for g in o.param_groups])
        return super().train_step(batch, optimizer)


@pytest.mark.parametrize('optimizer', ['adam', 'sparse_adam'])
def test_lr_decay_sets_each_epochs_rate(synthetic, tmp_path, optimizer):
    trainer = RateRecorder(make_model(synthetic, 'hlr'), synthetic, config(
        tmp_path, 3, lr=0.02, lr_decay=0.5, optimizer=optimizer))
    trainer.rates = []
    fit = trainer.fit()
    steps = len(trainer.rates) // 3
    groups = 2 if optimizer == 'sparse_adam' else 1  # Tables and the rest.
    assert trainer.rates == [[0.02] * groups] * steps + [
        [0.01] * groups] * steps + [[0.005] * groups] * steps
    assert [r['lr'] for r in fit['epochs']] == [0.02, 0.01, 0.005]


def test_a_constant_rate_is_lr_itself_at_every_step(synthetic, tmp_path):
    # The default, lr_decay 1, leaves the paper's training as it was.
    trainer = RateRecorder(make_model(synthetic), synthetic,
                           config(tmp_path, 3, lr=3e-3))
    trainer.rates = []
    fit = trainer.fit()
    assert trainer.config.lr_decay == 1.0
    assert {r for step in trainer.rates for r in step} == {3e-3}
    assert [r['lr'] for r in fit['epochs']] == [3e-3] * 3


@pytest.mark.parametrize('decay', [0.0, -0.5, 1.5, float('nan'), True, '0.9',
                                   np.float32(0.9), np.float64(0.9)])
def test_lr_decay_out_of_range_is_refused(synthetic, tmp_path, decay):
    with pytest.raises(ValueError, match='lr_decay must be a Python float in'):
        Trainer(make_model(synthetic), synthetic,
                config(tmp_path, 1, lr_decay=decay)).fit()
    assert not os.listdir(tmp_path)  # Refused before anything is written.


def test_a_checkpoint_of_another_model_is_refused(synthetic, tmp_path):
    Trainer(make_model(synthetic), synthetic, config(tmp_path, 1)).fit()
    with pytest.raises(ValueError, match=r'shape of user_emb.weight = '
                       r'\[600, 16\], this run has shape of user_emb.weight'
                       r' = \[600, 8\]'):
        Trainer(make_model(synthetic, embedding_dim=8), synthetic,
                config(tmp_path, 2)).fit(resume=True)
    with pytest.raises(ValueError, match='model.margin = 0.5, this run has '
                       'model.margin = 0.2'):
        Trainer(make_model(synthetic, margin=0.2), synthetic,
                config(tmp_path, 2)).fit(resume=True)
    with pytest.raises(ValueError, match="model = 'CML', this run has "
                       "model = 'HLR'"):
        Trainer(make_model(synthetic, 'hlr'), synthetic,
                config(tmp_path, 2)).fit(resume=True)
    # The kept weights are not a training state.
    cfg = config(tmp_path, 2, checkpoint=str(tmp_path / 'model.pt'))
    with pytest.raises(ValueError, match='not a training checkpoint'):
        Trainer(make_model(synthetic), synthetic, cfg).fit(resume=True)


def plain(obj):
    r""":obj:`obj` with tensors replaced by ``None``; fails on anything not
    a dict, list, tuple, number, string, bool, None or tensor."""
    if isinstance(obj, torch.Tensor):
        return None
    if isinstance(obj, dict):
        assert all(isinstance(k, (str, int)) for k in obj), obj.keys()
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    assert obj is None or isinstance(obj, (bool, int, float, str)), type(obj)
    return obj


@pytest.mark.parametrize('name', ['cml', 'hlr'])
def test_checkpoints_load_with_weights_only(synthetic, tmp_path, name):
    model = make_model(synthetic, name)
    Trainer(model, synthetic, config(tmp_path, 2)).fit()
    state = torch.load(tmp_path / 'checkpoint.pt', weights_only=True)
    json.dumps(plain(state))  # Tensors and plain JSON-able values only.
    assert state['epoch'] == 2 and len(state['records']) == 2
    assert set(state['rng']) == {'torch', 'cuda', 'numpy', 'python',
                                 'loader', 'sampler'}
    weights = torch.load(tmp_path / 'model.pt', weights_only=True)
    assert_same_state(weights, model.state_dict())
    assert_same_state(weights, state['best_model'])
    # No temporary file is left beside them.
    assert sorted(os.listdir(tmp_path)) == ['checkpoint.pt', 'model.pt']


def test_load_model_reads_the_kept_weights_with_weights_only(
        synthetic, tmp_path):
    model = make_model(synthetic, 'hlr')
    Trainer(model, synthetic, config(tmp_path, 2)).fit()
    (tmp_path / 'results.json').write_text(json.dumps({
        'model': 'hlr', 'hyperparameters': {**MODELS['hlr'], 'lr': 1e-2,
                                            'epochs': 2}}))
    loaded = load_model(str(tmp_path), synthetic)
    assert_same_state(loaded.state_dict(), model.state_dict())
    assert not loaded.training
    # A pickled object is refused rather than run.
    torch.save({'user_emb.weight': np.zeros(3)}, tmp_path / 'model.pt')
    with pytest.raises(Exception, match='[Ww]eights only load failed'):
        load_model(str(tmp_path), synthetic)


def test_closed_form_fit_writes_the_weights(synthetic, tmp_path):
    model = build_model('popular', synthetic['user'].num_nodes,
                        synthetic['item'].num_nodes)
    fit = Trainer(model, synthetic, config(tmp_path, 2)).fit()
    assert fit['best_epoch'] == 0
    assert_same_state(torch.load(tmp_path / 'model.pt', weights_only=True),
                      model.state_dict())


def poison(model, at, value):
    r"""Makes training step :obj:`at` (from 1) of :obj:`model` produce a
    NaN loss by filling the batch's user rows with NaN, or an infinite one
    by adding :obj:`value` to it."""
    loss, steps = model.loss, [0]

    def poisoned(batch):
        if model.training:
            steps[0] += 1
            if steps[0] == at:
                if value != value:
                    with torch.no_grad():
                        model.user_emb.weight[batch.user] = value
                else:
                    return loss(batch) + value
        return loss(batch)
    model.loss = poisoned


@pytest.mark.parametrize('value', [float('nan'), float('inf')])
def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
        synthetic, tmp_path, one_thread, value):
    model = make_model(synthetic)
    batches = -(-synthetic['user', 'item'].edge_index.size(1) // 500)
    poison(model, 2 * batches + 5, value)  # Epoch 3, batch 5.
    cfg = config(tmp_path, 4)
    with pytest.raises(NonFiniteLossError) as info:
        Trainer(model, synthetic, cfg).fit()
    error = info.value
    assert isinstance(error, FloatingPointError)
    assert (error.epoch, error.batch) == (3, 5)
    assert str(error).startswith(
        f'epoch 3: the training loss is {value} at batch 5 of {batches}; '
        f'the last good checkpoint (epoch 2) is kept in {cfg.checkpoint}')
    state = load_checkpoint(cfg.checkpoint)
    assert state['epoch'] == 2
    assert all(torch.isfinite(v).all() for v in state['model'].values())
    assert sorted(os.listdir(tmp_path)) == ['checkpoint.pt', 'model.pt']

    # The kept checkpoint continues as a run that never failed.
    resumed = make_model(synthetic, init_seed=8)
    fit = Trainer(resumed, synthetic, cfg).fit(resume=True)
    whole = make_model(synthetic)
    fit_whole = Trainer(whole, synthetic, config(tmp_path / 'whole', 4)).fit()
    assert losses(fit) == losses(fit_whole)
    assert_same_state(resumed.state_dict(), whole.state_dict())


def test_a_non_finite_loss_in_the_first_epoch_says_nothing_is_kept(
        synthetic, tmp_path):
    model = make_model(synthetic)
    poison(model, 2, float('nan'))
    with pytest.raises(NonFiniteLossError,
                       match='epoch 1: the training loss is nan at batch 2 '
                       'of 26; no epoch completed'):
        Trainer(model, synthetic, config(tmp_path, 2)).fit()
    assert os.listdir(tmp_path) == []


def test_adam_is_fused_where_torch_supports_it():
    parameters = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = build_optimizer(parameters, lr=0.1)
    assert bool(optimizer.defaults['fused']) == \
        (TorchVersion(torch.__version__) >= '2.4')  # CPU kernel since 2.4.
    parameters[0].grad = torch.ones(3)
    optimizer.step()
    assert (parameters[0] < 0).all()


class EagerCheck(torch.optim.Adam):
    r"""Torch before 2.4: ``fused=True`` refuses CPU parameters when the
    optimiser is built."""
    def __init__(self, params, fused=None, **kwargs):
        params = list(params)
        if fused and any(p.device.type == 'cpu' for p in params):
            raise RuntimeError('`fused=True` requires all the params to be '
                               'floating point Tensors of supported devices:'
                               " ['cuda', 'xpu'] but torch.float32 and cpu")
        super().__init__(params, fused=fused, **kwargs)


class LazyCheck(torch.optim.Adam):
    r"""A torch that checks the device at the first step."""
    def step(self, closure=None):
        if self.defaults['fused']:
            raise RuntimeError('`fused=True` requires all the params to be '
                               'floating point Tensors of supported devices')
        return super().step(closure)


class NoFused(torch.optim.Adam):
    r"""A torch whose Adam has no ``fused`` argument."""
    def __init__(self, params, lr=1e-3, **kwargs):
        if 'fused' in kwargs:
            raise TypeError("__init__() got an unexpected keyword argument "
                            "'fused'")
        super().__init__(params, lr=lr, **kwargs)


@pytest.mark.parametrize('adam', [EagerCheck, LazyCheck, NoFused])
def test_adam_falls_back_where_fused_is_missing(synthetic, monkeypatch, adam):
    monkeypatch.setattr(torch.optim, 'Adam', adam)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(3))], 0.1)
    assert type(optimizer) is adam and not optimizer.defaults.get('fused')
    model = make_model(synthetic)
    fit = Trainer(model, synthetic, TrainConfig(
        epochs=1, batch_size=500, progress=False, log=False)).fit()
    assert len(fit['epochs']) == 1


def test_epoch_lines_and_quiet(synthetic, capsys):
    Trainer(make_model(synthetic), synthetic,
            TrainConfig(epochs=2, batch_size=500, progress=True)).fit()
    out, err = capsys.readouterr()
    assert [line[:11] for line in out.splitlines()] == ['epoch   1/2',
                                                        'epoch   2/2']
    assert '\r' not in err  # No bar when stderr is not a terminal.
    Trainer(make_model(synthetic), synthetic,
            TrainConfig(epochs=2, batch_size=500, log=False)).fit()
    assert capsys.readouterr() == ('', '')
    # A decaying rate is shown, with and without validation:
    for validate in (True, False):
        Trainer(make_model(synthetic), synthetic, TrainConfig(
            epochs=2, batch_size=500, progress=False, lr=0.01, lr_decay=0.5,
            validate=validate)).fit()
        assert [line[:22] for line in capsys.readouterr().out.splitlines()
                ] == ['epoch   1/2  lr 0.01  ', 'epoch   2/2  lr 0.005 ']
