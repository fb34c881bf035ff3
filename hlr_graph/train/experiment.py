r"""One experiment end to end: data set -> model -> training -> full-ranking
test -> ``results.json`` (and the lists, for re-checking elsewhere).

A run directory holds ``run.json`` (the experiment record, written when the
run starts), ``checkpoint.pt`` (the training state, every epoch),
``model.pt`` (the kept epoch's weights) and, once finished,
``results.json``; a refit (:attr:`Experiment.refit`) also holds
``selection_model.pt`` (the selection run's kept weights) and
``refit_checkpoint.pt`` (the refit's training state), and its ``model.pt``
is the refit's. A run that replaces another keeps the old run's files in
``.replaced`` until it has a checkpoint of its own (:func:`recover_run`)."""
import csv
import json
import os
import os.path as osp
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Dict, List, Optional, Sequence

import torch
import torch_geometric
from torch import Tensor

from hlr_graph import distributed
from hlr_graph.data.graph import ITEM, USER, refit_view, split_edges
from hlr_graph.data.registry import DATASETS, load_dataset, loaded_name
from hlr_graph.evaluation.evaluator import Evaluator
from hlr_graph.models.base import Recommender
from hlr_graph.models.registry import (
    MODELS,
    TRAINING_SETTINGS,
    build_model,
    default_hyperparameters,
    model_arguments,
    setting_names,
    trained_by_gradient,
    with_flags,
)
from hlr_graph.progress import write
from hlr_graph.train.trainer import TrainConfig, Trainer, edge_checksum

RUN_FILE, RESULTS_FILE = 'run.json', 'results.json'
CHECKPOINT_FILE, WEIGHTS_FILE = 'checkpoint.pt', 'model.pt'
SELECTION_WEIGHTS_FILE = 'selection_model.pt'
REFIT_CHECKPOINT_FILE = 'refit_checkpoint.pt'
LIST_FILES = ('recommendations.csv', 'train.csv', 'valid.csv', 'test.csv')
PLOT_FILES = ('loss.png', 'valid_metrics.png', 'test_metrics.png')
RUN_FILES = (RUN_FILE, CHECKPOINT_FILE, SELECTION_WEIGHTS_FILE,
             REFIT_CHECKPOINT_FILE, WEIGHTS_FILE, RESULTS_FILE, *LIST_FILES,
             *PLOT_FILES)
r"""The files a run writes into its output directory, in that order (the
plots with ``hlr-graph train --plot``, ``selection_model.pt`` and
``refit_checkpoint.pt`` with ``--refit``)."""
REPLACED = '.replaced'
r"""The sub-folder of a run directory that holds the files of the run a new
run replaces, until the new one has its first checkpoint."""
RUN_KEYS = ('dataset', 'model', 'data_options', 'model_arguments', 'train',
            'ks', 'metric_mode', 'num_cohorts', 'cohort_size', 'eval_users',
            'save_recommendations', 'test')
r"""The entries every ``run.json`` holds."""
SPLIT_NAMES = {'train': 'training', 'val': 'validation', 'test': 'test'}


