r"""What every command shares: running a command so that a mistake is one
``error:`` line, the device flag checked before any data loads, output
folders and files, the evaluation flags, reading a run directory under its
own data options and graph, the metrics table, and running tasks in worker
processes."""
import argparse
import functools
import os.path as osp
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import fields
from multiprocessing import get_context
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
)

import torch

from hlr_graph.data.cli import (
    DATA_FLAGS,
    MISTAKES,
    ArgumentParser,
    UsageError,
    check_folder,
    execute,
    flat_options,
    integer,
    is_file_dataset,
    run_data_options,
)
from hlr_graph.data.registry import load_dataset
from hlr_graph.evaluation import METRIC_MODES
from hlr_graph.train.experiment import (
    RESULTS_FILE,
    RUN_FILE,
    WEIGHTS_FILE,
    Experiment,
    check_graph,
    read_run,
)
from hlr_graph.train.trainer import NonFiniteLossError

ERRORS = (*MISTAKES, NonFiniteLossError)
r"""Exceptions that are the user's to fix (a flag, a file, a folder, a
learning rate that makes the loss diverge), with the :class:`ValueError` s
the package raises on purpose (:func:`~hlr_graph.data.cli.is_mistake`):
shown as one ``error:`` line with exit code ``2``. Anything else is a bug
and keeps its traceback."""


def command(add_arguments: Callable[[ArgumentParser], None],
            run: Callable[[argparse.Namespace, ArgumentParser], int],
            argv: Optional[Sequence[str]], prog: Optional[str] = None,
            description: Optional[str] = None) -> int:
    r"""Runs a command as a function: builds its parser with
    :obj:`add_arguments`, parses :obj:`argv` and calls
    ``run(args, parser)``, and returns the exit code (``2`` with one
    ``error:`` line for a mistake, ``130`` when interrupted)."""
    parser = ArgumentParser(
        prog=prog, description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return execute(parser, argv, lambda args: run(args, parser), ERRORS)


def device(text: str) -> str:
    r"""An argparse ``type``: a torch device this machine has, checked when
    the flags are read (before any data loads)."""
    try:
        value = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a device: give cpu, cuda, cuda:N or mps"
        ) from None
    if value.type == 'cuda':
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(
                f"'{text}': no CUDA GPU is available here (torch "
                f'{torch.__version__}, torch.cuda.is_available() is False)')
        if value.index is not None and \
                value.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"'{text}': this machine has {torch.cuda.device_count()} "
                'CUDA device(s)')
    elif value.type == 'mps':
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError(
                f"'{text}': the MPS backend is not available here")
    elif value.type != 'cpu':
        raise argparse.ArgumentTypeError(
            f"'{text}': only cpu, cuda and mps devices are supported")
    return text


def add_parallel_arguments(parser: argparse.ArgumentParser, what: str):
    r"""Adds ``--device`` and ``--jobs`` (:obj:`what` run at once, see
    :func:`run_parallel`) to :obj:`parser`."""
    parser.add_argument('--device', type=device, default='cpu',
                        help=f"torch device of the {what}, e.g. 'cuda'")
    parser.add_argument('--jobs', type=integer(1), default=1,
                        help=f'{what} run at once, in worker processes '
                        "sharing torch's threads (or one GPU) when above 1")


def add_evaluation_arguments(parser: argparse.ArgumentParser,
                             of_run: bool = False):
    r"""Adds the evaluation flags (``--ks``, ``--metric-mode``,
    ``--cohorts``, ``--cohort-size``, ``--eval-users``) to :obj:`parser`,
    named by the :class:`~hlr_graph.train.Experiment` fields they set; they
    stay :obj:`None` when not given.

    Args:
        parser (argparse.ArgumentParser): The parser.
        of_run (bool): Their defaults are a finished run's (``evaluate``),
            else :class:`~hlr_graph.train.Experiment`'s.
    """
    defaults = {f.name: f.default for f in fields(Experiment)}

    def default(name: str) -> str:
        value = defaults[name]
        if isinstance(value, tuple):
            value = ' '.join(map(str, value))
        return "(default: the run's)" if of_run else f'(default: {value})'

    group = parser.add_argument_group('evaluation')
    group.add_argument('--ks', type=integer(1), nargs='+', default=None,
                       help=f'metric cut-offs {default("ks")}')
    group.add_argument('--metric-mode', choices=METRIC_MODES, default=None,
                       help="'reference': the authors' MAP and MRR "
                       + default('metric_mode'))
    group.add_argument('--cohorts', dest='num_cohorts', type=integer(0),
                       default=None, metavar='N',
                       help='disjoint test cohorts (0: all users only) '
                       + default('num_cohorts'))
    group.add_argument('--cohort-size', type=integer(1), default=None,
                       help=f'users per cohort {default("cohort_size")}')
    group.add_argument('--eval-users', type=integer(1), default=None,
                       help="rank a random sample of this many users (and, "
                       "unless --valid-users says otherwise, monitor and "
                       "select on one with --eval-every / --select-by) "
                       + ("(default: the run's)" if of_run
                          else '(default: all)'))


