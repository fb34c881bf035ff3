import json

import pytest
import torch
from test_main_job import load_example
from torch_geometric.testing import withCUDA

from hlr_graph.data import SyntheticMultiInterest, known_edges
from hlr_graph.evaluation import Evaluator
from hlr_graph.evaluation import recommend as recommend_items
from hlr_graph.train import load_model

recommend = load_example('recommend')
lightgcn = load_example('hlr_on_lightgcn')
tune = load_example('tune')
train_hlr = load_example('train_hlr')


def test_recommend_prints_reasons(capsys):
    assert recommend.main(['--dataset', 'synthetic', '--epochs', '1',
                           '--user', 'u7', '-k', '5']) == 0
    out = capsys.readouterr().out
    assert 'top 5 for user u7' in out
    # Each item says how its attention spreads, and names history items
    # only when they stand out:
    assert out.count('because you liked') + out.count(
        'attention near uniform over') == 5
    assert out.count(' nats') >= 5
    assert 'relation types' in out


def test_recommend_from_a_finished_run(tmp_path, capsys):
    run = tmp_path / 'run'
    assert train_hlr.main(['--model', 'hlrpp', '--epochs', '1',
                           '--max-history', '5', '--output-dir', str(run),
                           '--no-progress']) == 0
    data = SyntheticMultiInterest()[0]
    model = load_model(str(run), data)
    results = json.loads((run / 'results.json').read_text())
    evaluator = Evaluator(data, 'test', num_cohorts=0)
    assert evaluator.evaluate(model)['metrics']['ndcg@10'] == \
        results['test']['ndcg@10']
    assert recommend.main(['--dataset', 'synthetic', '--run-dir',
                           str(run)]) == 0
    out = capsys.readouterr().out
    assert out.count('because you liked') + out.count(
        'attention near uniform over') == 10
    items, _ = recommend_items(model, torch.tensor([0]), 10,
                               known_edges(data, 'test'))
    assert items.shape == (1, 10)


def test_hlr_on_lightgcn_reports_both_models(capsys):
    lightgcn.main(['--dataset', 'synthetic', '--epochs', '1',
                   '--max-history', '5'])
    out = capsys.readouterr().out
    assert 'HLR ' in out and 'LightGCN + HLR' in out
    last = out.strip().splitlines()[-1].split()
    assert 0 < float(last[-1]) < 1  # ndcg@20 of LightGCN + HLR.


def test_tune_selects_on_validation_and_resumes(tmp_path):
    out = tmp_path / 'cml.json'
    args = ['--dataset', 'synthetic', '--model', 'cml', '--epochs', '2',
            '--output', str(out)]
    tune.main(args + ['--trials', '2'])
    first = json.loads(out.read_text())
    assert len(first['trials']) == 2
    assert first['trials'][0]['hyperparameters'] == dict(lr=7.5e-4,
                                                         margin=0.5)
    assert first['best']['valid']['ndcg@10'] == max(
        t['valid']['ndcg@10'] for t in first['trials'])
    assert all('test' not in t for t in first['trials'])
    tune.main(args + ['--trials', '3'])
    second = json.loads(out.read_text())
    assert len(second['trials']) == 3
    assert second['trials'][:2] == first['trials']  # Kept, not re-run.


@withCUDA
def test_tune_runs_trials_in_parallel_processes(tmp_path, device):
    args = ['--dataset', 'synthetic', '--model', 'cml', '--epochs', '2',
            '--trials', '3']
    tune.main(args + ['--output', str(tmp_path / 'one.json')])
    tune.main(args + ['--output', str(tmp_path / 'two.json'), '--jobs', '2',
                      '--device', str(device)])
    one, two = ({json.dumps(t['hyperparameters'], sort_keys=True):
                 t['valid']['ndcg@10'] for t in json.loads(
                     (tmp_path / f'{name}.json').read_text())['trials']}
                for name in ('one', 'two'))
    assert len(two) == 3 and one.keys() == two.keys()
    assert all(one[key] == pytest.approx(two[key], rel=1e-3) for key in one)


def test_tune_fixes_arguments_outside_the_grid(tmp_path, capsys):
    out = tmp_path / 'hlr.json'
    args = ['--dataset', 'synthetic', '--model', 'hlr', '--epochs', '1',
            '--trials', '1', '--output', str(out)]
    tune.main(args + ['--fix', 'clip_ram=true', 'history_sampling=unpop'])
    searched = json.loads(out.read_text())
    assert searched['fixed'] == dict(clip_ram=True, history_sampling='unpop')
    assert searched['best']['hyperparameters'] == dict(
        lr=7.5e-4, margin=0.75, num_memories=20, clip_ram=True,
        history_sampling='unpop')
    capsys.readouterr()
    for fix, error in [('clip_ram=false', "--fix clip_ram=false differs "
                        "from the search's clip_ram=true history_sampling="
                        'unpop'),
                       ('margin=1.0', "'margin' is searched"),
                       ('alpha=1', "takes no 'alpha'"),
                       ('clip_ram', 'expected NAME=VALUE')]:
        assert tune.main(args + ['--fix', fix]) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: ') and err.count('\n') == 1
        assert error in err