@dataclass
class Experiment:
    r"""Everything one run depends on.

    Attributes:
        dataset (str): A data set name or the path of a CSV / TSV file.
        model (str): A model name (:obj:`hlr_graph.models.MODELS`).
        data_options (dict): Keyword arguments of
            :func:`~hlr_graph.data.load_dataset` (``root``, ``threshold``,
            ``k_core``, ``split``, ``seed``, ``cache_dir``,
            ``file_options``, ...); those not given take the data set's
            defaults.
        preset (str): Whose settings the model takes where
            :obj:`hyperparameters` sets nothing: ``'paper'``, the authors',
            or ``'best'``, this project's validation searches'
            (:func:`~hlr_graph.models.default_hyperparameters`).
            (default: ``'paper'``)
        hyperparameters (dict): Overrides of the preset's settings for this
            data set and model: the model's arguments and the training
            settings a setting may carry (``lr``, ``num_negatives``:
            :obj:`~hlr_graph.models.registry.TRAINING_SETTINGS`).
        train (TrainConfig): Training settings; its ``lr`` and
            ``num_negatives`` are replaced by the hyperparameters' ones
            where they hold them, its ``checkpoint`` and
            ``best_weights`` by the files of :obj:`output_dir`.
        ks (Sequence[int]): Metric cut-offs.
        metric_mode (str): ``'standard'`` or ``'reference'`` MAP / MRR.
        num_cohorts (int): Test cohorts (``0``: all users only).
        cohort_size (int): Users per cohort.
        eval_users (int, optional): Test a random subset of this many
            users only. (The validation metrics rank the sample of
            :attr:`TrainConfig.eval_users`.)
        output_dir (str, optional): Where the run's files are written.
        save_recommendations (bool): Also write the top-K lists and the
            split as CSV files with original ids.
        test (bool): Measure on the test interactions (off while tuning, so
            that selection never sees them).
        resume (bool): Continue the stopped run of :obj:`output_dir` from
            its ``checkpoint.pt`` (build the experiment with
            :meth:`from_record` of its ``run.json``); a refit continues
            from ``refit_checkpoint.pt`` once the selection run is done.
        refit (bool): Choose the number of epochs on the validation split
            (the kept epoch :math:`E^*` of an ordinary run, by the
            validation loss or :attr:`TrainConfig.select_by`), then
            rebuild the model from the same seed, train it on the training
            and validation interactions together
            (:func:`~hlr_graph.data.graph.refit_view`) for exactly
            :math:`E^*` epochs with no selection, and measure the test
            once, on that model; closed-form models are fitted again on
            both. Needs :obj:`test`, and not
            :attr:`TrainConfig.distributed`. (default: :obj:`False`)
    """
    dataset: str = 'synthetic'
    model: str = 'cml'
    data_options: Dict = field(default_factory=dict)
    preset: str = 'paper'
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
    resume: bool = False
    refit: bool = False

    @classmethod
    def from_record(cls, record: Dict,
                    output_dir: Optional[str] = None) -> 'Experiment':
        r"""The experiment a ``run.json`` :obj:`record` describes, settled
        as it ran: the data set's resolved options (``dataset.options``)
        and the model's resolved arguments. Where the files are now
        (``root``, ``cache_dir``, a moved file) is the caller's to add to
        :obj:`data_options`."""
        data = dict(record.get('data') or record['data_options'])
        name = data.pop('name', record['dataset'])
        known = {f.name for f in fields(TrainConfig)}
        train = TrainConfig(**{k: v for k, v in record['train'].items()
                               if k in known})
        return cls(
            dataset=name, model=record['model'], data_options=data,
            preset=record.get('preset', 'paper'),
            hyperparameters={**record['model_arguments'],
                             **{name: getattr(train, name)
                                for name in TRAINING_SETTINGS
                                if name in setting_names(record['model'])}},
            train=train, ks=tuple(record['ks']),
            metric_mode=record['metric_mode'],
            num_cohorts=record['num_cohorts'],
            cohort_size=record['cohort_size'],
            eval_users=record['eval_users'],
            output_dir=output_dir,
            save_recommendations=record['save_recommendations'],
            test=record['test'], resume=output_dir is not None,
            refit=record.get('refit', False))

    def settings(self, dataset: Optional[str] = None) -> Dict:
        r"""The settings the run takes on the data set named
        :obj:`dataset` (its ``name``; by default the one
        :attr:`dataset` loads as,
        :func:`~hlr_graph.data.registry.loaded_name`): the model's
        arguments and the training settings of
        :obj:`~hlr_graph.models.registry.TRAINING_SETTINGS`,
        :attr:`hyperparameters` over :attr:`preset`'s for the data set's
        family (:func:`~hlr_graph.models.registry.with_flags`)."""
        name = loaded_name(self.dataset) if dataset is None else dataset
        return with_flags(default_hyperparameters(name, self.model,
                                                  self.preset),
                          self.hyperparameters)


