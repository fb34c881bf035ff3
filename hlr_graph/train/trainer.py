r"""One training loop for every model: epochs of triplet batches, validation
loss, best-epoch selection, early stopping, reproducible seeds."""
import copy
import os
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from torch_geometric.data import HeteroData
from tqdm import tqdm

from hlr_graph.data.graph import known_edges, split_edges
from hlr_graph.evaluation.evaluator import Evaluator
from hlr_graph.loader.triplet_loader import TripletBatch, TripletLoader
from hlr_graph.models.base import Recommender

SELECT_BY = ('loss', 'ndcg@10', 'recall@10')
r"""What :attr:`TrainConfig.select_by` accepts: the validation loss (the
paper's selection) or a validation metric measured by full ranking."""


@dataclass
class TrainConfig:
    r"""Training settings; the defaults are the paper's (section 4.3.2).

    Attributes:
        epochs (int): The most epochs to run. (default: ``100``)
        batch_size (int): Triplets per step. (default: ``1000``)
        lr (float): Adam's learning rate. (default: ``1e-3``)
        patience (int, optional): Stop after this many epochs without a
            better selection criterion (default: :obj:`None`, run every
            epoch as the reference code does).
        select_by (str): Keep the epoch with the lowest validation loss
            (``'loss'``, the paper's selection) or the highest validation
            ``'ndcg@10'`` or ``'recall@10'``, measured by full ranking every
            :obj:`eval_every` epochs (every epoch if that is ``0``) and at
            the last epoch.
        seed (int): Seeds batch order, negatives and histories.
        device (str): Where the model runs.
        eval_every (int): Also measure validation NDCG@10 and Recall@10 every
            this many epochs (``0``: never, or every epoch when
            :obj:`select_by` is a metric).
        eval_users (int, optional): Measure them (and select by them) on a
            sample of this many validation users.
        num_workers (int): Sampling processes of the loaders.
        progress (bool): Show a progress bar.
        checkpoint (str, optional): Save the best epoch's weights here.
    """
    epochs: int = 100
    batch_size: int = 1000
    lr: float = 1e-3
    patience: Optional[int] = None
    select_by: str = 'loss'
    seed: int = 0
    device: str = 'cpu'
    eval_every: int = 0
    eval_users: Optional[int] = None
    num_workers: int = 0
    progress: bool = True
    checkpoint: Optional[str] = None


