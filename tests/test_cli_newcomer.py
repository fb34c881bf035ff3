r"""Mistakes a newcomer made in a trial of the README, each one ``error:``
line (or a quiet end) instead of a guess or a traceback."""
import importlib.util
import subprocess
import sys

from conftest import REPO
from test_cli import one_error

from hlr_graph import cli


def test_a_flag_prefix_is_not_guessed(capsys, tmp_path):
    code = cli.main(['train', '--epoch', '3', '--output-dir',
                     str(tmp_path / 'run')])
    one_error(capsys, code, '--epoch')
    assert not (tmp_path / 'run').exists()


def test_als_without_its_library_is_refused_before_the_data(
        capsys, tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None
                        if name == 'implicit' else find_spec(name, *a))
    code = cli.main(['train', '--model', 'als', '--dataset', 'no-such-set',
                     '--output-dir', str(tmp_path / 'run')])
    one_error(capsys, code, '--model als', 'hlr_graph[als]')


def test_output_into_a_closed_pipe_ends_quietly():
    script = ('import sys; from hlr_graph.cli import main; '
              'sys.exit(main(sys.argv[1:]))')
    process = subprocess.Popen(
        [sys.executable, '-c', script, 'stats', '--dataset', 'synthetic'],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # The reader is gone before anything is written.
    err = process.stderr.read()
    assert process.wait(timeout=120) == 0, err
    assert 'Traceback' not in err and 'BrokenPipe' not in err, err
