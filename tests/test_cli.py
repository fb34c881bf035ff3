r"""The ``hlr-graph`` command: one error line per mistake, runs read under
their own data options, resume, --quiet, the files listed, plots and
explanations."""
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import REPO

from hlr_graph import cli
from hlr_graph.cli.recommend import reasons, relation_types
from hlr_graph.data import SyntheticMultiInterest, known_edges, split_edges
from hlr_graph.models import Explanation
from hlr_graph.train import experiment

# The finished run every reading test shares: CML on the synthetic data set
# split with seed 7 (not the default 2021), validation metrics every epoch.
RUN_ARGS = ['train', '--split-seed', '7', '--epochs', '3', '--eval-every',
            '1', '--no-progress']


def one_error(capsys, code, *needles):
    r"""The command failed as a mistake should: exit code 2, exactly one line
    on stderr, ``error: ...``, no traceback, naming :obj:`needles`."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert 'Traceback' not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('runs') / 'cml7'
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # Bit-identical to the resumed run below.
    try:
        assert cli.main(RUN_ARGS + ['--output-dir', str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def results_of(folder):
    return json.loads((folder / 'results.json').read_text())


# One error line for every mistake ############################################

BAD_TRAIN_FLAGS = [
    ('--epochs', '0'), ('--epochs', '-3'), ('--batch-size', '0'),
    ('--lr', '0'), ('--lr', '-0.1'), ('--lr', 'nan'), ('--lr', 'inf'),
    ('--lr-decay', '0'), ('--lr-decay', '-0.5'), ('--lr-decay', 'nan'),
    ('--lr-decay', 'inf'), ('--lr-decay', '1.5'),
    ('--margin', '0'), ('--dim', '0'), ('--num-memories', '0'),
    ('--max-history', '-2'), ('--patience', '0'), ('--eval-every', '-1'),
    ('--eval-users', '0'), ('--ks', '0'), ('--cohorts', '-1'),
    ('--cohort-size', '0'), ('--threshold', '-1'), ('--k-core', '-1'),
    ('--num-workers', '-1'), ('--key-temperature', '0'),
    ('--weight-decay', '-0.001'), ('--num-layers', '-1'),
    ('--regularization', '-1'), ('--confidence', '-1'), ('--seed', '-1'),
    ('--split-seed', '-1'), ('--epochs', 'ten'),
    # Past what torch.manual_seed takes (it failed once the data loaded):
    ('--seed', str(2**63)), ('--split-seed', str(2**63)),
]


@pytest.mark.parametrize('flag,value', BAD_TRAIN_FLAGS)
def test_train_refuses_a_number_out_of_range(tmp_path, capsys, flag, value):
    out = tmp_path / 'out'
    code = cli.main(['train', flag, value, '--output-dir', str(out)])
    line = one_error(capsys, code, flag, value,
                     '(see hlr-graph train --help)')
    if value in ('nan', 'inf'):
        assert f'must be a finite number, got {value}' in line
    assert not out.exists()


def test_a_flag_no_command_knows_points_to_its_commands_help(capsys):
    one_error(capsys, cli.main(['train', '--negatives', '4']),
              'unrecognized arguments: --negatives 4 (see hlr-graph train '
              '--help)')


@pytest.mark.parametrize('argv,flag', [
    (['recommend', '-k', '0'], '-k'),
    (['recommend', '--reasons', '0'], '--reasons'),
    (['recommend', '--epochs', '0'], '--epochs'),
    (['tune', '--dataset', 'synthetic', '--model', 'cml', '--output',
      'x.json', '--trials', '0'], '--trials'),
    (['tune', '--dataset', 'synthetic', '--model', 'cml', '--output',
      'x.json', '--jobs', '0'], '--jobs'),
    (['tune', '--dataset', 'synthetic', '--model', 'cml', '--output',
      'x.json', '--time-budget', '0'], '--time-budget'),
    (['tune', '--dataset', 'synthetic', '--model', 'cml', '--output',
      'x.json', '--seed', str(2**63)], '--seed'),
    (['stats', '--dataset', 'synthetic', '--k-core', '-1'], '--k-core'),
    (['evaluate', 'RUN', '--ks', '10', '-5'], '--ks'),
    (['evaluate', 'RUN', '--eval-users', '0'], '--eval-users'),
])
def test_other_commands_refuse_numbers_out_of_range(tmp_path, capsys,
                                                    monkeypatch, argv, flag):
    monkeypatch.chdir(tmp_path)
    one_error(capsys, cli.main(argv), flag)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='needs procfs')
def test_train_refuses_folders_it_cannot_make(tmp_path, capsys):
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    out = ['--output-dir', str(tmp_path / 'out')]
    for argv, needle in [
            (['--output-dir', '/proc/nope/run'], 'cannot make folders in'),
            ([*out, '--cache-dir', str(a_file / 'cache')], 'not a folder')]:
        one_error(capsys, cli.main(['train', *argv]), argv[-2], argv[-1],
                  needle)
    assert sorted(os.listdir(tmp_path)) == ['a_file']


def test_the_example_script_refuses_zero_epochs(capsys):
    from test_main_job import train_hlr
    one_error(capsys, train_hlr.main(['--epochs', '0']), '--epochs',
              '(see train_hlr.py --help)')


def test_a_device_it_does_not_have_is_refused_before_the_data_loads(
        tmp_path, capsys):
    # If the data set were loaded first, the error would be the missing
    # ml-100k files under this empty root.
    missing = (f'cuda:{torch.cuda.device_count()}'
               if torch.cuda.is_available() else 'cuda')
    data = ['--dataset', 'ml-100k', '--root', str(tmp_path / 'empty')]
    for device, needle in [(missing, 'CUDA'), ('banana', 'not a device')]:
        code = cli.main(['train', *data, '--device', device, '--output-dir',
                         str(tmp_path / 'out')])
        one_error(capsys, code, '--device', needle)
    code = cli.main(['tune', *data, '--model', 'cml', '--device', 'gpu',
                     '--output', str(tmp_path / 't.json')])
    one_error(capsys, code, '--device')
    assert os.listdir(tmp_path) == []


def test_an_output_dir_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / 'taken'
    path.write_text('not a folder')
    one_error(capsys, cli.main(['train', '--output-dir', str(path)]),
              '--output-dir', 'is a file')
    one_error(capsys, cli.main(['train', '--output-dir',
                                str(path / 'run')]), '--output-dir')
    assert path.read_text() == 'not a folder'


def test_a_missing_interaction_file_is_named(tmp_path, capsys):
    missing = tmp_path / 'ratings.csv'
    out = tmp_path / 'new' / 'run'
    code = cli.main(['train', '--dataset', str(missing), '--output-dir',
                     str(out)])
    one_error(capsys, code, '--dataset', str(missing), 'no such file')
    assert not (tmp_path / 'new').exists()


def test_a_run_failing_before_its_first_epoch_leaves_no_folder(tmp_path,
                                                               capsys):
    # The trainer refuses the patience only once the data set is loaded
    # and the run folder made: the folder must go again.
    out = tmp_path / 'runs' / 'x'
    code = cli.main(['train', '--select-by', 'ndcg@10', '--eval-every', '3',
                     '--patience', '1', '--epochs', '2', '--output-dir',
                     str(out), '--quiet'])
    one_error(capsys, code, 'patience')
    assert not (tmp_path / 'runs').exists()


def nan_from_epoch_2(monkeypatch):
    r"""Makes CML's loss NaN from epoch 2 on (with one training and one
    validation batch an epoch: ``--batch-size 100000``)."""
    from hlr_graph.models.cml import CML
    loss, calls = CML.loss, []

    def patched(self, batch):
        calls.append(1)
        value = loss(self, batch)
        return value * float('nan') if len(calls) > 2 else value

    monkeypatch.setattr(CML, 'loss', patched)


def test_a_non_finite_loss_names_the_epoch_and_keeps_the_checkpoint(
        tmp_path, capsys, monkeypatch):
    nan_from_epoch_2(monkeypatch)
    out = tmp_path / 'run'
    code = cli.main(['train', '--epochs', '3', '--batch-size', '100000',
                     '--output-dir', str(out), '--no-progress'])
    line = one_error(capsys, code, 'epoch 2',
                     'the last good checkpoint (epoch 1) is kept in',
                     str(out / 'checkpoint.pt'))
    assert 'nan' in line
    assert (out / 'checkpoint.pt').is_file() and (out / 'run.json').is_file()
    assert not (out / 'results.json').exists()


# Runs read under their own data options ######################################

def test_run_json_records_the_experiment(run_dir):
    record = json.loads((run_dir / 'run.json').read_text())
    assert record['dataset'] == 'synthetic' and record['model'] == 'cml'
    assert record['data_options'] == {'seed': 7}  # As requested...
    assert record['data']['seed'] == 7  # ...and as settled:
    assert record['data']['split'] == 'reference'
    assert record['model_arguments']['margin'] == 0.5
    assert record['train']['epochs'] == 3 and record['train']['lr'] == 7.5e-4
    assert record['ks'] == [10, 20]
    assert results_of(run_dir)['data_options'] == record['data']


def test_evaluate_measures_the_run_again_on_its_own_split(run_dir, capsys):
    results = results_of(run_dir)
    out = run_dir.parent / 'again.json'
    assert cli.main(['evaluate', str(run_dir), '--output', str(out),
                     '--no-progress']) == 0
    printed = capsys.readouterr().out
    again = json.loads(out.read_text())
    assert again['metrics'] == results['test']  # Same split, same numbers.
    assert again['cohorts'] == results['test_cohorts']
    assert 'cml on synthetic (reference split, split seed 7, seed 0)' in printed
    assert f'wrote:\n  {out}' in printed

    assert cli.main(['evaluate', str(run_dir), '--on', 'val', '--ks', '10',
                     '--output', str(out), '--quiet']) == 0
    valid = json.loads(out.read_text())['metrics']
    assert valid == {k: v for k, v in results['valid'].items()
                     if k.endswith('@10')}


def test_recommend_reads_the_run_under_its_own_split(run_dir, capsys):
    seed7 = SyntheticMultiInterest(seed=7)[0]
    seed2021 = SyntheticMultiInterest()[0]
    known7, known2021 = (known_edges(d, 'test')[0] for d in (seed7,
                                                              seed2021))
    users = seed7['user'].raw_id
    user = next(u for u in range(len(users))
                if (known7 == u).sum() != (known2021 == u).sum())
    assert cli.main(['recommend', '--run-dir', str(run_dir), '--user',
                     users[user], '-k', '3']) == 0
    out = capsys.readouterr().out
    count = int((known7 == user).sum())
    assert f'top 3 for user {users[user]} ({count} known interactions)' in out


@pytest.mark.parametrize('command', ['recommend', 'evaluate', 'resume'])
def test_a_data_flag_that_disagrees_with_the_run_is_refused(run_dir, capsys,
                                                            command):
    argv = {'recommend': ['recommend', '--run-dir', str(run_dir)],
            'evaluate': ['evaluate', str(run_dir)],
            'resume': ['train', '--resume', '--output-dir',
                       str(run_dir)]}[command]
    one_error(capsys, cli.main(argv + ['--split-seed', '3']),
              '--split-seed 3', "the run's 7", str(run_dir / 'run.json'))
    # A run from another data set:
    one_error(capsys, cli.main(argv + ['--dataset', 'ml-100k']),
              '--dataset ml-100k', "the run's synthetic")


def test_data_flags_that_agree_with_the_run_are_taken(run_dir, capsys):
    # The run's own seed, and the split it took by default, given
    # explicitly; --cache-dir says where files are, not what the graph is.
    assert cli.main(['evaluate', str(run_dir), '--split-seed', '7',
                     '--split', 'reference', '--dataset', 'synthetic',
                     '--cache-dir', str(run_dir.parent / 'cache'),
                     '--quiet']) == 0
    assert 'seed 7' in capsys.readouterr().out


def test_recommend_mistakes_are_one_line(run_dir, tmp_path, capsys):
    one_error(capsys, cli.main(['recommend', '--run-dir',
                                str(tmp_path / 'nope')]),
              '--run-dir', 'no such folder')
    one_error(capsys, cli.main(['recommend', '--run-dir', str(tmp_path)]),
              '--run-dir', 'no run.json')
    one_error(capsys, cli.main(['recommend', '--run-dir', str(run_dir),
                                '--user', 'nobody']),
              "--user nobody", 'no such user')
    one_error(capsys, cli.main(['recommend', '--run-dir', str(run_dir),
                                '--model', 'hlr']),
              '--model hlr', "the run's cml")
    stopped = tmp_path / 'stopped'
    stopped.mkdir()
    shutil.copy(run_dir / 'run.json', stopped)
    one_error(capsys, cli.main(['recommend', '--run-dir', str(stopped)]),
              'has not finished', '--resume')
    one_error(capsys, cli.main(['evaluate', str(stopped)]),
              'has not finished', 'no results.json and no model.pt')
    # A finished run whose weights were removed: the line names them.
    shutil.copy(run_dir / 'results.json', stopped)
    one_error(capsys, cli.main(['evaluate', str(stopped)]),
              'has not finished (no model.pt)')


def test_recommend_finds_the_data_of_the_run_without_root(
        tmp_path, capsys, monkeypatch, data_root):
    # The README's example: a run trained with --root, then recommend
    # without --root, from another folder, without $HLR_GRAPH_DATA.
    run = tmp_path / 'ml-100k_popular'
    assert cli.main(['train', '--dataset', 'ml-100k', '--root', data_root,
                     '--model', 'popular', '--output-dir', str(run),
                     '--quiet']) == 0
    monkeypatch.delenv('HLR_GRAPH_DATA', raising=False)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert cli.main(['recommend', '--run-dir', str(run), '--user',
                     '196']) == 0
    out = capsys.readouterr().out
    assert out.startswith('top 10 for user 196')
    assert '1. ' in out and '10. ' in out


# Resume ######################################################################

def test_resume_ends_as_the_uninterrupted_run(run_dir, tmp_path, capsys,
                                              monkeypatch):
    out = tmp_path / 'run'
    data = SyntheticMultiInterest(seed=7)[0]
    per_epoch = math.ceil(split_edges(data, 'train').size(1) / 1000)
    step, steps = torch.optim.Adam.step, []

    def killed_in_epoch_2(self, *args, **kwargs):
        steps.append(1)
        if len(steps) > per_epoch + per_epoch // 2:
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        monkeypatch.setattr(torch.optim.Adam, 'step', killed_in_epoch_2)
        code = cli.main(RUN_ARGS + ['--output-dir', str(out)])
        err = capsys.readouterr().err.splitlines()
        assert code == 130 and err[-1].startswith('error: interrupted')
        assert f'--resume --output-dir {out}' in err[-1]
        assert not (out / 'results.json').exists()
        monkeypatch.setattr(torch.optim.Adam, 'step', step)

        # Flags that differ from the run are refused, naming both values:
        code = cli.main(['train', '--resume', '--output-dir', str(out),
                         '--epochs', '5'])
        one_error(capsys, code, '--epochs 5', "the run's 3")
        code = cli.main(['train', '--resume', '--output-dir', str(out),
                         '--model', 'hlr'])
        one_error(capsys, code, '--model hlr', "the run's cml")
        # Starting afresh over it is refused too:
        code = cli.main(RUN_ARGS + ['--output-dir', str(out)])
        one_error(capsys, code, 'stopped run', '--resume')

        assert cli.main(['train', '--resume', '--output-dir', str(out),
                         '--no-progress', '--epochs', '3']) == 0
        # The files the resumed run wrote; run.json is the stopped run's.
        listed = capsys.readouterr().out.split('wrote:\n')[1].split()
        assert str(out / 'results.json') in listed
        assert str(out / 'run.json') not in listed
    finally:
        torch.set_num_threads(threads)
    resumed, whole = results_of(out), results_of(run_dir)
    assert resumed['test'] == whole['test']
    assert resumed['best_epoch'] == whole['best_epoch']
    assert [{k: v for k, v in e.items() if k != 'seconds'}
            for e in resumed['epochs']] == [
                {k: v for k, v in e.items() if k != 'seconds'}
                for e in whole['epochs']]


def test_resume_needs_a_run_it_can_continue(run_dir, tmp_path, capsys):
    one_error(capsys, cli.main(['train', '--resume', '--output-dir',
                                str(tmp_path / 'none')]),
              '--resume', 'nothing to resume')
    one_error(capsys, cli.main(['train', '--resume', '--output-dir',
                                str(tmp_path)]), '--resume', 'no run.json')
    # A run from a machine with more GPUs than this one:
    moved = tmp_path / 'moved'
    moved.mkdir()
    record = json.loads((run_dir / 'run.json').read_text())
    record['train']['device'] = 'cuda:7'
    (moved / 'run.json').write_text(json.dumps(record))
    one_error(capsys, cli.main(['train', '--resume', '--output-dir',
                                str(moved)]),
              'the run ran on cuda:7', 'give --device')
    one_error(capsys, cli.main(['train', '--resume', '--output-dir',
                                str(moved), '--num-workers', '2']),
              '--num-workers 2', "the run's 0")


def test_valid_users_samples_the_validation_not_the_test(tmp_path, capsys):
    out = tmp_path / 'sampled'
    args = ['train', '--epochs', '2', '--select-by', 'ndcg@10', '--quiet',
            '--eval-users', '40', '--output-dir', str(out)]
    assert cli.main(args + ['--valid-users', '25']) == 0
    results = results_of(out)
    assert results['num_valid_users'] == 25
    assert results['num_test_users'] == 40
    assert {k: results['hyperparameters'][k] for k in (
        'valid_users', 'eval_users')} == {'valid_users': 25, 'eval_users': 40}
    # The same 25 users as `evaluate` samples from the validation split:
    again = tmp_path / 'again.json'
    for sample in ([], ['--eval-users', '25']):  # The run's, or given.
        assert cli.main(['evaluate', str(out), '--on', 'val', *sample,
                         '--output', str(again), '--quiet']) == 0
        assert json.loads(again.read_text())['metrics'] == results['valid']
    assert cli.main(['evaluate', str(out), '--output', str(again),
                     '--quiet']) == 0
    assert json.loads(again.read_text())['num_users'] == 40
    capsys.readouterr()
    one_error(capsys, cli.main(args + ['--valid-users', '30', '--resume']),
              '--valid-users 30', "the run's 25")
    # Without --valid-users the validation takes the test's sample size.
    assert cli.main(args[:-1] + [str(tmp_path / 'same')]) == 0
    assert results_of(tmp_path / 'same')['num_valid_users'] == 40


def test_resume_refuses_a_flag_the_model_does_not_take(tmp_path, capsys):
    out = str(tmp_path / 'popular')
    assert cli.main(['train', '--model', 'popular', '--quiet',
                     '--output-dir', out]) == 0
    capsys.readouterr()
    # No training setting is recorded for a model fitted in closed form:
    recorded = results_of(tmp_path / 'popular')['hyperparameters']
    assert recorded == {'valid_users': None, 'eval_users': None}
    for flag in (['--lr', '0.001'], ['--num-negatives', '1']):
        one_error(capsys, cli.main(['train', '--resume', '--output-dir', out,
                                    *flag]),
                  flag[0], "model 'popular' has no such setting")


@pytest.fixture
def no_data(monkeypatch):
    r"""Loading a data set fails the test: what it guards is refused
    before any data loads."""
    def load(*args, **kwargs):
        raise AssertionError('the data set was loaded')
    monkeypatch.setattr(experiment, 'load_dataset', load)


@pytest.mark.parametrize('flags,needles', [
    # The flags or the preset, each named as such:
    (['--share-negatives'], ['--share-negatives needs --num-negatives of '
                             'at least 2, not --num-negatives 1 (the '
                             'default)']),
    (['--dataset', 'yelp', '--preset', 'best', '--num-negatives', '1',
      '--share-negatives'], ['not --num-negatives 1:']),
    (['--num-negatives', '8', '--num-workers', '2'],
     ['--num-workers 2: --num-negatives 8 draws its negatives on the '
      "model's device", 'leave --num-workers out, or give --num-negatives 1']),
    (['--dataset', 'yelp', '--preset', 'best', '--num-workers', '2'],
     # As README quotes it:
     ["--num-workers 2: --num-negatives 4096 (--preset best's) shared by "
      "the batch draws its negatives on the model's device, not in loader "
      'processes: leave --num-workers out, or give --num-negatives 1']),
    (['--negative-weight', '4'], ['--negative-weight 4 weighs the '
                                  'negatives of --loss ccl only, not --loss '
                                  'hinge (the default)']),
    (['--dataset', 'yelp', '--preset', 'best', '--loss', 'hinge',
      '--negative-weight', '4'], ['not --loss hinge']),
    # Even the weight a loss without one would take, given, is refused:
    (['--loss', 'hinge', '--negative-weight', '1'], ['--negative-weight 1 ']),
    # A switch given off is named as typed:
    (['--model', 'lightgcn', '--no-share-negatives'],
     ["--no-share-negatives: model 'lightgcn' has no such setting"]),
])
def test_settings_that_do_not_go_together_name_their_flags(
        tmp_path, capsys, no_data, flags, needles):
    out = tmp_path / 'run'
    one_error(capsys, cli.main(['train', '--model', 'cml', *flags,
                                '--output-dir', str(out)]), *needles)
    assert not out.exists()


@pytest.mark.parametrize('flags,note', [
    (['--num-negatives', '1024'], '--num-negatives 1024: 1,024 negatives '
     'drawn per triplet, where --preset best shares 4,096 by the batch '
     '(give --share-negatives to share them)'),
    (['--loss', 'hardest'], '--loss hardest: 32 negatives drawn per '
     'triplet, where --preset best shares 4,096 by the batch (give '
     '--share-negatives to share them)'),
    (['--no-share-negatives'], '--no-share-negatives: 32 negatives drawn '
     'per triplet, where --preset best shares 4,096 by the batch'),
    # No advice that would be refused:
    (['--num-negatives', '1'], '--num-negatives 1: 1 negative drawn per '
     'triplet, where --preset best shares 4,096 by the batch'),
    (['--num-negatives', '1024', '--share-negatives'], None),
])
def test_a_flag_that_gives_up_the_presets_sharing_is_noted(
        tmp_path, capsys, no_data, flags, note):
    with pytest.raises(AssertionError, match='the data set was loaded'):
        cli.main(['train', '--dataset', 'yelp', '--model', 'cml', '--preset',
                  'best', *flags, '--output-dir', str(tmp_path / 'run')])
    notes = capsys.readouterr().err.splitlines()
    assert notes == ([f'note: {note}'] if note else [])


# What people see #############################################################

def test_a_run_lists_every_file_it_wrote(run_dir, tmp_path, capsys):
    out = tmp_path / 'run'
    assert cli.main(['train', '--model', 'popular', '--save-recommendations',
                     '--output-dir', str(out)]) == 0
    printed = capsys.readouterr().out
    listed = printed.split('wrote:\n')[1].split()
    assert sorted(listed) == sorted(str(p) for p in out.iterdir())
    assert {p.name for p in out.iterdir()} >= {
        'run.json', 'model.pt', 'results.json', 'recommendations.csv',
        'train.csv', 'valid.csv', 'test.csv'}


def test_quiet_prints_only_the_results_table(tmp_path, capsys):
    assert cli.main(['train', '--model', 'popular', '--quiet', '--seed', '3',
                     '--output-dir', str(tmp_path / 'run')]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert captured.err == ''
    # Both seeds, each named (not "seed 3" for the split's):
    assert lines[0].startswith('popular on synthetic (reference split, '
                               'split seed 2021, seed 3), preset paper: '
                               'best epoch 0')
    assert lines[1].split() == ['metric', '@10', '@20']
    assert [line.split()[0] for line in lines[2:]] == [
        'precision', 'recall', 'ndcg', 'map', 'mrr', 'hit', 'coverage',
        'popularity']


def test_plot_writes_pngs_of_runs(run_dir, tmp_path, capsys):
    popular = tmp_path / 'popular'
    assert cli.main(['train', '--model', 'popular', '--output-dir',
                     str(popular), '--quiet']) == 0
    plots = tmp_path / 'plots'
    assert cli.main(['plot', str(run_dir), str(popular), '--output',
                     str(plots)]) == 0
    names = {'loss.png', 'valid_metrics.png', 'test_metrics.png'}
    assert {p.name for p in plots.iterdir()} == names
    for name in names:
        assert (plots / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    listed = capsys.readouterr().out.split('wrote:\n')[1].split()
    assert sorted(listed) == sorted(str(plots / n) for n in names)
    one_error(capsys, cli.main(['plot', str(tmp_path / 'nope')]),
              'RUN_DIR', 'no such folder')


def test_train_plot_writes_into_the_run(tmp_path, capsys):
    out = tmp_path / 'run'
    assert cli.main(['train', '--epochs', '1', '--plot', '--output-dir',
                     str(out), '--no-progress']) == 0
    assert (out / 'loss.png').is_file() and (out / 'test_metrics.png'
                                             ).is_file()
    assert str(out / 'loss.png') in capsys.readouterr().out
    # A new run in the same folder leaves no plot of the old one behind:
    assert cli.main(['train', '--model', 'popular', '--output-dir',
                     str(out), '--quiet', '--overwrite']) == 0
    assert not list(out.glob('*.png'))
    assert results_of(out)['model'] == 'popular'
    assert not (out / '.replaced').exists()


def test_plot_without_matplotlib_says_what_to_install(run_dir, tmp_path,
                                                      capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, 'matplotlib', None)  # Import fails.
    one_error(capsys, cli.main(['plot', str(run_dir)]),
              'pip install "hlr_graph[plot]"')
    out = tmp_path / 'run'
    one_error(capsys, cli.main(['train', '--plot', '--output-dir',
                                str(out)]), 'hlr_graph[plot]')
    assert not out.exists()  # Refused before training.


def _explanation(attention, memory, slot=None):
    attention = torch.tensor([[attention]])
    return Explanation(history=torch.arange(attention.size(-1))[None],
                       attention=attention, slot_attention=slot,
                       memory=torch.tensor([[memory]]))


def test_explanations_say_when_attention_is_near_uniform():
    names = ['Alien', 'Brazil', 'Casablanca', 'Dune']
    flat = _explanation([0.25] * 4, [0.05] * 20)
    entropy, max_entropy = (float(t[0, 0]) for t in flat.entropy())
    line = reasons(flat, 0, names, 2, entropy, max_entropy)
    assert line.startswith('attention near uniform over 4 items (entropy '
                           '1.39 of log 4 = 1.39 nats): no single item '
                           'explains this')
    assert 'because you liked' not in line
    assert 'memory near uniform over 20 relation types' in line

    peaked = _explanation([0.85, 0.05, 0.05, 0.05], [0.7] + [0.3 / 19] * 19)
    entropy, max_entropy = (float(t[0, 0]) for t in peaked.entropy())
    line = reasons(peaked, 0, names, 2, entropy, max_entropy)
    assert line.startswith('because you liked Alien (0.85), Brazil (0.05) '
                           '(attention entropy 0.59 of log 4 = 1.39 nats)')
    assert 'relation types #0 (0.70)' in line
    assert relation_types(torch.ones(20)).startswith('memory near uniform')


# The entry point #############################################################

def test_every_sub_command_runs_through_cli_main(run_dir, tmp_path, capsys):
    assert cli.main(['stats', '--dataset', 'synthetic']) == 0
    assert 'synthetic' in capsys.readouterr().out
    tuned = tmp_path / 'tune' / 'cml.json'
    assert cli.main(['tune', '--dataset', 'synthetic', '--model', 'cml',
                     '--trials', '1', '--epochs', '1', '--output',
                     str(tuned)]) == 0
    assert len(json.loads(tuned.read_text())['trials']) == 1
    assert cli.main(['evaluate', str(run_dir), '--quiet']) == 0
    assert cli.main(['recommend', '--run-dir', str(run_dir), '-k', '2']) == 0
    assert cli.main(['plot', str(run_dir), '--output', str(tmp_path)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):  # argparse's --help exits 0.
        cli.build_parser().parse_args(['train', '--help'])
    assert cli.main(['train', '--help']) == 0
    assert '--resume' in capsys.readouterr().out
    one_error(capsys, cli.main(['fly']), "invalid choice: 'fly'")
    one_error(capsys, cli.main([]), 'COMMAND')


def test_python_dash_m_hlr_graph(tmp_path):
    env = {**os.environ, 'PYTHONPATH': REPO}
    done = subprocess.run([sys.executable, '-m', 'hlr_graph', '--help'],
                          capture_output=True, text=True, cwd=tmp_path,
                          env=env)
    assert done.returncode == 0, done.stderr
    for command in ('train', 'evaluate', 'recommend', 'stats', 'tune',
                    'plot'):
        assert command in done.stdout
    done = subprocess.run([sys.executable, '-m', 'hlr_graph', 'train',
                           '--epochs', '0'], capture_output=True, text=True,
                          cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert done.stderr == ('error: --epochs: must be >= 1, got 0 (see '
                           'hlr-graph train --help)\n')
