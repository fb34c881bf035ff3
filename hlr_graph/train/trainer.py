r"""One training loop for every model: epochs of triplet batches, validation
loss, best-epoch selection, early stopping, reproducible seeds, and
checkpoints from which a killed run continues exactly."""
import glob
import inspect
import math
import os
import os.path as osp
import random
import time
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from hlr_graph import distributed
from hlr_graph.data.batch import SubgraphBatch, TripletBatch
from hlr_graph.data.graph import known_edges, split_edges
from hlr_graph.evaluation.evaluator import Evaluator
from hlr_graph.loader.triplet_loader import TripletBatches, TripletLoader
from hlr_graph.models.base import Recommender
from hlr_graph.nn.objectives import check_negatives
from hlr_graph.progress import Progress, write
from hlr_graph.train.optim import LazyAdam

SELECT_BY = ('loss', 'ndcg@10', 'recall@10')
r"""What :attr:`TrainConfig.select_by` accepts: the validation loss (the
paper's selection) or a validation metric measured by full ranking."""

OPTIMIZERS = ('adam', 'sparse_adam')
r"""What :attr:`TrainConfig.optimizer` accepts: dense Adam over every
parameter (the paper's), or row-wise sparse updates of the embedding tables
(:func:`build_optimizers`)."""

CHECKPOINT_FORMAT = 1
r"""The version of the training state :class:`Trainer` writes."""


class NonFiniteLossError(FloatingPointError):
    r"""A training or validation loss came out NaN or infinite. The run
    stops; the checkpoint of the last completed epoch (and the kept epoch's
    weights) stay on disk as they were, while the model in memory keeps the
    weights of the failing step.

    Attributes:
        epoch (int): The epoch that failed.
        batch (int): The batch of that epoch, counted from ``1``.
    """
    def __init__(self, message: str, epoch: int, batch: int):
        super().__init__(message)
        self.epoch, self.batch = epoch, batch


@dataclass
class TrainConfig:
    r"""Training settings; the defaults are the paper's (section 4.3.2).

    Attributes:
        epochs (int): The most epochs to run. (default: ``100``)
        batch_size (int): Triplets per step. (default: ``1000``)
        lr (float): Adam's learning rate, :math:`\eta`. (default: ``1e-3``)
        lr_decay (float): The learning rate's factor per epoch,
            :math:`\gamma \in (0, 1]`: epoch :math:`e` (from ``1``) trains
            with :math:`\eta \gamma^{e - 1}`, the closed form of
            :class:`torch.optim.lr_scheduler.ExponentialLR` stepped after
            every epoch (equal to it up to rounding), computed from the
            epoch's number, so that a resumed run and a refit for
            :math:`E^*` epochs follow the selection run's rates. The paper
            trains at a constant rate. (default: ``1.0``, constant)
        optimizer (str): ``'adam'``: Adam over every parameter, the whole
            of each table at every step, then every row clipped (the
            paper's training, exactly). ``'sparse_adam'``: the model's
            embedding tables (:attr:`Recommender.sparse_tables`) take sparse
            gradients and :class:`~hlr_graph.train.optim.LazyAdam` (Adam on
            the rows a step looked up, the other rows and their moments
            left as they are), every other parameter dense Adam, and only
            the rows a step changed are clipped; a step then costs what its
            batch reads, not what the graph holds. Models whose step reads
            whole tables (LightGCN) are refused. (default: ``'adam'``)
        patience (int, optional): Stop after this many epochs without a
            better selection criterion (default: :obj:`None`, run every
            epoch as the authors' code does,
            https://github.com/deezer/recsys21-hlr).
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
            random sample of this many validation users, the same at every
            epoch.
        num_workers (int): Sampling processes of the loaders (``0``, the
            default: batches drawn on the model's device in this process,
            :class:`~hlr_graph.loader.TripletBatches`).
        num_negatives (int): Negatives per triplet, :math:`K` (models with
            :attr:`Recommender.multiple_negatives`; their ``loss`` chooses
            what to do with them), in training and in the validation loss.
            (default: ``1``, the paper's)
        share_negatives (bool): Draw the :math:`K` negatives once per batch
            for all of its triplets
            (:class:`~hlr_graph.data.batch.SharedTripletBatch`) instead of
            :math:`K` for each: CML and models with ``copy`` then compute
            them as one matrix product, so :math:`K` can be in the
            thousands (AdaCML and TransCF still compute every pair).
            (default: :obj:`False`)
        progress (bool): Show a progress bar of the batches.
        checkpoint (str, optional): Where the training state goes at the end
            of every epoch (weights, optimiser state, best epoch so far,
            per-epoch records, every random generator), for
            :meth:`Trainer.fit` with ``resume=True`` (models trained by
            gradient; a closed-form fit is simply run again).
        best_weights (str, optional): Where the kept epoch's weights go (a
            plain ``state_dict``), whenever the kept epoch changes, and
            after a closed-form fit.
        log (bool): Print one line per epoch. (default: :obj:`True`)
        distributed (bool): Train in the processes of the initialised
            :mod:`torch.distributed` process group (started by ``torchrun``,
            :func:`hlr_graph.distributed.init`), one replica of the model
            each: every step, each process takes its contiguous share of
            the :obj:`batch_size` triplets one process would take (the same
            global batch; its own negatives and histories, seeded by
            :func:`~hlr_graph.distributed.process_seed`), and
            :class:`~torch.nn.parallel.DistributedDataParallel` sums the
            gradients (:class:`~hlr_graph.distributed.GradientExchange`:
            with ``'sparse_adam'`` the table rows the step touched, not the
            tables), so every replica takes the same update. Validation
            loss and metrics are shared out likewise and gathered; rank
            ``0`` alone writes the checkpoint and prints. Needs
            :obj:`num_workers` ``0``. (default: :obj:`False`)
        validate (bool): Compute the validation loss after every epoch and
            keep the selected epoch (:obj:`select_by`). :obj:`False` trains
            exactly :obj:`epochs` epochs on the training interactions and
            keeps the last one, with no validation loss, metric or
            :obj:`patience`: the refit of
            :attr:`~hlr_graph.train.Experiment.refit`, whose graph has no
            validation split left. (default: :obj:`True`)
        num_neighbors (Tuple[int, ...], optional): Train on the sampled
            :math:`k`-hop subgraphs of the batches with these fan-outs
            (:class:`~hlr_graph.loader.TripletNeighborSampler`), for a
            model on a graph encoder (:meth:`~hlr_graph.models.CML.set_encoder`)
            (default: :obj:`None`, triplets and histories only).
    """
    epochs: int = 100
    batch_size: int = 1000
    lr: float = 1e-3
    lr_decay: float = 1.0
    optimizer: str = 'adam'
    patience: Optional[int] = None
    select_by: str = 'loss'
    seed: int = 0
    device: str = 'cpu'
    eval_every: int = 0
    eval_users: Optional[int] = None
    num_workers: int = 0
    num_negatives: int = 1
    share_negatives: bool = False
    progress: bool = True
    checkpoint: Optional[str] = None
    best_weights: Optional[str] = None
    log: bool = True
    distributed: bool = False
    validate: bool = True
    num_neighbors: Optional[Tuple[int, ...]] = None