def run_experiment(exp: Experiment) -> Dict:
    r"""Runs :obj:`exp` and returns its results (the ``results.json``
    content).

    With an :obj:`~Experiment.output_dir`, the data set is loaded and the
    model built first; then ``run.json`` is written, training saves its
    state to ``checkpoint.pt`` every epoch and the kept weights to
    ``model.pt``, and ``results.json`` comes last. A fresh run replaces a
    previous run's files (:obj:`RUN_FILES`) in the folder: it sets them
    aside (in :obj:`REPLACED`) and removes them only once it has a
    checkpoint of its own, or has finished. If the run fails before a
    checkpoint exists, it leaves nothing behind: no ``run.json``, no folder
    it created, and the run it was to replace is back in place; after one,
    the folder is kept for :obj:`~Experiment.resume`. Resuming checks that
    the graph is the one of the run (:func:`check_graph`).

    With :attr:`TrainConfig.distributed`, every process started by
    ``torchrun`` runs this function: it joins the process group
    (:func:`hlr_graph.distributed.init`), rank ``0`` loads (and caches) the
    data set before the others read it, training and ranking are shared
    out (:class:`~hlr_graph.train.Trainer`,
    :class:`~hlr_graph.evaluation.Evaluator`), and rank ``0`` alone writes
    the run's files (:obj:`output_dir` must be a folder every process
    reads, to resume). Every process returns the same results.

    With :attr:`~Experiment.refit`, the selection run keeps its weights in
    ``selection_model.pt`` (its checkpoint is ``checkpoint.pt``), the refit
    writes ``refit_checkpoint.pt`` every epoch and its weights to
    ``model.pt``, and the results add ``'protocol': 'refit'`` and a
    ``'refit'`` entry (:func:`run_refit`); ``best_epoch``,
    ``best_valid_loss``, ``valid`` and ``epochs`` stay the selection
    run's, ``test`` is the refit's, measured once. A stopped refit
    resumes: the finished selection run is read back from its checkpoint,
    the refit continues from its own.

    Raises:
        ValueError: A split of the data set is empty, (resuming) the
            data changed since the run, :attr:`~Experiment.refit` without
            :attr:`~Experiment.test` or with distributed training, or
            :attr:`~Experiment.hyperparameters` name a setting the model
            does not take (``lr`` for one fitted in closed form).
    """
    out = exp.output_dir
    if exp.resume and not out:
        raise ValueError('resume needs the output_dir of the stopped run')
    if exp.refit and not exp.test:
        raise ValueError('refit measures the test split once: it needs '
                         'test=True')
    if exp.refit and exp.train.distributed:
        raise ValueError('refit does not train distributed (yet): train in '
                         'one process')
    unknown = (set(exp.hyperparameters) - setting_names(exp.model)
               if exp.model in MODELS else ())
    if unknown:  # lr or lr_decay for a model fitted in closed form.
        raise ValueError(f"model '{exp.model}' takes no {sorted(unknown)}")
    many = exp.train.distributed
    if many:
        distributed.init()
    main = distributed.is_main()
    if many and not main:
        distributed.barrier()  # Rank 0 processes the data set first.
    dataset = load_dataset(exp.dataset, log=exp.train.log and main,
                           **exp.data_options)
    if many and main:
        distributed.barrier()
    check_splits(dataset, ('train', 'val', 'test') if exp.test
                 else ('train', 'val'))
    if exp.resume:
        check_graph(read_run(out), dataset, osp.join(out, RUN_FILE))
    data = dataset[0]
    hyperparameters = exp.settings(dataset.name)
    train = replace(exp.train, **{
        name: hyperparameters.pop(name) for name in TRAINING_SETTINGS
        if name in hyperparameters})
    arguments = model_arguments(exp.model, **hyperparameters)
    created = aside = None
    if out:
        train = replace(train, checkpoint=osp.join(out, CHECKPOINT_FILE),
                        best_weights=osp.join(out, SELECTION_WEIGHTS_FILE
                                              if exp.refit else WEIGHTS_FILE))
    if out and main:
        created = _make_dirs(out)
        recover_run(out)
        if not exp.resume:
            aside = _set_aside(out)
            write_json(_record(exp, dataset, arguments, train),
                       osp.join(out, RUN_FILE))
    try:
        results = _run(exp, dataset, data, arguments, train)
    except BaseException:
        if out and main and not osp.exists(osp.join(out, CHECKPOINT_FILE)):
            _remove_run(out, created, keep_record=exp.resume)
        if aside:
            recover_run(out)  # Back in place, or gone after a checkpoint.
        raise
    if aside:
        recover_run(out)  # The finished run replaces the old one.
    return results


