r"""The ``hlr-graph`` command after review: no finished run lost to a rerun,
no search or table continued under other settings, no run read on changed
data, malformed inputs and bugs told apart, notes where numbers mean less
than they seem."""
import inspect
import json
import shutil

import pytest
import torch
from test_cli import nan_from_epoch_2, one_error, results_of
from test_main_job import load_example

from hlr_graph import cli
from hlr_graph.cli import COMMANDS
from hlr_graph.data.cli import is_mistake

lightgcn = load_example('hlr_on_lightgcn')
table2 = load_example('reproduce_table2')


def snapshot(folder):
    r"""Every file under :obj:`folder` (hidden ones too), with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    r"""A finished one-epoch CML run, with its files as they are."""
    out = tmp_path_factory.mktemp('finished') / 'run'
    assert cli.main(['train', '--epochs', '1', '--output-dir', str(out),
                     '--quiet']) == 0
    return out, snapshot(out)


# A finished run is not lost ##################################################

def test_a_rerun_into_a_finished_run_needs_overwrite(finished, capsys):
    out, before = finished
    code = cli.main(['train', '--epochs', '1', '--output-dir', str(out)])
    one_error(capsys, code, f'--output-dir {out} holds a finished run',
              '--overwrite')
    assert snapshot(out) == before


def test_a_failed_overwrite_leaves_the_finished_run_intact(finished,
                                                           capsys):
    out, before = finished
    code = cli.main(['train', '--epochs', '1', '--lr', '1e300',
                     '--overwrite', '--output-dir', str(out), '--quiet'])
    line = one_error(capsys, code, 'epoch 1: the training loss is',
                     f'the run it was to replace is kept in {out}')
    # The trainer says what became of the checkpoint, once:
    assert line.count('no checkpoint') == 1 and 'nothing is kept' not in line
    assert snapshot(out) == before  # Every file, byte for byte.


def test_an_overwrite_that_fails_after_its_first_checkpoint_replaces(
        tmp_path, capsys, monkeypatch):
    out = tmp_path / 'run'
    assert cli.main(['train', '--model', 'popular', '--output-dir', str(out),
                     '--quiet']) == 0
    nan_from_epoch_2(monkeypatch)
    code = cli.main(['train', '--epochs', '3', '--batch-size', '100000',
                     '--overwrite', '--output-dir', str(out), '--quiet'])
    one_error(capsys, code, 'epoch 2', 'checkpoint (epoch 1) is kept')
    assert {p.name for p in out.iterdir()} == {'run.json', 'checkpoint.pt',
                                               'model.pt'}
    assert json.loads((out / 'run.json').read_text())['model'] == 'cml'


def test_a_replacement_killed_before_its_checkpoint_gives_the_run_back(
        tmp_path, capsys):
    out = tmp_path / 'run'
    assert cli.main(['train', '--model', 'popular', '--output-dir', str(out),
                     '--quiet']) == 0
    before = snapshot(out)
    # What `train --overwrite` leaves when killed (SIGKILL) in its first
    # epoch: the old run's files set aside, the new run's run.json.
    aside = out / '.replaced'
    aside.mkdir()
    for name in before:
        (out / name).rename(aside / name)
    (out / 'run.json').write_text('{"model": "cml"}')
    code = cli.main(['train', '--model', 'popular', '--output-dir', str(out)])
    one_error(capsys, code, 'holds a finished run', '--overwrite')
    assert snapshot(out) == before


def test_overwrite_and_resume_exclude_each_other(finished, capsys):
    out, before = finished
    one_error(capsys, cli.main(['train', '--resume', '--overwrite',
                                '--output-dir', str(out)]),
              '--overwrite', '--resume')
    assert snapshot(out) == before


# Searches and tables continue only under their own settings ##################

def test_tune_refuses_to_continue_a_search_with_other_settings(tmp_path,
                                                               capsys):
    out = tmp_path / 'cml.json'
    args = ['tune', '--dataset', 'synthetic', '--model', 'cml', '--trials',
            '1', '--epochs', '1', '--output', str(out)]
    assert cli.main(args) == 0
    capsys.readouterr()  # Its own lines ('Processing...' when not cached).
    before = out.read_bytes()
    code = cli.main(args + ['--epochs', '7', '--split-seed', '5'])
    one_error(capsys, code, "--epochs 7 differs from the search's 1",
              "--split-seed 5 differs from the search's 2021", str(out))
    one_error(capsys, cli.main(args + ['--seed', '4']),
              "--seed 4 differs from the search's 0")
    assert out.read_bytes() == before
    assert cli.main(args + ['--trials', '2']) == 0  # The same: continues.
    assert len(json.loads(out.read_text())['trials']) == 2


def test_table2_refuses_cells_run_with_other_settings(tmp_path, capsys):
    runs, tuned = tmp_path / 'runs', tmp_path / 'tuned'
    args = ['--datasets', 'synthetic', '--models', 'popular', '--seeds', '0',
            '--epochs', '2', '--output-dir', str(runs)]
    assert table2.main(args) == 0
    before = snapshot(runs / 'synthetic')
    capsys.readouterr()
    for extra, needles in [
            (['--epochs', '3'], ["--epochs 3 differs from the cell's 2"]),
            (['--metric-mode', 'reference'],
             ["--metric-mode reference differs from the cell's standard"]),
            (['--metric-mode', 'reference', '--report-only'],
             ['--metric-mode reference']),
            (['--split-seed', '5'],
             ["--split-seed 5 differs from the cell's 2021"]),
            (['--tuned', str(tuned)],
             ["--tuned lr=0.001 differs from the cell's none"])]:
        (tuned / 'synthetic').mkdir(parents=True, exist_ok=True)
        (tuned / 'synthetic' / 'popular.json').write_text(json.dumps(
            {'best': {'hyperparameters': {'lr': 0.001}}}))
        one_error(capsys, table2.main(args + extra), *needles,
                  str(runs / 'synthetic' / 'popular' / 'seed0' / 'run.json'))
    # A --tuned file that is not a search's output:
    (tuned / 'synthetic' / 'popular.json').write_text('{"trials": []}')
    one_error(capsys, table2.main(args + ['--tuned', str(tuned)]),
              str(tuned / 'synthetic' / 'popular.json'), "'best'")
    assert snapshot(runs / 'synthetic') == before
    one_error(capsys, table2.main(args + ['--seeds', str(2**63)]),
              '--seeds')


# A run is read on the data it was made on ####################################

def write_pairs(path, change=None):
    r"""20 users with 8 of 16 items each (``user,item``); :obj:`change`
    replaces one line."""
    lines = ['user,item'] + [f'u{u},i{(3 * u + j) % 16}' for u in range(20)
                             for j in range(8)]
    if change:
        lines[lines.index(change[0])] = change[1]
    path.write_text('\n'.join(lines) + '\n')


@pytest.fixture
def file_run(tmp_path):
    data = tmp_path / 'pairs.csv'
    write_pairs(data)
    run = tmp_path / 'run'
    assert cli.main(['train', '--dataset', str(data), '--k-core', '0',
                     '--model', 'popular', '--output-dir', str(run),
                     '--quiet']) == 0
    return data, run


@pytest.mark.parametrize('change', [
    ('u0,i0', 'u0,i8'),  # The same counts, another pair.
    ('u0,i0', 'u0,i0\nu0,i9'),  # One more interaction.
])
def test_a_run_whose_data_file_changed_is_refused(file_run, capsys, change):
    data, run = file_run
    write_pairs(data, change)
    for argv in (['evaluate', str(run)],
                 ['recommend', '--run-dir', str(run)],
                 ['train', '--resume', '--output-dir', str(run)]):
        one_error(capsys, cli.main(argv + ['--quiet'] if argv[0] == 'evaluate'
                                   else argv),
                  f'the data file {data} changed since {run / "run.json"}')


def test_a_moved_data_file_is_followed(file_run, capsys):
    data, run = file_run
    moved = data.parent / 'elsewhere' / 'renamed.csv'
    moved.parent.mkdir()
    shutil.move(data, moved)
    one_error(capsys, cli.main(['evaluate', str(run)]),
              f"the run's data file {data} is gone", '--dataset')
    assert cli.main(['evaluate', str(run), '--dataset', str(moved),
                     '--output', str(run.parent / 'again.json'),
                     '--quiet']) == 0
    again = json.loads((run.parent / 'again.json').read_text())
    assert again['metrics'] == results_of(run)['test']
    capsys.readouterr()
    # Another file under the run's name is no way round the fingerprint:
    write_pairs(data, ('u0,i0', 'u0,i8'))
    one_error(capsys, cli.main(['evaluate', str(run), '--dataset', str(data),
                                '--quiet']), f'the data file {data} changed')


def test_run_json_records_the_graph(file_run):
    record = json.loads((file_run[1] / 'run.json').read_text())
    assert set(record['graph']) == {'train', 'val', 'test'}
    assert sum(g['interactions'] for g in record['graph'].values()) == 160


# Mistakes and bugs told apart ################################################

def test_an_empty_training_split_is_named(tmp_path, capsys):
    data = tmp_path / 'one.csv'
    data.write_text('user,item,rating\nu1,i1,5\n')
    out = tmp_path / 'run'
    code = cli.main(['train', '--dataset', str(data), '--k-core', '0',
                     '--threshold', '0', '--output-dir', str(out),
                     '--quiet'])
    one_error(capsys, code, "data set 'one.csv'", 'training split is empty')
    assert not out.exists()


def test_a_value_error_from_inside_torch_is_a_bug(monkeypatch):
    def sampler_bug(exp):
        torch.utils.data.RandomSampler([])  # num_samples=0: a ValueError.

    monkeypatch.setattr('hlr_graph.cli.train.run_experiment', sampler_bug)
    with pytest.raises(ValueError, match='num_samples'):
        cli.main(['train', '--model', 'popular', '--output-dir', 'unused'])


def test_value_errors_the_package_raises_on_purpose_are_mistakes():
    from hlr_graph.data.registry import load_dataset
    with pytest.raises(ValueError) as raised:
        load_dataset('nosuchname')
    assert is_mistake(raised.value)
    with pytest.raises(ValueError) as raised:
        ''.split('')  # A builtin's error is not the package's message.
    assert not is_mistake(raised.value)


@pytest.fixture
def broken(finished, tmp_path):
    out = tmp_path / 'copy'
    shutil.copytree(finished[0], out)
    return out


@pytest.mark.parametrize('name,text,needle', [
    ('run.json', '{"dataset": "synt', 'not valid JSON'),
    ('run.json', '{"dataset": "synthetic"}', "no 'model'"),
    ('results.json', '[1, 2]', 'not an object'),
])
def test_corrupt_run_files_are_named(broken, capsys, name, text, needle):
    (broken / name).write_text(text)
    one_error(capsys, cli.main(['evaluate', str(broken), '--quiet']),
              str(broken / name), needle)
    if name == 'results.json':
        one_error(capsys, cli.main(['plot', str(broken)]),
                  str(broken / name), needle)


@pytest.mark.parametrize('text,needle', [
    ('{"dataset": "synthetic"', 'not valid JSON'),
    ('{"dataset": "synthetic"}', "no 'trials'"),
])
def test_a_corrupt_tune_output_is_named(tmp_path, capsys, text, needle):
    out = tmp_path / 'cml.json'
    out.write_text(text)
    code = cli.main(['tune', '--dataset', 'synthetic', '--model', 'cml',
                     '--epochs', '1', '--trials', '1', '--output', str(out)])
    one_error(capsys, code, str(out), needle)
    assert out.read_text() == text


def test_evaluate_makes_the_folder_of_its_output(finished, tmp_path, capsys):
    out = tmp_path / 'new' / 'dir' / 'x.json'
    assert cli.main(['evaluate', str(finished[0]), '--output', str(out),
                     '--quiet']) == 0
    assert json.loads(out.read_text())['metrics'] == \
        results_of(finished[0])['test']
    # A refused evaluation makes no folder:
    code = cli.main(['evaluate', str(finished[0]), '--split-seed', '3',
                     '--output', str(tmp_path / 'other' / 'x.json')])
    one_error(capsys, code, '--split-seed 3')
    assert not (tmp_path / 'other').exists()


def test_hlr_on_lightgcn_mistakes_are_one_line(tmp_path, capsys):
    for flag, value in [('--epochs', '0'), ('--lr', '-1'), ('--layers', '-1'),
                        ('--seed', str(2**63))]:
        one_error(capsys, lightgcn.main([flag, value]), flag,
                  '(see hlr_on_lightgcn.py --help)')
    # No --dataset: the default, ml-100k, is looked for (not a TypeError).
    one_error(capsys, lightgcn.main(['--root', str(tmp_path / 'empty')]),
              'ml-100k')


def test_stats_is_a_command_like_the_others(capsys, monkeypatch):
    for name, module in COMMANDS.items():
        assert list(inspect.signature(module.run).parameters) == [
            'args', 'parser'], name
        assert callable(module.add_arguments) and callable(module.main)
    assert cli.main(['stats', '--dataset', 'synthetic', '--json']) == 0
    assert json.loads(capsys.readouterr().out)['dataset'] == 'synthetic'

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr('hlr_graph.data.__main__.load_dataset', interrupted)
    assert cli.main(['stats', '--dataset', 'synthetic']) == 130
    assert capsys.readouterr().err == 'error: interrupted\n'


# Notes and flags named #######################################################

def test_cut_offs_beyond_the_items_are_noted(finished, capsys):
    out, _ = finished
    assert cli.main(['evaluate', str(out), '--ks', '10', '5000',
                     '--quiet']) == 0
    err = capsys.readouterr().err
    assert err.startswith('note: --ks 5000: the data set has only ')
    assert err.count('\n') == 1
    assert cli.main(['recommend', '--run-dir', str(out), '-k', '5000']) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith('note: -k 5000: user ')
    assert 'items left to recommend' in captured.err


def test_an_empty_separator_names_the_flag(tmp_path, capsys):
    for argv in (['stats', '--dataset', 'synthetic'],
                 ['train', '--output-dir', str(tmp_path / 'run')]):
        one_error(capsys, cli.main(argv + ['--sep', '']), '--sep',
                  'an empty separator')
    assert not (tmp_path / 'run').exists()
