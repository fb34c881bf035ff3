r"""A small training run for the kill-and-resume test of test_trainer_kill.py:
HLR on the synthetic data set, on one CPU thread, with a checkpoint.
The test imports :func:`main` too, to run the same training in-process.

    python tests/train_script.py OUT_DIR EPOCHS [--resume]

writes ``OUT_DIR/checkpoint.pt`` (the training state, every epoch),
``OUT_DIR/model.pt`` (the kept epoch's weights) and, at the end,
``OUT_DIR/final.pt``: the final weights and the per-epoch records."""
import os.path as osp
import sys

import torch

from hlr_graph.data import load_dataset
from hlr_graph.models.registry import build_model
from hlr_graph.train import TrainConfig, Trainer
from hlr_graph.train.trainer import save_atomic


def main(out: str, epochs: int, resume: bool = False):
    r"""Trains into :obj:`out` (on one thread: the caller sets it)."""
    data = load_dataset('synthetic')[0]
    torch.manual_seed(0)
    model = build_model('hlr', data['user'].num_nodes,
                        data['item'].num_nodes, embedding_dim=16,
                        num_memories=4, max_history=5)
    config = TrainConfig(epochs=epochs, batch_size=1000, lr=1e-2, seed=1,
                         progress=False,
                         checkpoint=osp.join(out, 'checkpoint.pt'),
                         best_weights=osp.join(out, 'model.pt'))
    fit = Trainer(model, data, config).fit(resume=resume)
    save_atomic({'model': model.state_dict(), 'best_epoch': fit['best_epoch'],
                 'losses': [[r['train_loss'], r['valid_loss']]
                            for r in fit['epochs']]},
                osp.join(out, 'final.pt'))


if __name__ == '__main__':
    torch.set_num_threads(1)
    main(sys.argv[1], int(sys.argv[2]), '--resume' in sys.argv[3:])