def build_optimizer(parameters: Iterable[Tensor],
                    lr: float) -> torch.optim.Adam:
    r"""Adam over :obj:`parameters`, with its fused kernel where the
    installed torch has one for the parameters' devices and dtypes (on CUDA
    since torch 2.0, on CPU since 2.4), and the default implementation
    otherwise. Both compute the same update; fused is faster.

    Args:
        parameters (Iterable[torch.Tensor]): The trainable parameters.
        lr (float): The learning rate.
    """
    parameters = list(parameters)
    if parameters and all(_fused_adam_works(p.device, p.dtype)
                          for p in {(p.device, p.dtype): p
                                    for p in parameters}.values()):
        return torch.optim.Adam(parameters, lr=lr, fused=True)
    return torch.optim.Adam(parameters, lr=lr)


class Optimizers:
    r"""The optimisers of one training run, stepped as one: dense Adam
    (:func:`build_optimizer`) over the parameters updated whole, and with
    sparse updates :class:`~hlr_graph.train.optim.LazyAdam` over the
    embedding tables updated row by row.

    Args:
        dense (torch.optim.Adam, optional): Over the dense parameters.
        sparse (LazyAdam, optional): Over :obj:`tables`.
        tables (Dict[str, torch.nn.Parameter]): The weights with sparse
            gradients, by table name (:attr:`Recommender.sparse_tables`).
    """
    def __init__(self, dense: Optional[torch.optim.Adam],
                 sparse: Optional[LazyAdam] = None,
                 tables: Optional[Dict[str, Tensor]] = None):
        self.dense, self.sparse, self.tables = dense, sparse, tables or {}

    def zero_grad(self):
        for optimizer in (self.dense, self.sparse):
            if optimizer is not None:
                optimizer.zero_grad()

    def set_lr(self, lr: float):
        r"""Sets the learning rate of every parameter group."""
        for optimizer in (self.dense, self.sparse):
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group['lr'] = lr

    def step(self) -> Optional[Dict[str, Tensor]]:
        r"""Updates the parameters from their gradients.

        Returns:
            :obj:`None` after a dense update; after a sparse one, the
            ``[R]`` distinct rows each table's update changed, by table name
            (for :meth:`Recommender.constrain_`).
        """
        rows = None
        if self.sparse is not None:
            rows = {}
            for name, weight in self.tables.items():
                if weight.grad is None:
                    rows[name] = torch.empty(0, dtype=torch.long,
                                             device=weight.device)
                    continue
                weight.grad = weight.grad.coalesce()  # Distinct rows.
                rows[name] = weight.grad.indices()[0]
            self.sparse.step()
        if self.dense is not None:
            self.dense.step()
        return rows

    def state_dict(self) -> Dict[str, Optional[Dict]]:
        r"""``{'optimizer': dense Adam's state, 'sparse_optimizer':
        LazyAdam's}``, :obj:`None` for one that is not there."""
        return {'optimizer': (self.dense.state_dict()
                              if self.dense is not None else None),
                'sparse_optimizer': (self.sparse.state_dict()
                                     if self.sparse is not None else None)}

    def load_state_dict(self, state: Dict[str, Optional[Dict]]):
        r"""Loads what :meth:`state_dict` returned, keeping dense Adam's
        implementation (fused or not) chosen for this torch and device."""
        if self.dense is not None:
            _load_optimizer(self.dense, state['optimizer'])
        if self.sparse is not None:
            self.sparse.load_state_dict(state['sparse_optimizer'])


