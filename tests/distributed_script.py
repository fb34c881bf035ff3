r"""Run by ``tests/test_distributed.py`` under ``torchrun
--nproc_per_node=2``: each process trains the same CML replica with the
library's :class:`~hlr_graph.train.Trainer` and saves what it ended with
into the folder given, for the test to compare across processes.

* ``{optimizer}-{rank}.pt``: weights and epoch records of 3 epochs with
  ``'adam'`` and ``'sparse_adam'``; the checkpoint and kept weights go to
  ``{optimizer}-checkpoint-{rank}.pt`` and ``{optimizer}-model-{rank}.pt``,
  so that a file of rank 1 would show that it wrote;
* ``batch-{rank}.pt``: this process's part of the first batch, and the
  number of batches of an epoch;
* ``ranked-{rank}.pt``: the test lists of an (untrained) HLR, which reads
  histories, ranked by the processes together and by this one alone, for
  all test users and for one (a process then ranks no user);
* ``resumed-{rank}.pt``: 2 epochs with ``'sparse_adam'`` into one shared
  checkpoint, then resumed to 3 (to compare with the 3 epochs above).

The batch size leaves a last batch of one supervision edge, which a part
per process cannot hold: it is left out (by both processes).
"""
import os.path as osp
import sys

import torch

from hlr_graph import distributed
from hlr_graph.data import load_dataset
from hlr_graph.data.graph import ITEM, USER, split_edges
from hlr_graph.evaluation import Evaluator
from hlr_graph.models import CML, HLR
from hlr_graph.train import TrainConfig, Trainer


def main(folder: str):
    torch.set_num_threads(1)
    distributed.init()
    rank = distributed.rank()
    data = load_dataset('synthetic', log=False)[0]
    edges = split_edges(data, 'train').size(1)
    # Batches of about 1000 triplets and a last one of one edge.
    batch_size = next(b for b in range(500, edges) if edges % b == 1)

    def train(optimizer: str, epochs: int, checkpoint: str, weights: str,
              resume: bool = False):
        torch.manual_seed(0)
        model = CML(data[USER].num_nodes, data[ITEM].num_nodes,
                    embedding_dim=16)
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=0.01,
                             optimizer=optimizer, seed=3, eval_every=1,
                             progress=False, log=False, distributed=True,
                             checkpoint=checkpoint, best_weights=weights)
        fit = Trainer(model, data, config).fit(resume=resume)
        return {'model': model.state_dict(), 'epochs': [
            {k: v for k, v in e.items() if k != 'seconds'}
            for e in fit['epochs']], 'best_epoch': fit['best_epoch']}

    trainer = Trainer(CML(data[USER].num_nodes, data[ITEM].num_nodes),
                      data, TrainConfig(batch_size=batch_size, seed=3,
                                        distributed=True))
    loader = trainer.loader('train')
    batch = next(iter(loader))
    torch.save({'user': batch.user, 'pos': batch.pos, 'batches': len(loader),
                'batch_size': batch_size},
               osp.join(folder, f'batch-{rank}.pt'))
    for optimizer in ('adam', 'sparse_adam'):
        out = train(optimizer, 3,
                    osp.join(folder, f'{optimizer}-checkpoint-{rank}.pt'),
                    osp.join(folder, f'{optimizer}-model-{rank}.pt'))
        torch.save(out, osp.join(folder, f'{optimizer}-{rank}.pt'))
    torch.manual_seed(0)
    hlr = HLR(data[USER].num_nodes, data[ITEM].num_nodes, embedding_dim=16,
              num_memories=4, max_history=10)
    ranked = {}
    for users in (None, 1):
        for together in (True, False):
            ranked[users, together] = Evaluator(
                data, 'test', num_cohorts=0, max_users=users,
                distributed=together).rank(hlr)
    torch.save(ranked, osp.join(folder, f'ranked-{rank}.pt'))
    shared = (osp.join(folder, 'checkpoint.pt'), osp.join(folder, 'model.pt'))
    train('sparse_adam', 2, *shared)
    distributed.barrier()  # Rank 0's checkpoint is written.
    out = train('sparse_adam', 3, *shared, resume=True)
    torch.save(out, osp.join(folder, f'resumed-{rank}.pt'))
    distributed.close()


if __name__ == '__main__':
    main(sys.argv[1])