def check_output_file(path: str, flag: str = '--output'):
    r"""Raises :class:`UsageError` when the file :obj:`path` cannot be
    written: it is a folder, or a parent of it is a file. Missing folders
    are made when the file is written."""
    if osp.isdir(path):
        raise UsageError(f'{flag} {path}: a folder, not a file')
    check_folder(osp.dirname(osp.abspath(path)), flag)


def check_run(run_dir: str, flag: str = 'RUN_DIR', finished: bool = True):
    r"""Raises :class:`UsageError` unless :obj:`run_dir` is a run directory
    (and, with :obj:`finished`, one whose run ended)."""
    if not osp.exists(run_dir):
        raise UsageError(f'{flag} {run_dir}: no such folder')
    if not osp.isdir(run_dir):
        raise UsageError(f'{flag} {run_dir}: a file, not a run folder')
    try:
        read_run(run_dir)
    except FileNotFoundError as e:
        raise UsageError(f'{flag} {e}') from None
    missing = [name for name in (RESULTS_FILE, WEIGHTS_FILE)
               if not osp.isfile(osp.join(run_dir, name))] if finished else []
    if missing:
        raise UsageError(
            f'{flag} {run_dir}: the run has not finished (no '
            f'{" and no ".join(missing)}): continue it with hlr-graph train '
            f'--resume --output-dir {run_dir}')


def location(args: argparse.Namespace, record: dict) -> dict:
    r"""Where a run's files are now: ``--root`` / ``--cache-dir`` when
    given, else the run's own folders when they still exist."""
    recorded = record.get('location', {})
    out = {}
    for key in ('root', 'cache_dir'):
        value = getattr(args, key, None)
        if value is None and recorded.get(key) and osp.isdir(recorded[key]):
            value = recorded[key]
        if value is not None:
            out[key] = value
    return out


def run_dataset_options(args: argparse.Namespace, given: dict,
                        record: dict, run_dir: str) -> Tuple[str, dict]:
    r"""``(name, options)`` of :func:`~hlr_graph.data.load_dataset` that
    read the graph of the run in :obj:`run_dir` (its ``run.json``
    :obj:`record`): its own data options, where its files are now
    (:func:`location`), and a data flag in :obj:`given` (with ``--dataset``
    as :obj:`args.dataset`) only where it agrees with the record
    (:func:`~hlr_graph.data.cli.run_data_options`)."""
    name, options = run_data_options(
        args.dataset, given,
        {'name': record['dataset'], **record['data_options']},
        record.get('data'), osp.join(run_dir, RUN_FILE))
    return name, {**location(args, record), **options}


def load_run_dataset(args: argparse.Namespace, run_dir: str,
                     given: dict, log: bool = True):
    r"""The data set of the run in :obj:`run_dir`, rebuilt from its
    record's data options (:func:`run_dataset_options`) and checked to be
    the graph the run was made on
    (:func:`~hlr_graph.train.experiment.check_graph`)."""
    record = read_run(run_dir)
    name, options = run_dataset_options(args, given, record, run_dir)
    dataset = load_dataset(name, log=log, **options)
    check_graph(record, dataset, osp.join(run_dir, RUN_FILE))
    return dataset


