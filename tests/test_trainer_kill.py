import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch
from train_script import main as train

from hlr_graph.data import load_dataset
from hlr_graph.train import load_checkpoint

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.join(REPO, 'tests', 'train_script.py')
EPOCHS = 6


def checkpoint_epoch(path):
    r"""The last epoch saved at :obj:`path` (``0``: none yet). The file is
    replaced atomically, so it is whole whenever it exists."""
    return load_checkpoint(str(path))['epoch'] if osp.exists(path) else 0


def test_a_killed_training_process_resumes_bit_identical(tmp_path, capsys):
    load_dataset('synthetic')  # Processed before the process starts.
    whole, killed = tmp_path / 'whole', tmp_path / 'killed'
    whole.mkdir()
    killed.mkdir()
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        [REPO] + [p for p in [os.environ.get('PYTHONPATH')] if p])}
    victim = subprocess.Popen(
        [sys.executable, SCRIPT, str(killed), str(EPOCHS)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    threads = torch.get_num_threads()
    try:
        while checkpoint_epoch(killed / 'checkpoint.pt') < 2:
            assert victim.poll() is None, victim.communicate()[1]
            time.sleep(0.005)
        victim.send_signal(signal.SIGKILL)  # Mid-epoch 3.
        victim.communicate(timeout=60)
        assert victim.returncode == -signal.SIGKILL
        epoch = checkpoint_epoch(killed / 'checkpoint.pt')
        assert 2 <= epoch < EPOCHS
        assert not (killed / 'final.pt').exists()

        torch.set_num_threads(1)  # As the script: sums in a fixed order.
        train(str(whole), EPOCHS)  # The uninterrupted run.
        capsys.readouterr()
        train(str(killed), EPOCHS, resume=True)
    finally:
        torch.set_num_threads(threads)
        if victim.poll() is None:
            victim.kill()
            victim.communicate()
    out = capsys.readouterr().out
    assert f'resuming from epoch {epoch} of ' in out
    assert out.count(f'/{EPOCHS}  train') == EPOCHS - epoch  # Epoch lines.

    a = torch.load(whole / 'final.pt', weights_only=True)
    b = torch.load(killed / 'final.pt', weights_only=True)
    assert a['losses'] == b['losses'] and len(a['losses']) == EPOCHS
    assert a['best_epoch'] == b['best_epoch']
    assert a['model'].keys() == b['model'].keys()
    for key in a['model']:
        assert torch.equal(a['model'][key], b['model'][key]), key
    a, b = (load_checkpoint(str(run / 'checkpoint.pt'))
            for run in (whole, killed))
    for key in a['model']:  # The last epoch's weights too.
        assert torch.equal(a['model'][key], b['model'][key]), key
    for x, y in zip(a['optimizer']['state'].values(),
                    b['optimizer']['state'].values()):
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert sorted(os.listdir(killed)) == ['checkpoint.pt', 'final.pt',
                                          'model.pt']