def _run(exp: Experiment, dataset, data, arguments: Dict,
         train: TrainConfig) -> Dict:
    torch.manual_seed(train.seed)
    model = build_model(exp.model, data[USER].num_nodes, data[ITEM].num_nodes,
                        split_edges(data, 'train'), **arguments)
    resume = exp.resume and osp.exists(train.checkpoint)
    fit = Trainer(model, data, train).fit(resume=resume)

    valid = Evaluator(data, 'val', exp.ks, exp.metric_mode, num_cohorts=0,
                      max_users=train.eval_users,
                      distributed=train.distributed).evaluate(model)
    results = {
        'dataset': dataset.name,
        'model': exp.model,
        'split': dataset.split,
        'split_seed': dataset.seed,
        'seed': train.seed,
        'preset': exp.preset,
        'hyperparameters': {**arguments, **{
            key: getattr(train, key) for key in GRADIENT_KEYS
            if trained_by_gradient(exp.model)},
            'valid_users': train.eval_users, 'eval_users': exp.eval_users},
        'best_epoch': fit['best_epoch'],
        'best_valid_loss': fit['best_valid_loss'],
        'train_seconds': fit['seconds'],
        'metric_mode': exp.metric_mode,
        'valid': valid['metrics'],
        'num_valid_users': valid['num_users'],
        'data': dataset.stats,
        'data_options': dataset.options,
        'epochs': fit['epochs'],
        'environment': _environment(train.device),
    }
    tested = data
    if exp.refit:
        model, tested, results['refit'] = run_refit(
            exp, data, arguments, train, fit['best_epoch'])
        results['protocol'] = 'refit'
    if exp.test:
        tic = time.perf_counter()
        evaluator = Evaluator(tested, 'test', exp.ks, exp.metric_mode,
                              exp.num_cohorts, exp.cohort_size,
                              max_users=exp.eval_users,
                              distributed=train.distributed)
        items, scores = evaluator.rank(model, progress=train.progress)
        report = evaluator.report(items)
        results.update({
            'eval_seconds': time.perf_counter() - tic,
            'num_test_users': report['num_users'],
            'test': report['metrics'],
            'test_cohorts': report.get('cohorts', {}),
            'cohort_size': report.get('cohort_size'),
        })
    if exp.output_dir and distributed.is_main():
        if exp.test and exp.save_recommendations:
            _write_lists(data, evaluator.users, items, scores, exp.output_dir)
        write_json(results, osp.join(exp.output_dir, RESULTS_FILE))
    return results


GRADIENT_KEYS = ('lr', 'lr_decay', 'num_negatives', 'share_negatives',
                 'batch_size', 'epochs', 'patience', 'select_by', 'eval_every')
r"""Keys of ``results.json``'s ``hyperparameters`` that belong to training
by gradient (:class:`TrainConfig` fields), recorded for such models only."""
TRAINING_KEYS = (*GRADIENT_KEYS, 'valid_users', 'eval_users')
r"""Keys of ``results.json``'s ``hyperparameters`` that belong to training
and evaluation, not to the model: :obj:`GRADIENT_KEYS` and the sizes of
the validation and the test samples (:attr:`TrainConfig.eval_users`,
:attr:`Experiment.eval_users`), recorded for every model."""