def data_changes(options: Dict, recorded: Dict, given: bool = False
                 ) -> List[Tuple[str, Any, Any]]:
    r"""``(flag, value, recorded value)`` of each data option in
    :obj:`options` that differs from the resolved options
    :obj:`recorded` (``dataset.options``); a file's path is where it is, not
    what it holds, so two paths are not compared (the graph fingerprint
    is).

    Args:
        options (dict): Resolved options (``dataset.options``), or with
            :obj:`given` the options given (before the data set loads).
        recorded (dict): The resolved options of a record.
        given (bool): Compare only the options in :obj:`options`.
    """
    now, then = flat_options(options), flat_options(recorded)
    if is_file_dataset(now.get('name')) and is_file_dataset(then.get('name')):
        now.pop('name'), then.pop('name')
    keys = now if given else dict.fromkeys([*now, *then])
    return [(DATA_FLAGS.get(key, key), now.get(key), then.get(key))
            for key in keys if now.get(key) != then.get(key)]


def list_files(paths: Iterable[str], enabled: bool = True):
    r"""Prints the files a command wrote, one a line."""
    paths = list(paths)
    if enabled and paths:
        print('wrote:')
        for path in paths:
            print(f'  {path}')
        sys.stdout.flush()


def run_title(model: str, dataset: str, split: str, split_seed: int,
              seed: int) -> str:
    r"""``MODEL on DATASET (SPLIT split, split seed S, seed T)``: which run
    a table is of."""
    return (f'{model} on {dataset} ({split} split, split seed {split_seed}, '
            f'seed {seed})')


def format_metrics(title: str, metrics: Dict[str, float]) -> str:
    r"""The table of :obj:`metrics` (``{'ndcg@10': 0.1, ...}``) under the
    line :obj:`title`: one row per metric, one column per K."""
    ks = sorted({int(name.split('@')[1]) for name in metrics})
    names = dict.fromkeys(name.split('@')[0] for name in metrics)
    lines = [title,
             f"{'metric':<12}" + ''.join(f'{"@" + str(k):>12}' for k in ks)]
    for name in names:
        lines.append(f'{name:<12}' + ''.join(
            f"{metrics[f'{name}@{k}']:>12.4f}" for k in ks))
    return '\n'.join(lines)


def note(message: str):
    r"""Prints ``note: MESSAGE`` on stderr: something the user should know
    about the numbers, not an error."""
    print(f'note: {message}', file=sys.stderr, flush=True)


def note_cutoffs(flag: str, ks: Iterable[int], items: int):
    r"""Notes, once, the cut-offs :obj:`ks` above the number of items: the
    lists there hold every item, so they are shorter than K."""
    above = [k for k in ks if k > items]
    if above:
        note(f"{flag} {' '.join(map(str, above))}: the data set has only "
             f'{items} items, so lists hold every item there and are '
             'shorter than K')


def run_parallel(function: Callable, tasks: Sequence, jobs: int = 1,
                 time_budget: Optional[float] = None
                 ) -> Iterator[Tuple[Any, Any]]:
    r"""Yields ``(task, function(task))`` as each task finishes, :obj:`jobs`
    at a time: in this process when ``1``, else in spawned worker processes
    that share torch's threads (and one GPU). None starts after
    :obj:`time_budget` seconds (it says so); after a failed task none starts
    either, the running ones are still yielded, then the failure is raised.

    Args:
        function (Callable): A module-level function (or a
            :func:`functools.partial` of one), picklable for the workers.
        tasks (Sequence): Its arguments, one per call.
        jobs (int): Calls at once.
        time_budget (float, optional): Seconds after which no call starts.
    """
    start = time.perf_counter()

    def spent() -> bool:
        if (time_budget is not None
                and time.perf_counter() - start > time_budget):
            print('time budget spent: nothing more starts', flush=True)
            return True
        return False

    if jobs == 1:
        for task in tasks:
            if spent():
                return
            yield task, function(task)
        return
    threads = max(1, torch.get_num_threads() // jobs)
    pending, running, error = list(tasks), {}, None
    with ProcessPoolExecutor(jobs, mp_context=get_context('spawn')) as pool:
        while pending or running:
            if pending and spent():
                pending = []
            while pending and len(running) < jobs:
                task = pending.pop(0)
                running[pool.submit(functools.partial(
                    _with_threads, threads, function), task)] = task
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                task = running.pop(future)
                if future.exception() is not None:
                    error, pending = error or future.exception(), []
                else:
                    yield task, future.result()
    if error is not None:
        raise error


def _with_threads(threads: int, function: Callable, task):
    torch.set_num_threads(threads)
    return function(task)
