import csv
import importlib.util
import json
import os.path as osp
import sys

import pytest
from conftest import REPO
from torch_geometric.testing import withCUDA

EXAMPLES = osp.join(REPO, 'examples')


def load_example(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(EXAMPLES, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    # Picklable by name, and importable by spawned worker processes:
    sys.modules[name] = module
    if EXAMPLES not in sys.path:
        sys.path.append(EXAMPLES)
    spec.loader.exec_module(module)
    return module


train_hlr = load_example('train_hlr')

REQUIRED = ('dataset', 'model', 'split', 'seed', 'hyperparameters',
            'best_epoch', 'train_seconds', 'eval_seconds', 'num_test_users',
            'test')


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@withCUDA
def test_main_job_on_the_embedded_default(tmp_path, capsys, device):
    out = tmp_path / 'run'
    assert train_hlr.main(['--epochs', '3', '--output-dir', str(out),
                           '--device', str(device),
                           '--save-recommendations', '--no-progress']) == 0
    printed = capsys.readouterr().out
    assert 'cml on synthetic' in printed and 'recall' in printed
    results = json.loads((out / 'results.json').read_text())
    assert all(key in results for key in REQUIRED)
    assert results['dataset'] == 'synthetic' and results['model'] == 'cml'
    assert results['hyperparameters']['lr'] == 7.5e-4
    # The graph's options are recorded, in results.json and in run.json:
    assert results['data_options']['name'] == 'synthetic'
    assert results['data_options']['seed'] == 2021
    record = json.loads((out / 'run.json').read_text())
    assert record['data'] == results['data_options']
    assert record['model'] == 'cml' and record['train']['epochs'] == 3
    assert record['train']['lr'] == 7.5e-4
    assert (out / 'model.pt').is_file() and (out / 'checkpoint.pt').is_file()
    for k in (10, 20):
        for name in ('precision', 'recall', 'ndcg', 'map', 'mrr', 'hit',
                     'coverage'):
            assert 0 <= results['test'][f'{name}@{k}'] <= 1
        assert results['test'][f'popularity@{k}'] >= 1

    # Anyone can re-check recall@10 from the CSV files alone:
    recs = read_csv(out / 'recommendations.csv')
    test = read_csv(out / 'test.csv')
    known = {(r['user'], r['item']) for name in ('train.csv', 'valid.csv')
             for r in read_csv(out / name)}
    relevant = {}
    for row in test:
        relevant.setdefault(row['user'], set()).add(row['item'])
    top = {}
    for row in recs:
        assert (row['user'], row['item']) not in known
        if int(row['rank']) <= 10:
            top.setdefault(row['user'], set()).add(row['item'])
    recall = sum(len(top[u] & items) / len(items)
                 for u, items in relevant.items()) / len(relevant)
    assert results['test']['recall@10'] == pytest.approx(recall, rel=1e-5)
    assert results['num_test_users'] == len(relevant)


def test_popular_floor_runs_through_the_same_evaluator(tmp_path):
    assert train_hlr.main(['--model', 'popular', '--output-dir',
                           str(tmp_path), '--no-progress']) == 0
    results = json.loads((tmp_path / 'results.json').read_text())
    assert results['best_epoch'] == 0 and results['test']['recall@10'] > 0


def test_main_job_reports_bad_input(tmp_path, capsys):
    bad = tmp_path / 'bad.csv'
    bad.write_text('user,item,rating\nu1,i1,5\nu2,i2,five\n')
    assert train_hlr.main(['--dataset', str(bad), '--output-dir',
                           str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    assert "bad.csv:3: rating 'five' is not a number" in err
    lines = err.splitlines()  # After the data set's own log lines:
    assert lines[-1].startswith('error: ') and 'Traceback' not in err
    assert not (tmp_path / 'out').exists()  # Nothing left behind.


def test_main_job_on_movielens_with_cohorts(tmp_path, data_root):
    assert train_hlr.main([
        '--dataset', 'ml-100k', '--root', data_root, '--epochs', '2',
        '--output-dir', str(tmp_path), '--no-progress', '--metric-mode',
        'reference'
    ]) == 0
    results = json.loads((tmp_path / 'results.json').read_text())
    assert results['data']['interactions'] == 52_764
    assert results['metric_mode'] == 'reference'
    assert results['cohort_size'] == results['num_test_users'] // 5
    assert set(results['test_cohorts']) == set(results['test'])


def test_results_record_every_model_setting(tmp_path):
    assert train_hlr.main(['--model', 'hlr', '--epochs', '1', '--output-dir',
                           str(tmp_path), '--no-progress']) == 0
    settings = json.loads(
        (tmp_path / 'results.json').read_text())['hyperparameters']
    # Constructor defaults are recorded too, not only the overridden ones:
    assert settings['user_slot'] is True and settings['embedding_dim'] == 100
    assert settings['max_norm'] == 1.0 and settings['num_memories'] == 20
