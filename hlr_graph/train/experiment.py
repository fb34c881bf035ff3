r"""One experiment end to end: data set -> model -> training -> full-ranking
test -> ``results.json`` (and the lists, for re-checking elsewhere)."""
import csv
import json
import os
import os.path as osp
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

import torch
import torch_geometric
from torch import Tensor

from hlr_graph.data.graph import ITEM, USER, split_edges
from hlr_graph.data.registry import load_dataset
from hlr_graph.evaluation.evaluator import Evaluator
from hlr_graph.models.base import Recommender
from hlr_graph.models.registry import (
    build_model,
    default_hyperparameters,
    model_arguments,
)
from hlr_graph.train.trainer import TrainConfig, Trainer


@dataclass
class Experiment:
    r"""Everything one run depends on.

    Attributes:
        dataset (str): A data set name or the path of a CSV / TSV file.
        model (str): A model name (:obj:`hlr_graph.models.MODELS`).
        data_options (dict): Arguments of the data set (``root``,
            ``threshold``, ``k_core``, ``split``, ``seed``, ``cache_dir``,
            ``file_options``).
        hyperparameters (dict): Overrides of the authors' settings for this
            data set and model (``lr`` and the model's arguments).
        train (TrainConfig): Training settings; its ``lr`` is replaced by
            the hyperparameters' one.
        ks (Sequence[int]): Metric cut-offs.
        metric_mode (str): ``'standard'`` or ``'reference'`` MAP / MRR.
        num_cohorts (int): Test cohorts (``0``: all users only).
        cohort_size (int): Users per cohort.
        eval_users (int, optional): Test a random subset of users only.
        output_dir (str, optional): Where results are written.
        save_recommendations (bool): Also write the top-K lists and the
            split as CSV files with original ids.
        test (bool): Measure on the test interactions (off while tuning, so
            that selection never sees them).
    """
    dataset: str = 'synthetic'
    model: str = 'cml'
    data_options: Dict = field(default_factory=dict)
    hyperparameters: Dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    ks: Sequence[int] = (10, 20)
    metric_mode: str = 'standard'
    num_cohorts: int = 5
    cohort_size: int = 10_000
    eval_users: Optional[int] = None
    output_dir: Optional[str] = None
    save_recommendations: bool = False
    test: bool = True


def run_experiment(exp: Experiment) -> Dict:
    r"""Runs :obj:`exp` and returns its results (the ``results.json``
    content)."""
    dataset = load_dataset(exp.dataset, **exp.data_options)
    data = dataset[0]
    hyperparameters = {**default_hyperparameters(dataset.name, exp.model),
                       **exp.hyperparameters}
    train = TrainConfig(**{**asdict(exp.train),
                           'lr': hyperparameters.pop('lr', exp.train.lr)})
    hyperparameters = model_arguments(exp.model, **hyperparameters)
    if exp.output_dir:
        os.makedirs(exp.output_dir, exist_ok=True)
        train.checkpoint = osp.join(exp.output_dir, 'checkpoint.pt')

    torch.manual_seed(train.seed)
    model = build_model(exp.model, data[USER].num_nodes, data[ITEM].num_nodes,
                        split_edges(data, 'train'), **hyperparameters)
    fit = Trainer(model, data, train).fit()

    valid = Evaluator(data, 'val', exp.ks, exp.metric_mode, num_cohorts=0,
                      max_users=exp.eval_users).evaluate(model)
    results = {
        'dataset': dataset.name,
        'model': exp.model,
        'split': dataset.split,
        'split_seed': dataset.seed,
        'seed': train.seed,
        'hyperparameters': {**hyperparameters, 'lr': train.lr,
                            'batch_size': train.batch_size,
                            'epochs': train.epochs,
                            'patience': train.patience,
                            'select_by': train.select_by,
                            'eval_every': train.eval_every,
                            'eval_users': train.eval_users},
        'best_epoch': fit['best_epoch'],
        'best_valid_loss': fit['best_valid_loss'],
        'train_seconds': fit['seconds'],
        'metric_mode': exp.metric_mode,
        'valid': valid['metrics'],
        'data': dataset.stats,
        'epochs': fit['epochs'],
        'environment': _environment(train.device),
    }
    if exp.test:
        tic = time.perf_counter()
        evaluator = Evaluator(data, 'test', exp.ks, exp.metric_mode,
                              exp.num_cohorts, exp.cohort_size,
                              max_users=exp.eval_users)
        items, scores = evaluator.rank(model)
        report = evaluator.report(items)
        results.update({
            'eval_seconds': time.perf_counter() - tic,
            'num_test_users': report['num_users'],
            'test': report['metrics'],
            'test_cohorts': report.get('cohorts', {}),
            'cohort_size': report.get('cohort_size'),
        })
    if exp.output_dir:
        write_json(results, osp.join(exp.output_dir, 'results.json'))
        if exp.test and exp.save_recommendations:
            _write_lists(data, evaluator.users, items, scores, exp.output_dir)
    return results