def build_optimizers(model: Recommender, lr: float,
                     optimizer: str = 'adam') -> Optimizers:
    r"""The optimisers of :attr:`TrainConfig.optimizer` for :obj:`model`:
    with ``'adam'`` dense Adam over every trainable parameter; with
    ``'sparse_adam'`` :class:`~hlr_graph.train.optim.LazyAdam` over the
    weights of :attr:`Recommender.sparse_tables` and dense Adam over the
    others (none where there are none). Turns the model's sparse gradients
    on or off (:meth:`Recommender.sparse_gradients_`) to match.

    The first step of both is the same on every row (Adam's moments start
    at zero, so rows without gradient do not move; bit for bit against
    Adam's single-tensor implementation, to the last bit's rounding against
    the fused one); from the second on, a row a step does not look up
    keeps its value and moments under ``'sparse_adam'``, where Adam decays
    the moments and moves the row.

    Args:
        model (Recommender): The model.
        lr (float): The learning rate.
        optimizer (str): One of :obj:`OPTIMIZERS`.

    Raises:
        ValueError: An unknown :obj:`optimizer`, or a model that cannot be
            trained with sparse updates.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f'optimizer must be one of {OPTIMIZERS}, got '
                         f"'{optimizer}'")
    sparse = optimizer == 'sparse_adam'
    model.sparse_gradients_(sparse)
    tables = model.sparse_parameters() if sparse else {}
    table_ids = {id(weight) for weight in tables.values()}
    dense = [p for p in model.parameters()
             if p.requires_grad and id(p) not in table_ids]
    return Optimizers(
        build_optimizer(dense, lr) if dense else None,
        LazyAdam(list(tables.values()), lr=lr) if tables else None, tables)


def epoch_lr(lr: float, lr_decay: float, epoch: int) -> float:
    r"""The learning rate of epoch :obj:`epoch` (from ``1``) under
    :attr:`TrainConfig.lr_decay`: :math:`\eta \gamma^{e - 1}` (exactly
    :obj:`lr` at a constant rate)."""
    return lr * lr_decay ** (epoch - 1)  # 1.0 ** n * lr is lr, bit for bit.


def check_lr_decay(lr_decay: float):
    r"""Raises :class:`ValueError` unless :obj:`lr_decay` is a Python
    ``float`` (or ``int``) in :math:`(0, 1]` (:attr:`TrainConfig.lr_decay`;
    it goes into checkpoints, which load with ``weights_only=True``, and
    ``run.json`` as it is: a numpy scalar is refused)."""
    if type(lr_decay) not in (int, float) or not 0.0 < lr_decay <= 1.0:
        raise ValueError(f'lr_decay must be a Python float in (0, 1], got '
                         f'{lr_decay!r}')


def _fused_adam_works(device: torch.device, dtype: torch.dtype) -> bool:
    r"""Whether one step of fused Adam runs on a tensor of :obj:`device`
    and :obj:`dtype`. Torch before 2.4 refuses the CPU when the optimiser is
    built; later releases check at the first step, so the probe takes
    one."""
    try:
        probe = torch.zeros(1, device=device, dtype=dtype, requires_grad=True)
        probe.grad = torch.zeros_like(probe)
        torch.optim.Adam([probe], fused=True).step()
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


class Trainer:
    r"""Trains :obj:`model` on the training interactions of :obj:`data`
    with Adam on the summed triplet loss (or sparse updates of the
    embedding tables, :attr:`TrainConfig.optimizer`), projecting the
    parameters after every step (:meth:`Recommender.constrain_`).

    After each epoch it computes the validation loss: the same loss on the
    validation interactions, with histories from the training interactions
    and negatives that avoid training and validation items. Negatives and
    histories of the validation loss are drawn from the same seed at every
    epoch, so that epochs are compared on the same triplets. The weights of
    the epoch with the lowest validation loss are kept (the paper's model
    selection), or with :obj:`select_by` those of the highest validation
    metric. Models without trainable parameters are fitted in closed form
    instead.

    With :attr:`TrainConfig.checkpoint`, the whole training state is saved
    at the end of every epoch, and :meth:`fit` with ``resume=True``
    continues from it: a run killed at any moment and resumed ends with the
    same weights and losses, bit for bit, as a run never interrupted (on
    one CPU thread, where floating-point sums have a fixed order).

    With :attr:`TrainConfig.distributed`, every process of the
    :mod:`torch.distributed` group runs a :class:`Trainer` on the same
    model and data; they train one model together (each on its share of
    every batch, the replicas kept identical) and rank ``0`` alone writes
    the checkpoint and the kept weights and prints. The checkpoint holds
    every process's random streams, so it resumes with the same number of
    processes, from a folder all of them read.
    """
    def __init__(self, model: Recommender, data: HeteroData,
                 config: Optional[TrainConfig] = None):
        self.model, self.data = model, data
        self.config = config or TrainConfig()
        self.device = torch.device(self.config.device)
        self.rank, self.world_size = 0, 1
        self.exchange: Optional[distributed.GradientExchange] = None
        self._replica: Optional[torch.nn.Module] = None
        if self.config.distributed:
            if not torch.distributed.is_initialized():
                raise ValueError(
                    'distributed training needs an initialised '
                    'torch.distributed process group (start the processes '
                    'with torchrun and call hlr_graph.distributed.init)')
            if self.config.num_workers:
                raise ValueError('distributed training draws the batches in '
                                 'each process: num_workers must be 0, got '
                                 f'{self.config.num_workers}')
            self.rank = distributed.rank()
            self.world_size = distributed.world_size()
            self.device = distributed.process_device(self.config.device)
            if self.device.type == 'cuda':
                torch.cuda.set_device(self.device)
        self.main = self.rank == 0

    @property
    def _log(self) -> bool:
        return self.config.log and self.main

    @property
    def _progress(self) -> bool:
        return self.config.progress and self.main

    def loader(self, split: str) -> Union[TripletBatches, TripletLoader]:
        r"""The triplet batches of :obj:`split` (``'train'``: shuffled;
        ``'val'``: the validation loss's, negatives avoiding training and
        validation items) with the model's history settings and the
        configuration's batch size, seed and workers: drawn on the model's
        device (:class:`~hlr_graph.loader.TripletBatches`) without loader
        workers, by a :class:`~hlr_graph.loader.TripletLoader` in
        :attr:`TrainConfig.num_workers` processes otherwise. On the CPU
        both give the same batches. With :attr:`TrainConfig.distributed`,
        this process's part of each batch
        (:class:`~hlr_graph.loader.TripletBatches` with :obj:`part` its rank,
        :obj:`num_parts` the world size, and its own sampler seed)."""
        cfg, model = self.config, self.model
        kwargs = dict(
            edge_label_index=split_edges(self.data, split),
            max_history=model.max_history,
            history_sampling=model.history_sampling,
            # Validation negatives avoid validation items too; training
            # ones the graph's own (training) edges, indexed once:
            positives=(known_edges(self.data, 'test')
                       if split == 'val' else None),
            seed=cfg.seed + (split == 'val'),
            batch_size=cfg.batch_size,
            shuffle=split == 'train',
            num_neighbors=cfg.num_neighbors,
        )
        if cfg.num_workers == 0:  # Always so when distributed.
            return TripletBatches(
                self.data, device=self.device, part=self.rank,
                num_parts=self.world_size, sampler_seed=distributed.
                process_seed(kwargs['seed'], self.rank),
                num_negatives=cfg.num_negatives,
                share_negatives=cfg.share_negatives, **kwargs)
        check_negatives(num_negatives=cfg.num_negatives,
                        share_negatives=cfg.share_negatives,
                        num_workers=cfg.num_workers)
        return TripletLoader(self.data, num_workers=cfg.num_workers,
                             **kwargs)

    def _epoch(self, loader: Union[TripletBatches, TripletLoader],
               epoch: int,
               optimizer: Optional[Optimizers]) -> float:
        cfg = self.config
        name = 'training' if optimizer is not None else 'validation'
        total, count = 0.0, 0
        with Progress(len(loader), f'epoch {epoch}' if optimizer else
                      f'valid {epoch}', 'batches', self._progress) as bar:
            for step, batch in enumerate(loader, 1):
                if not isinstance(batch, TripletBatch):  # A subgraph.
                    read = (TripletBatch if cfg.num_neighbors is None else
                            SubgraphBatch)
                    batch = read.from_hetero(batch).to(self.device)
                if optimizer is None:
                    with torch.no_grad():
                        loss = self.model.loss(batch)
                else:
                    loss = self.train_step(batch, optimizer)
                value, size = loss.item(), batch.user.numel()
                if cfg.distributed:  # The global batch's, on every rank.
                    value, size = distributed.all_reduce_sum((value, size))
                if not math.isfinite(value):
                    raise self._non_finite(name, value, epoch, step,
                                           len(loader))
                total += value
                count += int(size)
                bar.update(loss=f'{total / count:.4f}')
        return total / max(count, 1)

    def train_step(self, batch: TripletBatch,
                   optimizer: Optimizers) -> Tensor:
        r"""One training step on :obj:`batch` (on the model's device):
        the loss, its gradients, the update, and the projection of what the
        update changed. Returns the loss."""
        optimizer.zero_grad()
        if self._replica is not None:  # Gradients summed over processes.
            loss = self._replica(batch)
        else:
            loss = self.model.loss(batch)
        loss.backward()
        rows = optimizer.step()
        if rows is None:
            self.model.constrain_()
        else:
            self.model.constrain_(rows)
        return loss

    def _non_finite(self, name: str, value: float, epoch: int, step: int,
                    steps: int) -> NonFiniteLossError:
        path = self.config.checkpoint
        if path is None:
            kept = 'no checkpoint is written (no checkpoint path was given)'
        elif epoch > 1:
            kept = (f'the last good checkpoint (epoch {epoch - 1}) is kept '
                    f'in {path}')
        else:
            kept = 'no epoch completed, so no checkpoint was written'
        return NonFiniteLossError(
            f'epoch {epoch}: the {name} loss is {value} at batch {step} of '
            f'{steps}; {kept}; a lower learning rate may help', epoch, step)

    def fit(self, resume: bool = False) -> Dict:
        r"""Trains, restores the kept epoch, and returns its record.

        Args:
            resume (bool): Continue from :attr:`TrainConfig.checkpoint` where
                that file exists (from scratch otherwise). The checkpoint
                must come from the same model and settings, except
                :obj:`epochs` and :obj:`patience`, which may change; a run
                that already reached its last epoch, or stopped by
                patience, returns without training more.

        Returns:
            ``{'best_epoch', 'best_valid_loss', 'epochs': [per-epoch
            records], 'seconds'}``: ``best_valid_loss`` is the validation
            loss of the kept epoch, ``seconds`` the training time of all
            sessions of the run. With :attr:`TrainConfig.validate` off,
            ``best_epoch`` is the last epoch and ``best_valid_loss``
            :obj:`None`; the records have no validation entries.

        Raises:
            NonFiniteLossError: A loss came out NaN or infinite.
            ValueError: A setting is out of range, the model cannot be
                trained with :attr:`TrainConfig.optimizer`, or the
                checkpoint does not belong to this run.
        """
        cfg, model = self.config, self.model.to(self.device)
        start = time.perf_counter()
        if cfg.optimizer not in OPTIMIZERS:
            raise ValueError(f'optimizer must be one of {OPTIMIZERS}, got '
                             f"'{cfg.optimizer}'")
        if not any(p.requires_grad for p in model.parameters()):
            model.fit(split_edges(self.data, 'train').to(self.device))
            if cfg.best_weights and self.main:
                save_atomic(model.state_dict(), cfg.best_weights)
            return {'best_epoch': 0, 'best_valid_loss': None, 'epochs': [],
                    'seconds': time.perf_counter() - start}
        try:
            return self._fit_by_gradient(resume, start)
        finally:
            self._replica = None
            model.sparse_gradients_(False)

    def _fit_by_gradient(self, resume: bool, start: float) -> Dict:
        cfg, model = self.config, self.model
        if (cfg.num_negatives > 1 or cfg.share_negatives) and \
                not model.multiple_negatives:
            raise ValueError(f'{type(model).__name__} trains on one negative '
                             f'per triplet, not num_negatives='
                             f'{cfg.num_negatives}'
                             + (' shared' if cfg.share_negatives else ''))
        check_negatives(num_negatives=cfg.num_negatives,
                        share_negatives=cfg.share_negatives,
                        num_workers=cfg.num_workers)
        if cfg.select_by not in SELECT_BY:
            raise ValueError(f'select_by must be one of {SELECT_BY}, got '
                             f"'{cfg.select_by}'")
        check_lr_decay(cfg.lr_decay)
        validate = cfg.validate
        if not validate and cfg.patience is not None:
            raise ValueError(f'patience ({cfg.patience}) needs the '
                             'validation loss: leave it None with '
                             'validate=False')
        by_loss = cfg.select_by == 'loss'
        eval_every = (cfg.eval_every or (0 if by_loss else 1)
                      if validate else 0)
        if validate and not by_loss and cfg.patience is not None and \
                cfg.patience < eval_every:
            raise ValueError(f'patience ({cfg.patience}) must be at least '
                             f'eval_every ({eval_every}) to select by '
                             f'{cfg.select_by}')
        train_loader = self.loader('train')
        val_loader = self.loader('val') if validate else None
        monitor = (Evaluator(self.data, 'val', ks=(10, ), num_cohorts=0,
                             max_users=cfg.eval_users,
                             distributed=cfg.distributed)
                   if eval_every > 0 else None)
        optimizer = build_optimizers(model, cfg.lr, cfg.optimizer)
        if cfg.distributed:  # After the tables turned sparse or dense.
            self._replica, self.exchange = _replicate(model)
        settings = self._settings()

        best, best_epoch, best_state = -float('inf'), 0, None
        records: List[Dict] = []
        done, seconds = 0, 0.0
        if resume and cfg.checkpoint and osp.exists(cfg.checkpoint):
            state = load_checkpoint(cfg.checkpoint)
            for path in (cfg.checkpoint, cfg.best_weights):
                if self.main:
                    _remove_partial_saves(path)
            # Checkpoints written before a setting was recorded ran with
            # its default (K: not recorded, taken as this run's).
            _check_settings(cfg.checkpoint, {
                'optimizer': 'adam', 'lr_decay': 1.0,
                'num_negatives': cfg.num_negatives,
                'share_negatives': False, **state['settings']}, settings)
            done, records = state['epoch'], state['records']
            for record in records:  # Written before records had a rate.
                record.setdefault('lr', epoch_lr(cfg.lr, cfg.lr_decay,
                                                 record['epoch']))
            if done > cfg.epochs:
                raise ValueError(
                    f'cannot resume from {cfg.checkpoint}: it has '
                    f'{done} epochs, more than epochs={cfg.epochs}')
            model.load_state_dict(state['model'])
            optimizer.load_state_dict(state)
            best_epoch, best_state = state['best_epoch'], state['best_model']
            if best_epoch:
                best = state['best_value']
            seconds = state['seconds']
            set_rng_state(state['rng'][self.rank] if cfg.distributed
                          else state['rng'], train_loader)
            if best_state is not None and cfg.best_weights and self.main:
                save_atomic(best_state, cfg.best_weights)  # Agree with it.
            write(f'resuming from epoch {done} of {cfg.checkpoint}',
                  self._log)

        if done and (done == cfg.epochs or self._patience_ran_out(
                done, best_epoch)):
            write(f'{cfg.checkpoint} holds a finished run ({done} epochs, '
                  f'kept epoch {best_epoch}): nothing left to train',
                  self._log)
            done = cfg.epochs
        for epoch in range(done + 1, cfg.epochs + 1):
            tic = time.perf_counter()
            lr = epoch_lr(cfg.lr, cfg.lr_decay, epoch)
            optimizer.set_lr(lr)
            model.train()
            train_loss = self._epoch(train_loader, epoch, optimizer)
            model.eval()
            record = {'epoch': epoch, 'lr': lr, 'train_loss': train_loss}
            if not validate:  # Exactly cfg.epochs epochs, the last kept.
                best_epoch = epoch
            else:
                val_loader.generator.manual_seed(cfg.seed + 1)  # Same.
                val_loader.link_sampler.generator.manual_seed(
                    distributed.process_seed(cfg.seed + 1, self.rank))
                record['valid_loss'] = valid_loss = self._epoch(
                    val_loader, epoch, None)
            if monitor is not None and (epoch % eval_every == 0 or (
                    not by_loss and epoch == cfg.epochs)):
                metrics = monitor.evaluate(model)['metrics']
                record.update({f'valid_{k}': metrics[k]
                               for k in ('ndcg@10', 'recall@10')})
            value = -float('inf') if not validate else (
                -valid_loss if by_loss else record.get(
                    f'valid_{cfg.select_by}', -float('inf')))
            if value > best:
                best, best_epoch = value, epoch
                best_state = {k: v.detach().clone()
                              for k, v in model.state_dict().items()}
                if cfg.best_weights and self.main:
                    save_atomic(best_state, cfg.best_weights)
            record['seconds'] = time.perf_counter() - tic
            records.append(record)
            if cfg.checkpoint:
                rng = get_rng_state(train_loader)
                if cfg.distributed:  # Every rank's streams.
                    rng = distributed.all_gather_objects(rng)
            if cfg.checkpoint and self.main:
                save_atomic({
                    'format': CHECKPOINT_FORMAT,
                    'settings': settings,
                    'epoch': epoch,
                    'model': model.state_dict(),
                    **optimizer.state_dict(),
                    'best_epoch': best_epoch,
                    'best_value': best if best_epoch else None,
                    'best_model': best_state,
                    'records': records,
                    'seconds': seconds + time.perf_counter() - start,
                    'rng': rng,
                }, cfg.checkpoint)
            rate = f'  lr {lr:.3g}' if cfg.lr_decay != 1.0 else ''
            write(_summary(record, cfg.epochs, best_epoch,
                           -best if by_loss else best, cfg.select_by, rate)
                  if validate else
                  f"epoch {epoch:>3}/{cfg.epochs}{rate}  train "
                  f"{train_loss:.4f}  (no validation: the last epoch is "
                  f"kept)  {record['seconds']:.1f}s", self._log)
            if self._patience_ran_out(epoch, best_epoch):
                write(f'no better validation {cfg.select_by} for '
                      f'{cfg.patience} epochs: stopping', self._log)
                break

        if not validate:  # The last epoch's weights.
            best_epoch = len(records)
            best_state = {k: v.detach().clone()
                          for k, v in model.state_dict().items()}
            if cfg.best_weights and self.main:
                save_atomic(best_state, cfg.best_weights)
        if best_state is None:
            raise RuntimeError(f'no epoch was selected: ran {len(records)} '
                               f'epoch(s), validation {cfg.select_by} never '
                               f'measured a number')
        model.load_state_dict(best_state)
        return {'best_epoch': best_epoch,
                'best_valid_loss': (records[best_epoch - 1].get('valid_loss')
                                    if best_epoch else None),
                'epochs': records,
                'seconds': seconds + time.perf_counter() - start}

    def _patience_ran_out(self, epoch: int, best_epoch: int) -> bool:
        patience = self.config.patience
        return patience is not None and epoch - best_epoch >= patience

    def _settings(self) -> Dict[str, Any]:
        r"""What a checkpoint must agree with to be resumed: everything that
        changes the course of training (the model's class, constructor
        arguments and parameter shapes, the training settings, the training
        and validation interactions), but :obj:`epochs`, :obj:`patience` and
        the device."""
        cfg, model = self.config, self.model
        settings = {'model': type(model).__name__}
        arguments = {name for base in type(model).__mro__
                     if issubclass(base, Recommender)
                     for name in inspect.signature(base.__init__).parameters}
        settings.update({
            f'model.{name}': getattr(model, name)
            for name in sorted(arguments | {'max_history', 'history_sampling'})
            if isinstance(getattr(model, name, None),
                          (bool, int, float, str))})
        settings.update({f'shape of {k}': list(v.shape)
                         for k, v in model.state_dict().items()})
        settings.update({k: getattr(cfg, k) for k in (
            'lr', 'lr_decay', 'optimizer', 'batch_size', 'seed', 'select_by',
            'eval_every', 'eval_users', 'num_workers')})
        if cfg.num_neighbors is not None:
            settings['num_neighbors'] = list(cfg.num_neighbors)
        settings['num_negatives'] = cfg.num_negatives
        settings['share_negatives'] = cfg.share_negatives
        for split in ('train', 'val'):
            count, checksum = edge_checksum(self.data, split)
            settings[f'{split} interactions'] = count
            settings[f'{split} checksum'] = checksum
        if cfg.distributed:  # Each process has its own random streams.
            settings['processes'] = self.world_size
        if not cfg.validate:
            settings['validate'] = False
        return settings


class _Loss(torch.nn.Module):
    r"""The training loss of :obj:`model` as a module's forward pass, for
    :class:`~torch.nn.parallel.DistributedDataParallel` to wrap."""
    def __init__(self, model: Recommender):
        super().__init__()
        self.model = model

    def forward(self, batch: TripletBatch) -> Tensor:
        return self.model.loss(batch)


def _replicate(model: Recommender
               ) -> Tuple[torch.nn.Module, 'distributed.GradientExchange']:
    r""":obj:`model`'s loss wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel` (rank ``0``'s
    weights broadcast once; sparse table gradients where the model looks
    its tables up sparsely; buffers, made from the graph on every rank,
    never broadcast: LightGCN's sparse adjacency cannot be), with
    gradients summed over the processes
    (:class:`~hlr_graph.distributed.GradientExchange`), and that hook."""
    from torch.nn.parallel import DistributedDataParallel
    with warnings.catch_warnings():  # Its replacement syncs them at init.
        warnings.simplefilter('ignore', FutureWarning)
        replica = DistributedDataParallel(_Loss(model),
                                          broadcast_buffers=False)
    exchange = distributed.GradientExchange()
    replica.register_comm_hook(None, exchange.hook)
    return replica, exchange


def edge_checksum(data: HeteroData, split: str) -> Tuple[int, int]:
    r"""The number of :obj:`split`'s interactions (``'train'``, ``'val'``
    or ``'test'``) and the CRC-32 of their ``[2, E]`` edge index: how a
    checkpoint and a run's ``run.json`` recognise the graph they were made
    on."""
    edges = split_edges(data, split).cpu().contiguous()
    return edges.size(1), zlib.crc32(edges.numpy().tobytes())


def _check_settings(path: str, saved: Dict[str, Any], now: Dict[str, Any]):
    for key in list(now) + [k for k in saved if k not in now]:
        if saved.get(key) != now.get(key):
            raise ValueError(
                f'cannot resume from {path}: it was written with {key} = '
                f'{saved.get(key)!r}, this run has {key} = {now.get(key)!r}')


def _load_optimizer(optimizer: torch.optim.Optimizer, state: Dict):
    r"""Loads :obj:`state` into :obj:`optimizer` but keeps the
    implementation (fused or not) chosen for this torch and device."""
    keep = [{k: group.get(k) for k in ('fused', 'foreach')}
            for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, implementation in zip(optimizer.param_groups, keep):
        group.update(implementation)


def load_checkpoint(path: str) -> Dict:
    r"""Reads the training state :class:`Trainer` wrote at :obj:`path`
    (with ``torch.load(..., weights_only=True)``: tensors and plain values
    only).

    Raises:
        ValueError: The file is not such a checkpoint.
    """
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:
        raise ValueError(f'cannot resume from {path}: not a readable '
                         f'checkpoint ({error})') from error
    if not isinstance(state, dict) or \
            state.get('format') != CHECKPOINT_FORMAT:
        raise ValueError(f'cannot resume from {path}: not a training '
                         f'checkpoint of format {CHECKPOINT_FORMAT}')
    return state


def get_rng_state(loader: Optional[TripletLoader] = None) -> Dict:
    r"""Every random generator training draws from, as tensors and plain
    values: torch's global CPU generator (and CUDA's where it was started),
    numpy's and Python's global ones, and the batch-order and sampler
    generators of :obj:`loader`."""
    version, mt, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state = {
        'torch': torch.get_rng_state(),
        'cuda': (torch.cuda.get_rng_state_all()
                 if torch.cuda.is_initialized() else []),
        'numpy': {'key': torch.from_numpy(
                      np_state['state']['key'].astype(np.int64)),
                  'pos': int(np_state['state']['pos']),
                  'has_gauss': int(np_state['has_gauss']),
                  'gauss': float(np_state['gauss'])},
        'python': {'version': version, 'state': torch.tensor(mt),
                   'gauss_next': gauss},
    }
    if loader is not None:
        state['loader'] = loader.generator.get_state()
        state['sampler'] = loader.link_sampler.generator.get_state()
    return state


def set_rng_state(state: Dict, loader: Optional[TripletLoader] = None):
    r"""Restores the generators :func:`get_rng_state` read."""
    torch.set_rng_state(state['torch'])
    if state['cuda'] and torch.cuda.is_available():
        for device, cuda in enumerate(
                state['cuda'][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda, device)
    numpy = state['numpy']
    np.random.set_state({
        'bit_generator': 'MT19937',
        'state': {'key': numpy['key'].numpy().astype(np.uint32),
                  'pos': numpy['pos']},
        'has_gauss': numpy['has_gauss'], 'gauss': numpy['gauss']})
    python = state['python']
    random.setstate((python['version'], tuple(python['state'].tolist()),
                     python['gauss_next']))
    if loader is not None:
        loader.generator.set_state(state['loader'])
        loader.link_sampler.generator.set_state(state['sampler'])


def _summary(record: Dict, epochs: int, best_epoch: int, best: float,
             select_by: str, rate: str = '') -> str:
    extra = ''.join(f'  {k[6:]} {v:.4f}' for k, v in record.items()
                    if k.startswith('valid_') and k != 'valid_loss')
    kept = (f'{best:.4f} (epoch {best_epoch})' if best_epoch else
            'not measured yet')
    return (f"epoch {record['epoch']:>3}/{epochs}{rate}  train "
            f"{record['train_loss']:.4f}"
            f"  valid {record['valid_loss']:.4f}{extra}  best {select_by} "
            f"{kept}  {record['seconds']:.1f}s")


def _remove_partial_saves(path: Optional[str]):
    r"""Removes the temporary files of :func:`save_atomic` that a killed
    process left beside :obj:`path`."""
    if path:
        for tmp in glob.glob(f'{glob.escape(path)}.*.tmp'):
            if tmp[len(path) + 1:-4].isdigit():
                os.remove(tmp)


def save_atomic(obj: Any, path: str):
    r"""Saves :obj:`obj` with :func:`torch.save` through a temporary file and
    :func:`os.replace`, so that :obj:`path` always holds a whole file, the
    old one or the new one, even if the process is killed meanwhile."""
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
