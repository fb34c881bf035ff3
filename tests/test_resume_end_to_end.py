r"""The main job killed with SIGKILL in the middle of an epoch, then continued
with ``--resume``, ends with the test metrics of a run never stopped."""
import json
import os
import signal
import subprocess
import sys
import time

import torch
from conftest import REPO

from hlr_graph.cli import main as cli
from hlr_graph.data import load_dataset
from hlr_graph.train import load_checkpoint

SCRIPT = os.path.join(REPO, 'examples', 'train_hlr.py')
ARGS = ['--dataset', 'synthetic', '--model', 'hlr', '--epochs', '4',
        '--batch-size', '100', '--dim', '16', '--num-memories', '4',
        '--max-history', '10', '--cohorts', '0', '--no-progress']


def saved_epoch(run) -> int:
    path = run / 'checkpoint.pt'  # Replaced atomically: whole when there.
    return load_checkpoint(str(path))['epoch'] if path.exists() else 0


def results(run):
    out = json.loads((run / 'results.json').read_text())
    out['epochs'] = [{k: v for k, v in e.items() if k != 'seconds'}
                     for e in out['epochs']]
    return out


def test_a_killed_main_job_resumes_to_the_same_metrics(tmp_path, capsys):
    load_dataset('synthetic')  # Processed once, before either run.
    whole, killed = tmp_path / 'whole', tmp_path / 'killed'
    path = [REPO] + [p for p in [os.environ.get('PYTHONPATH')] if p]
    env = {**os.environ, 'OMP_NUM_THREADS': '1',
           'PYTHONPATH': os.pathsep.join(path)}
    victim = subprocess.Popen(
        [sys.executable, SCRIPT, *ARGS, '--output-dir', str(killed)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    threads = torch.get_num_threads()
    try:
        while saved_epoch(killed) < 1:
            assert victim.poll() is None, victim.communicate()[1]
            time.sleep(0.005)
        time.sleep(0.1)  # Into the batches of epoch 2.
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=60)
        assert victim.returncode == -signal.SIGKILL
        stopped_at = saved_epoch(killed)
        assert 1 <= stopped_at < 4
        assert not (killed / 'results.json').exists()

        torch.set_num_threads(1)  # As the process: sums in a fixed order.
        assert cli(['train', *ARGS, '--output-dir', str(whole),
                    '--quiet']) == 0
        capsys.readouterr()
        assert cli(['train', '--resume', '--output-dir', str(killed),
                    '--no-progress']) == 0
    finally:
        torch.set_num_threads(threads)
        if victim.poll() is None:
            victim.kill()
            victim.communicate()
    assert f'resuming from epoch {stopped_at} of ' in capsys.readouterr().out
    resumed, uninterrupted = results(killed), results(whole)
    assert resumed['test'] == uninterrupted['test']
    assert resumed['valid'] == uninterrupted['valid']
    assert resumed['best_epoch'] == uninterrupted['best_epoch']
    assert resumed['epochs'] == uninterrupted['epochs']
    assert not list(killed.glob('*.tmp'))