@pytest.mark.parametrize('model,flags,error', [
    ('cml', ['--grid', 'lr=1e-3,abc'], "--grid lr=1e-3,abc: lr: expected a "
     "number, got 'abc'"),
    ('cml', ['--grid', 'lr=-1'], 'lr: must be > 0, got -1'),
    ('cml', ['--fix', 'num_negatives=abc'], 'num_negatives: expected an '
     "integer, got 'abc'"),
    ('cml', ['--fix', 'num_negatives=0'], 'num_negatives: must be >= 1'),
    ('hlr', ['--fix', 'clip_ram=maybe'], "clip_ram: expected true or false, "
     "got 'maybe'"),
    # A typo in a value no trial would reach is still found:
    ('cml', ['--trials', '1', '--grid', 'loss=hinge,hingee'], "--grid "
     "loss=hinge,hingee: loss: expected one of hinge, warp, hardest, ccl, "
     "got 'hingee'"),
    ('cml', ['--fix', 'max_norm=abc'], "max_norm: expected a number"),
    ('als', ['--fix', 'iterations=2.5'], "iterations: expected an integer"),
    # A combination the model refuses stops the search before it starts:
    ('cml', ['--fix', 'negative_weight=2'], "--grid / --fix: the setting "),
    # So does one the trainer refuses:
    ('cml', ['--grid', 'num_negatives=4,1', '--fix', 'share_negatives=true'],
     "'num_negatives': 1, 'share_negatives': True}: share_negatives=True "
     'needs num_negatives of at least 2, not num_negatives=1'),
    # A rate that grows, and a setting of training for a closed-form model:
    ('cml', ['--grid', 'lr_decay=0.9,0'], 'lr_decay: must be > 0 and <= 1'),
    ('cml', ['--fix', 'lr_decay=1.5'], 'lr_decay: must be > 0 and <= 1'),
    # A name given twice would keep only its last values:
    ('cml', ['--grid', 'lr_decay=0.5', 'lr_decay=0.9'],
     "--grid lr_decay=0.9: 'lr_decay' is given twice; give its values once: "
     '--grid lr_decay=V1,V2'),
    ('cml', ['--fix', 'max_norm=0.5', 'max_norm=0.9'],
     "--fix max_norm=0.9: 'max_norm' is given twice"),
    ('als', ['--fix', 'lr_decay=0.9'], "takes no 'lr_decay'"),
    # A dimension of the grid is searched; one value of it goes to --grid:
    ('cml', ['--fix', 'lr=2e-3'], "--fix lr=2e-3: 'lr' is searched, not "
     'fixed (a dimension of the grid): give it one value with --grid '
     'lr=2e-3'),
])
def test_tune_refuses_a_bad_value_before_the_first_trial(tmp_path, capsys,
                                                        model, flags, error):
    out = tmp_path / 'search.json'
    assert tune.main(['--dataset', 'synthetic', '--model', model,
                      '--epochs', '1', '--trials', '2', *flags, '--output',
                      str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith('error: ') and captured.err.count(
        '\n') == 1 and error in captured.err, captured.err
    assert captured.out == '' and not out.exists()  # No trial ran.


def test_tune_continues_a_search_that_stored_whole_numbers(tmp_path,
                                                           capsys):
    out = tmp_path / 'als.json'
    args = ['--dataset', 'synthetic', '--model', 'als', '--trials', '2',
            '--grid', 'regularization=1,10', 'alpha=5', '--output', str(out)]
    assert tune.main(args) == 0
    # Searches before values were read by train's flags stored 1, not 1.0:
    searched = json.loads(out.read_text())
    for trial in searched['trials']:
        trial['hyperparameters'] = {k: int(v) for k, v in
                                    trial['hyperparameters'].items()}
    searched['grid_values'] = {k: [int(v) for v in values]
                               for k, values in searched['grid_values'].items()}
    out.write_text(json.dumps(searched))
    capsys.readouterr()
    assert tune.main(args) == 0
    assert 'valid ndcg@10' not in capsys.readouterr().out.split('best:')[0]
    assert len(json.loads(out.read_text())['trials']) == 2  # None again.


def test_tune_searches_given_values_and_training_settings(tmp_path, capsys):
    out = tmp_path / 'cml.json'
    args = ['--dataset', 'synthetic', '--model', 'cml', '--epochs', '1',
            '--trials', '8', '--grid', 'loss=hinge,hardest',
            'num_negatives=1,4', 'lr=1e-3', 'margin=0.5', '--fix',
            'max_norm=0.9',
            '--select-by', 'ndcg@10', '--output', str(out)]
    assert tune.main(args) == 0
    searched = json.loads(out.read_text())
    assert searched['grid'] == dict(lr=[1e-3], margin=[0.5],
                                    loss=['hinge', 'hardest'],
                                    num_negatives=[1, 4])
    assert searched['select_by'] == 'ndcg@10'
    assert searched['valid_users'] is None
    tried = [t['hyperparameters'] for t in searched['trials']]
    assert tried[0] == dict(lr=1e-3, margin=0.5, loss='hinge',
                            num_negatives=1, max_norm=0.9)
    assert sorted((t['loss'], t['num_negatives']) for t in tried) == [
        ('hardest', 1), ('hardest', 4), ('hinge', 1), ('hinge', 4)]
    capsys.readouterr()
    assert tune.main(args[:-4] + ['--output', str(out)]) == 2
    assert '--select-by loss differs' in capsys.readouterr().err
    assert tune.main(args + ['--valid-users', '30']) == 2
    assert '--valid-users 30 differs' in capsys.readouterr().err
    sampled = tmp_path / 'sampled.json'
    assert tune.main(args[:-1] + [str(sampled), '--trials', '1',
                                  '--valid-users', '30']) == 0
    sampled = json.loads(sampled.read_text())
    assert sampled['valid_users'] == 30
    assert sampled['trials'][0]['num_valid_users'] == 30
    assert searched['trials'][0]['num_valid_users'] > 30  # All of them.
    for grid, error in [('num_negatives', 'expected NAME=VALUE'),
                        ('alpha=1,2', "takes no 'alpha'"),
                        ('num_users=1,2', "takes no 'num_users'"),
                        ('self=1,2', "takes no 'self'")]:
        assert tune.main(['--dataset', 'synthetic', '--model', 'cml',
                          '--grid', grid, '--output', str(out)]) == 2
        assert error in capsys.readouterr().err
    for model, fix in [('bpr', 'num_negatives=2'), ('lightgcn', 'edge_index=1'),
                       ('transcf', 'kwargs=1')]:
        assert tune.main(['--dataset', 'synthetic', '--model', model,
                          '--fix', fix, '--output', str(out)]) == 2
        assert f"takes no '{fix.split('=')[0]}'" in capsys.readouterr().err


table2 = load_example('reproduce_table2')


def test_table2_runs_cells_once_and_lays_out_the_table(tmp_path, capsys):
    args = ['--datasets', 'synthetic', '--models', 'popular', 'cml',
            '--seeds', '0', '1', '--epochs', '2', '--output-dir',
            str(tmp_path)]
    table2.main(args)
    cell = tmp_path / 'synthetic' / 'cml' / 'seed1' / 'results.json'
    stamp = cell.stat().st_mtime_ns
    table2.main(args)  # Finished cells are not run again.
    assert cell.stat().st_mtime_ns == stamp
    text = (tmp_path / 'table2.md').read_text()
    assert '| metric | Popular | CML |' in text
    for row in ('MAP@10', 'MRR@10', 'NDCG@10', 'Precision@10', 'Recall@10',
                'Popularity@10', 'NDCG@20'):
        assert f'| {row} |' in text
    numbers = json.loads((tmp_path / 'table2.json').read_text())
    recalls = numbers['cells']['synthetic']['cml']['recall@10']
    assert len(recalls) == 2
    seed0 = json.loads((tmp_path / 'synthetic' / 'cml' / 'seed0' /
                        'results.json').read_text())
    assert recalls[0] == seed0['test']['recall@10']

    # Cells selected by the validation loss are not mixed with others.
    capsys.readouterr()
    assert table2.main(args + ['--select-by', 'ndcg@10']) == 2
    assert "--select-by ndcg@10 differs from the cell's loss" in \
        capsys.readouterr().err


def test_table2_cells_show_spread_only_over_several_seeds():
    cells = {'d': {'cml': {'recall@10': [0.1, 0.3], 'train_seconds': [1, 1]},
                   'hlr': {'recall@10': [0.25], 'train_seconds': [2]}}}
    text = table2.markdown(cells, [10], 'standard')
    assert '| Recall@10 | 20.00 +- 10.00 (2) | 25.00 (1) |' in text
    assert '| NDCG@10 | - | - |' in text


def test_tune_searches_the_decay_of_the_learning_rate(tmp_path):
    out = tmp_path / 'cml.json'
    assert tune.main(['--dataset', 'synthetic', '--model', 'cml', '--epochs',
                      '2', '--trials', '2', '--grid', 'lr_decay=1,0.5',
                      'lr=1e-2', 'margin=0.5', '--output', str(out)]) == 0
    searched = json.loads(out.read_text())
    tried = {t['hyperparameters']['lr_decay']: t for t in searched['trials']}
    assert sorted(tried) == [0.5, 1.0]
    assert tried[0.5]['valid'] != tried[1.0]['valid']  # Trained otherwise.
