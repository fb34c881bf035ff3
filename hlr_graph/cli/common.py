r"""What every command shares: running a command so that a mistake is one
``error:`` line, the device flag checked before any data loads, output
folders, and reading a run directory under its own data options."""
import argparse
import os.path as osp
import sys
from typing import Callable, Iterable, List, Optional

import torch

from hlr_graph.data.cli import (
    ArgumentParser,
    UsageError,
    exit_with,
    run_data_options,
)
from hlr_graph.data.dataset import MissingDataError
from hlr_graph.data.interactions import DataFormatError
from hlr_graph.data.registry import load_dataset
from hlr_graph.train.experiment import RESULTS_FILE, WEIGHTS_FILE, read_run

ERRORS = (UsageError, MissingDataError, DataFormatError, FileNotFoundError,
          NotADirectoryError, IsADirectoryError, PermissionError, ValueError)
r"""Exceptions that are the user's to fix (a flag, a file, a folder): shown
as one ``error:`` line with exit code ``2``. Anything else is a bug and
keeps its traceback."""


def execute(parser: ArgumentParser, argv: Optional[List[str]],
            run: Callable[[argparse.Namespace], int]) -> int:
    r"""Parses :obj:`argv` and runs :obj:`run` on the flags, returning the
    exit code: ``2`` with one ``error:`` line for a mistake, ``130`` when
    interrupted."""
    try:
        return run(parser.parse_args(argv))
    except SystemExit as e:  # --help (0), or one error line already shown.
        return 0 if e.code is None else e.code
    except ERRORS as e:
        return exit_with(e)
    except KeyboardInterrupt:
        return exit_with('interrupted', 130)


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


def check_folder(path: str, flag: str):
    r"""Raises :class:`UsageError` when :obj:`path` (or a parent of it)
    exists but is not a folder."""
    folder = osp.abspath(path)
    while not osp.exists(folder):
        folder = osp.dirname(folder)
    if not osp.isdir(folder):
        raise UsageError(f'{flag} {path}: {folder} is a file, not a folder')


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
    if finished and not (osp.isfile(osp.join(run_dir, RESULTS_FILE)) and
                         osp.isfile(osp.join(run_dir, WEIGHTS_FILE))):
        raise UsageError(
            f'{flag} {run_dir}: the run has not finished (no '
            f'{RESULTS_FILE}): continue it with hlr-graph train --resume '
            f'--output-dir {run_dir}')


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


def load_run_dataset(args: argparse.Namespace, run_dir: str,
                     given: dict, log: bool = True):
    r"""The data set of the run in :obj:`run_dir`, rebuilt from its
    record's data options; a data flag given in :obj:`given` (with
    ``--dataset`` as :obj:`args.dataset`) must agree with the record."""
    record = read_run(run_dir)
    name, options = run_data_options(
        args.dataset, given,
        {'name': record['dataset'], **record['data_options']},
        record.get('data'), osp.join(run_dir, 'run.json'))
    options.update(location(args, record))
    return load_dataset(name, log=log, **options)


def list_files(paths: Iterable[str], enabled: bool = True):
    r"""Prints the files a command wrote, one a line."""
    paths = list(paths)
    if enabled and paths:
        print('wrote:')
        for path in paths:
            print(f'  {path}')
        sys.stdout.flush()