class Trainer:
    r"""Trains :obj:`model` on the training interactions of :obj:`data`
    with Adam on the summed triplet loss, projecting the parameters after
    every step (:meth:`Recommender.constrain_`).

    After each epoch it computes the validation loss: the same loss on the
    validation interactions, with histories from the training interactions
    and negatives that avoid training and validation items. Negatives and
    histories of the validation loss are drawn from the same seed at every
    epoch, so that epochs are compared on the same triplets. The weights of
    the epoch with the lowest validation loss are kept (the paper's model
    selection), or with :obj:`select_by` those of the highest validation
    metric. Models without trainable parameters are fitted in closed form
    instead.
    """
    def __init__(self, model: Recommender, data: HeteroData,
                 config: Optional[TrainConfig] = None):
        self.model, self.data = model, data
        self.config = config or TrainConfig()
        self.device = torch.device(self.config.device)

    def _loader(self, split: str) -> TripletLoader:
        cfg, model = self.config, self.model
        return TripletLoader(
            self.data,
            edge_label_index=split_edges(self.data, split),
            max_history=model.max_history,
            history_sampling=model.history_sampling,
            positives=known_edges(self.data, 'test'
                                  if split == 'val' else 'train'),
            seed=cfg.seed + (split == 'val'),
            batch_size=cfg.batch_size,
            shuffle=split == 'train',
            num_workers=cfg.num_workers,
        )

    def _epoch(self, loader: TripletLoader, desc: str,
               optimizer: Optional[torch.optim.Optimizer]) -> float:
        total, count = 0.0, 0
        bar = tqdm(loader, desc=desc, leave=False, mininterval=1.0,
                   disable=not self.config.progress)
        for batch in bar:
            batch = TripletBatch.from_hetero(batch).to(self.device)
            if optimizer is None:
                with torch.no_grad():
                    loss = self.model.loss(batch)
            else:
                optimizer.zero_grad()
                loss = self.model.loss(batch)
                loss.backward()
                optimizer.step()
                self.model.constrain_()
            if not torch.isfinite(loss):
                raise FloatingPointError(f'{desc}: the loss is {loss.item()}')
            total += loss.item()
            count += batch.user.numel()
            bar.set_postfix(loss=f'{total / count:.4f}', refresh=False)
        return total / max(count, 1)

    def fit(self) -> Dict:
        r"""Trains, restores the kept epoch, and returns ``{'best_epoch',
        'best_valid_loss', 'epochs': [per-epoch records], 'seconds'}``;
        ``best_valid_loss`` is the validation loss of the kept epoch."""
        cfg, model = self.config, self.model.to(self.device)
        start = time.perf_counter()
        if not any(p.requires_grad for p in model.parameters()):
            model.fit(split_edges(self.data, 'train').to(self.device))
            if cfg.checkpoint:
                _save_atomic(model.state_dict(), cfg.checkpoint)
            return {'best_epoch': 0, 'best_valid_loss': None, 'epochs': [],
                    'seconds': time.perf_counter() - start}

        if cfg.select_by not in SELECT_BY:
            raise ValueError(f'select_by must be one of {SELECT_BY}, got '
                             f"'{cfg.select_by}'")
        by_loss = cfg.select_by == 'loss'
        eval_every = cfg.eval_every or (0 if by_loss else 1)
        if not by_loss and cfg.patience is not None and \
                cfg.patience < eval_every:
            raise ValueError(f'patience ({cfg.patience}) must be at least '
                             f'eval_every ({eval_every}) to select by '
                             f'{cfg.select_by}')
        train_loader, val_loader = self._loader('train'), self._loader('val')
        monitor = (Evaluator(self.data, 'val', ks=(10, ), num_cohorts=0,
                             max_users=cfg.eval_users)
                   if eval_every > 0 else None)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
        best, best_epoch, best_state = -float('inf'), 0, None
        records: List[Dict] = []
        for epoch in range(1, cfg.epochs + 1):
            tic = time.perf_counter()
            model.train()
            train_loss = self._epoch(train_loader, f'epoch {epoch}', optimizer)
            model.eval()
            for generator in (val_loader.generator,
                              val_loader.link_sampler.generator):
                generator.manual_seed(cfg.seed + 1)  # Same triplets.
            valid_loss = self._epoch(val_loader, f'valid {epoch}', None)
            record = {'epoch': epoch, 'train_loss': train_loss,
                      'valid_loss': valid_loss}
            if monitor is not None and (epoch % eval_every == 0 or (
                    not by_loss and epoch == cfg.epochs)):
                metrics = monitor.evaluate(model)['metrics']
                record.update({f'valid_{k}': metrics[k]
                               for k in ('ndcg@10', 'recall@10')})
            value = -valid_loss if by_loss else record.get(
                f'valid_{cfg.select_by}', -float('inf'))
            if value > best:
                best, best_epoch = value, epoch
                best_state = copy.deepcopy(model.state_dict())
                if cfg.checkpoint:
                    _save_atomic(best_state, cfg.checkpoint)
            record['seconds'] = time.perf_counter() - tic
            records.append(record)
            tqdm.write(_summary(record, cfg.epochs, best_epoch,
                                -best if by_loss else best, cfg.select_by),
                       file=None)
            if cfg.patience is not None and epoch - best_epoch >= \
                    cfg.patience:
                tqdm.write(f'no better validation {cfg.select_by} for '
                           f'{cfg.patience} epochs: stopping')
                break
        if best_state is None:
            raise RuntimeError(f'no epoch was selected: ran {len(records)} '
                               f'epoch(s), validation {cfg.select_by} never '
                               f'measured a number')
        model.load_state_dict(best_state)
        return {'best_epoch': best_epoch,
                'best_valid_loss': records[best_epoch - 1]['valid_loss'],
                'epochs': records, 'seconds': time.perf_counter() - start}


def _summary(record: Dict, epochs: int, best_epoch: int, best: float,
             select_by: str) -> str:
    extra = ''.join(f'  {k[6:]} {v:.4f}' for k, v in record.items()
                    if k.startswith('valid_') and k != 'valid_loss')
    kept = (f'{best:.4f} (epoch {best_epoch})' if best_epoch else
            'not measured yet')
    return (f"epoch {record['epoch']:>3}/{epochs}  train "
            f"{record['train_loss']:.4f}"
            f"  valid {record['valid_loss']:.4f}{extra}  best {select_by} "
            f"{kept}  {record['seconds']:.1f}s")


def _save_atomic(state: Dict, path: str):
    tmp = f'{path}.{os.getpid()}.tmp'
    torch.save(state, tmp)
    os.replace(tmp, path)