def run_refit(exp: Experiment, data, arguments: Dict, train: TrainConfig,
              epochs: int):
    r"""The refit of :attr:`Experiment.refit`: the model rebuilt from
    :attr:`TrainConfig.seed` on the training and validation interactions
    of :obj:`data` (:func:`~hlr_graph.data.graph.refit_view`) and trained
    on them for exactly :obj:`epochs` epochs, the number the selection run
    kept (:attr:`TrainConfig.validate` off; a closed-form model is fitted
    on them), with its checkpoint in ``refit_checkpoint.pt`` and its
    weights in ``model.pt`` of :obj:`~Experiment.output_dir`.

    Args:
        exp (Experiment): The experiment.
        data (HeteroData): The graph of the selection run.
        arguments (Dict): The model's arguments.
        train (TrainConfig): The selection run's training settings.
        epochs (int): The selection run's kept epoch (``0``: closed form).

    Returns:
        ``(model, view, record)``: the refit model, the graph it was trained
        on (whose test ranking excludes training and validation items, as
        the selection run's graph does), and the ``'refit'`` entry of the
        results: ``epochs``, ``train_interactions``, ``train_loss`` (the
        last epoch's), ``records`` (per epoch), ``train_seconds`` and
        ``test_evaluations`` (``1``: the test is measured on this model
        only).
    """
    view = refit_view(data)
    out = exp.output_dir
    config = replace(train, epochs=epochs, patience=None, eval_every=0,
                     validate=False,
                     checkpoint=(osp.join(out, REFIT_CHECKPOINT_FILE)
                                 if out else None),
                     best_weights=osp.join(out, WEIGHTS_FILE) if out else None)
    torch.manual_seed(train.seed)
    model = build_model(exp.model, view[USER].num_nodes, view[ITEM].num_nodes,
                        split_edges(view, 'train'), **arguments)
    resume = exp.resume and out is not None and osp.exists(config.checkpoint)
    write(f'refit: training on the training and validation interactions '
          f'for {epochs} epoch(s), the number selected on the validation '
          'split', train.log and distributed.is_main())
    fit = Trainer(model, view, config).fit(resume=resume)
    records = fit['epochs']
    return model, view, {
        'description': (
            'best_epoch, best_valid_loss, valid and epochs are the selection '
            'run (trained on the training split, selected on the validation '
            'split); the model was then rebuilt from the same seed, trained '
            'on the training and validation interactions for best_epoch '
            'epochs with no selection, and measured on the test split once'),
        'epochs': len(records),
        'train_interactions': split_edges(view, 'train').size(1),
        'train_loss': records[-1]['train_loss'] if records else None,
        'records': records,
        'train_seconds': fit['seconds'],
        'test_evaluations': 1,
    }


def load_model(run_dir: str, data) -> Recommender:
    r"""The kept-epoch model of a finished run of :func:`run_experiment`,
    in evaluation mode.

    Args:
        run_dir (str): The run's folder: its ``results.json`` (the model and
            its hyperparameters) and ``model.pt`` (the kept epoch's weights,
            a plain ``state_dict``, read with ``weights_only=True``).
        data (HeteroData): The graph the run was trained on (a refit's
            model is built on its :func:`~hlr_graph.data.graph.refit_view`).
    """
    results = read_json(osp.join(run_dir, RESULTS_FILE),
                        ('model', 'hyperparameters'),
                        'the results of a run of hlr-graph train')
    arguments = {k: v for k, v in results['hyperparameters'].items()
                 if k not in TRAINING_KEYS}
    graph = refit_view(data) if results.get('protocol') == 'refit' else data
    model = build_model(results['model'], data[USER].num_nodes,
                        data[ITEM].num_nodes, split_edges(graph, 'train'),
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
            'processes': distributed.world_size(),
            'machine': platform.machine(), 'argv': sys.argv}