TRAINING_KEYS = ('lr', 'batch_size', 'epochs', 'patience', 'select_by',
                 'eval_every', 'eval_users')
r"""Keys of ``results.json``'s ``hyperparameters`` that belong to training,
not to the model."""


def load_model(run_dir: str, data) -> Recommender:
    r"""The kept-epoch model of a finished run of :func:`run_experiment`,
    in evaluation mode.

    Args:
        run_dir (str): The run's folder: its ``results.json`` (the model and
            its hyperparameters) and ``model.pt`` (the kept epoch's weights,
            a plain ``state_dict``, read with ``weights_only=True``).
        data (HeteroData): The graph the run was trained on.
    """
    with open(osp.join(run_dir, 'results.json')) as f:
        results = json.load(f)
    arguments = {k: v for k, v in results['hyperparameters'].items()
                 if k not in TRAINING_KEYS}
    model = build_model(results['model'], data[USER].num_nodes,
                        data[ITEM].num_nodes, split_edges(data, 'train'),
                        **arguments)
    model.load_state_dict(torch.load(osp.join(run_dir, 'model.pt'),
                                     map_location='cpu', weights_only=True))
    return model.eval()


def write_json(obj: Dict, path: str):
    r"""Writes :obj:`obj` through a temporary file, so that an interrupted
    run leaves no half-written file."""
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def _write_csv(path: str, header: List[str], rows):
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def _write_lists(data, users: Tensor, items: Tensor, scores: Tensor,
                 folder: str):
    r"""``recommendations.csv`` (``user,rank,item,score``) and the split
    (``train.csv``, ``valid.csv``, ``test.csv``: ``user,item``), with original
    ids."""
    user_ids, item_ids = data[USER].raw_id, data[ITEM].raw_id
    _write_csv(osp.join(folder, 'recommendations.csv'),
               ['user', 'rank', 'item', 'score'],
               ((user_ids[u], rank + 1, item_ids[i], f'{s:.6g}')
                for u, row, values in zip(users.tolist(), items.tolist(),
                                          scores.tolist())
                for rank, (i, s) in enumerate(zip(row, values)) if i >= 0))
    for name, split in (('train', 'train'), ('valid', 'val'),
                        ('test', 'test')):
        edges = split_edges(data, split)
        _write_csv(osp.join(folder, f'{name}.csv'), ['user', 'item'],
                   ((user_ids[u], item_ids[i])
                    for u, i in zip(*edges.tolist())))


def _environment(device: str) -> Dict:
    accelerator = (torch.cuda.get_device_name(device)
                   if torch.device(device).type == 'cuda' else None)
    return {'python': platform.python_version(), 'torch': torch.__version__,
            'torch_geometric': torch_geometric.__version__,
            'device': device, 'accelerator': accelerator,
            'threads': torch.get_num_threads(),
            'machine': platform.machine(), 'argv': sys.argv}