def read_json(path: str, keys: Sequence[str] = (),
              what: str = 'the file it should be') -> Dict:
    r"""The JSON object in :obj:`path`, which must hold :obj:`keys`.

    Args:
        path (str): The file.
        keys (Sequence[str]): Entries it must have.
        what (str): What the file should be, for messages (``'the results
            of a run'``).

    Raises:
        FileNotFoundError: There is no such file.
        ValueError: The file is not JSON, not an object, or lacks one of
            :obj:`keys` (the message names the file).
    """
    with open(path, 'rb') as f:
        try:
            obj = json.load(f)
        except ValueError as e:  # Not JSON, or not text at all.
            raise ValueError(f'{path}: not valid JSON ({e}), so not {what}'
                             ) from None
    if not isinstance(obj, dict):
        raise ValueError(f'{path}: a JSON {type(obj).__name__}, not an '
                         f'object, so not {what}')
    missing = [key for key in keys if key not in obj]
    if missing:
        raise ValueError(f"{path}: no {', '.join(map(repr, missing))} "
                         f'entry, so not {what}')
    return obj


def read_run(run_dir: str) -> Dict:
    r"""The ``run.json`` record of the run in :obj:`run_dir`.

    Raises:
        FileNotFoundError: :obj:`run_dir` is not a folder, or holds no
            ``run.json`` (the message names the path).
        ValueError: Its ``run.json`` is not a record of
            :func:`run_experiment` (:obj:`RUN_KEYS`).
    """
    if not osp.isdir(run_dir):
        raise FileNotFoundError(f'{run_dir}: no such run directory')
    path = osp.join(run_dir, RUN_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{run_dir}: no {RUN_FILE} in it, so not a '
                                'run of hlr-graph train')
    return read_json(path, RUN_KEYS, 'the record of a run of hlr-graph '
                     'train')


def graph_fingerprint(data) -> Dict[str, Dict[str, int]]:
    r"""``{split: {'interactions': E, 'checksum': CRC-32}}`` of the
    training, validation and test edges of :obj:`data`
    (:func:`~hlr_graph.train.trainer.edge_checksum`): what ``run.json``
    records of the graph, so that a changed data file is noticed."""
    return {split: dict(zip(('interactions', 'checksum'),
                            edge_checksum(data, split)))
            for split in SPLIT_NAMES}


def check_graph(record: Dict, dataset, source: str):
    r"""Raises :class:`ValueError` when :obj:`dataset` is not the graph
    that :obj:`record` (read from the file :obj:`source`: a ``run.json``, a
    search of ``hlr-graph tune``) was made on: a split's interactions differ
    in number or checksum (its ``'graph'``, :func:`graph_fingerprint`). The
    message names the data file (or the data set's folder). Records written
    before fingerprints were kept pass."""
    recorded = record.get('graph') or {}
    now = graph_fingerprint(dataset[0])
    for split, name in SPLIT_NAMES.items():
        then = recorded.get(split)
        if then is not None and then != now[split]:
            where = (f'the data file {dataset.path}' if hasattr(
                dataset, 'path') else f'the data of {dataset.name} in '
                f'{dataset.raw_dir}')
            raise ValueError(
                f"{where} changed since {source} was written: its "
                f"{name} split has {now[split]['interactions']} "
                f"interactions (checksum {now[split]['checksum']}), the "
                f"record has {then['interactions']} (checksum "
                f"{then['checksum']}); give the data it was made on")


def check_splits(dataset, splits: Sequence[str] = tuple(SPLIT_NAMES)):
    r"""Raises :class:`ValueError`, naming the data set and the split, when
    one of :obj:`splits` of :obj:`dataset` holds no interaction (too few
    interactions per user to split)."""
    data = dataset[0]
    counts = {split: split_edges(data, split).size(1)
              for split in SPLIT_NAMES}
    for split in splits:
        if counts[split] == 0:
            raise ValueError(
                f"data set '{dataset.name}': its {SPLIT_NAMES[split]} split "
                f"is empty ({counts['train']} training / {counts['val']} "
                f"validation / {counts['test']} test interactions after "
                'preprocessing): it needs more interactions per user, or '
                'other --threshold, --k-core or --split')


def run_files(run_dir: str) -> List[str]:
    r"""The paths of the run files (:obj:`RUN_FILES`) present in
    :obj:`run_dir`."""
    return [osp.join(run_dir, name) for name in RUN_FILES
            if osp.exists(osp.join(run_dir, name))]


def _record(exp: Experiment, dataset, arguments: Dict,
            train: TrainConfig) -> Dict:
    r"""The ``run.json`` content: the experiment as requested and as
    settled (the data set's ``options``, every model argument, the training
    settings with their learning rate)."""
    name = exp.dataset
    if name not in DATASETS and osp.isfile(name):
        name = osp.abspath(name)
    requested = {k: v for k, v in exp.data_options.items()
                 if k not in ('root', 'cache_dir', 'force_reload')}
    return {
        'dataset': name,
        'model': exp.model,
        'data_options': requested,
        'data': {'name': name, **dataset.options},
        'location': {'root': osp.abspath(dataset.root),
                     'cache_dir': osp.abspath(dataset.cache_dir)},
        'graph': graph_fingerprint(dataset[0]),
        'preset': exp.preset,
        'hyperparameters': exp.hyperparameters,
        'model_arguments': arguments,
        'train': asdict(train),
        'ks': list(exp.ks),
        'metric_mode': exp.metric_mode,
        'num_cohorts': exp.num_cohorts,
        'cohort_size': exp.cohort_size,
        'eval_users': exp.eval_users,
        'save_recommendations': exp.save_recommendations,
        'test': exp.test,
        'refit': exp.refit,
        'started': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'argv': sys.argv,
    }


def _make_dirs(path: str) -> Optional[str]:
    r"""Makes :obj:`path` and returns the topmost folder this created
    (:obj:`None` if it existed)."""
    path, top = osp.abspath(path), None
    parent = path
    while not osp.exists(parent):
        top, parent = parent, osp.dirname(parent)
    os.makedirs(path, exist_ok=True)
    return top


def recover_run(run_dir: str):
    r"""Settles a replacement of the run in :obj:`run_dir` that did not end
    (it failed, or was killed): when the new run has neither a checkpoint
    nor results, its files go and the replaced run's files (in
    :obj:`REPLACED`) come back; otherwise the replaced files go. Does
    nothing when no run was being replaced."""
    aside = osp.join(run_dir, REPLACED)
    if not osp.isdir(aside):
        return
    if not any(osp.exists(osp.join(run_dir, name))
               for name in (CHECKPOINT_FILE, RESULTS_FILE)):
        _remove_run(run_dir, None, keep_record=False)
        for name in os.listdir(aside):
            os.replace(osp.join(aside, name), osp.join(run_dir, name))
    shutil.rmtree(aside)


def _set_aside(out: str) -> Optional[str]:
    r"""Moves the run files in :obj:`out` into :obj:`REPLACED` and returns
    that folder (:obj:`None` when there were none)."""
    names = [name for name in RUN_FILES if osp.exists(osp.join(out, name))]
    if not names:
        return None
    aside = osp.join(out, REPLACED)
    os.makedirs(aside)
    for name in names:
        os.replace(osp.join(out, name), osp.join(aside, name))
    return aside


def _remove_run(out: str, created: Optional[str], keep_record: bool):
    r"""Undoes a run that failed before its first checkpoint: its files, and
    the folders it created when they are left empty."""
    names = [n for n in RUN_FILES if not (keep_record and n == RUN_FILE)]
    for name in names:
        if osp.exists(osp.join(out, name)):
            os.remove(osp.join(out, name))
    if created is None:
        return
    folder = osp.abspath(out)
    while True:
        if osp.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
        if folder == created or osp.dirname(folder) == folder:
            break
        folder = osp.dirname(folder)
