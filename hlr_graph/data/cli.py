r"""Command-line pieces every command shares: an argument parser whose
mistakes are one ``error:`` line, range-checked numbers, running a command
so that a user's mistake is one ``error:`` line (:func:`execute`), and the
flags that choose and preprocess a data set. The generic pieces
(:class:`UsageError`, :class:`ArgumentParser`, :func:`integer`,
:func:`number`, :func:`execute`) live here because this is the lowest floor
that needs them (``python -m hlr_graph.data stats``);
:mod:`hlr_graph.cli` builds on them.

Data flags default to :obj:`None` ("not given"), so that a command reading a
finished run can tell a flag the user typed from a default: the run's own
record supplies what was not given, and a given flag that disagrees with it
is refused (:func:`run_data_options`)."""
import argparse
import json
import math
import os
import os.path as osp
import re
import sys
import tempfile
import traceback
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from hlr_graph.data.dataset import CACHE_ENV, MissingDataError
from hlr_graph.data.interactions import DataFormatError
from hlr_graph.data.registry import DATASETS
from hlr_graph.data.split import SPLITS


class UsageError(Exception):
    r"""A mistake of the user's (a flag, a file, a run directory), reported
    as one ``error:`` line with exit code ``2``."""


class ArgumentParser(argparse.ArgumentParser):
    r""":class:`argparse.ArgumentParser` whose mistakes print one line,
    ``error: MESSAGE (see PROG --help)``, and exit with code ``2``, instead of
    the usage block. Flags must be spelt out: a prefix (``--epoch`` for
    ``--epochs``) is a mistake, not a guess."""
    def __init__(self, *args, **kwargs):
        kwargs.setdefault('allow_abbrev', False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        r"""As argparse's, except that flags no parser knows are refused
        by the sub-command's parser when there is one (``args.parser``),
        which names its own ``--help``."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            getattr(parsed, 'parser', self).error(
                f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def error(self, message: str):
        if message.startswith('argument '):  # 'argument --epochs: ...'
            message = message[len('argument '):]
        self.exit(2, f'error: {message} (see {self.prog} --help)\n')

    def format_help(self) -> str:
        return super().format_help().replace('``', '')  # Docstring markup.

    def flag(self, dest: str) -> str:
        r"""The long option that stores into :obj:`dest` (for messages):
        of a ``--x`` / ``--no-x`` pair, ``--x``."""
        for action in self._actions:
            if action.dest == dest and action.option_strings:
                if isinstance(action, argparse.BooleanOptionalAction):
                    return action.option_strings[0]
                return max(action.option_strings, key=len)
        return dest


def integer(low: Optional[int] = None,
            high: Optional[int] = None) -> Callable[[str], int]:
    r"""An argparse ``type``: an integer in ``[low, high]``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer, got '{text}'") from None
        if (low is not None and value < low) or (high is not None
                                                 and value > high):
            raise argparse.ArgumentTypeError(
                f'must be {_range(low, high, False)}, got {text}')
        return value
    parse.__name__ = 'integer'
    return parse


def number(low: Optional[float] = None, high: Optional[float] = None,
           open_low: bool = False) -> Callable[[str], float]:
    r"""An argparse ``type``: a finite number in ``[low, high]``, or in
    ``(low, high]`` with :obj:`open_low`."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number, got '{text}'") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(
                f'must be a finite number, got {text}')
        if (low is not None and (
                value <= low if open_low else value < low)) or (
                    high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f'must be {_range(low, high, open_low)}, got {text}')
        return value
    parse.__name__ = 'number'
    return parse


MAX_SEED = 2**63 - 1
r"""The largest seed (``--seed``, ``--split-seed``): what
:func:`torch.manual_seed` takes as a 64-bit signed integer."""


def nonempty(what: str) -> Callable[[str], str]:
    r"""An argparse ``type``: a non-empty string (:obj:`what` names it in
    the message)."""
    def parse(value: str) -> str:
        if value == '':
            raise argparse.ArgumentTypeError(
                f'an empty {what}: leave the flag out, or give one')
        return value
    parse.__name__ = 'nonempty'
    return parse


def _range(low, high, open_low: bool) -> str:
    if low is not None and high is not None:
        return (f'> {low} and <= {high}' if open_low else
                f'between {low} and {high}')
    if low is not None:
        return f'{">" if open_low else ">="} {low}'
    return f'<= {high}'


DATA_FLAGS: Dict[str, str] = {
    'name': '--dataset', 'threshold': '--threshold', 'k_core': '--k-core',
    'split': '--split', 'seed': '--split-seed', 'sep': '--sep',
    'user_col': '--user-col', 'item_col': '--item-col',
    'rating_col': '--rating-col', 'num_users': '--num-users',
    'num_items': '--num-items', 'interactions': '--interactions',
}
r"""The flag of each data option (keys as :func:`load_dataset` and
``dataset.options`` name them; the column options sit under
``file_options``)."""

SYNTHETIC_SIZES = ('num_users', 'num_items', 'interactions')
r"""The options (and flags) of the synthetic data set's size."""

LOCATION = ('root', 'cache_dir', 'force_reload', 'log')
r"""Options that say where files are or how to read them, not what the graph
is: they may differ from a run's."""


def add_data_arguments(parser: argparse.ArgumentParser,
                       default: Optional[str] = None,
                       required: Optional[bool] = None,
                       dataset: bool = True):
    r"""Adds the data set flags to :obj:`parser`.

    Args:
        parser (argparse.ArgumentParser): The parser.
        default (str, optional): The data set a command takes when
            ``--dataset`` is not given, shown in the help. The flag itself
            stays :obj:`None` when not given (see :func:`dataset_name`).
        required (bool, optional): Whether ``--dataset`` must be given
            (default: when there is no :obj:`default`).
        dataset (bool): Add ``--dataset`` itself (off for a command that
            names its data sets otherwise). (default: :obj:`True`)
    """
    group = parser.add_argument_group('data')
    required = default is None if required is None else required
    if dataset:
        group.add_argument(
            '--dataset', default=None, required=required,
            help=f'one of {", ".join(sorted(DATASETS))}, or the path of a '
            'CSV / TSV file' + (f' (default: {default})' if default else ''))
    group.add_argument('--root', default=None,
                       help='folder holding one sub-folder per data set '
                       '(default: $HLR_GRAPH_DATA, else ./datasets)')
    group.add_argument('--threshold', type=number(0), default=None,
                       help="keep ratings / play counts >= this; 0 keeps all "
                       "(default: the data set's, e.g. 4 stars)")
    group.add_argument('--k-core', type=integer(0), default=None,
                       help="recursive k-core of users and items; 0: none "
                       "(default: the data set's, e.g. 10)")
    group.add_argument('--split', choices=SPLITS, default=None,
                       help="(default: the data set's: 'given' where the "
                       "source has a test file, else 'reference')")
    group.add_argument('--split-seed', type=integer(0, MAX_SEED),
                       default=None, help='seed of the split (default: 2021)')
    group.add_argument('--cache-dir', default=None,
                       help='where processed graphs are cached (default: '
                       '$HLR_GRAPH_CACHE, else ~/.cache/hlr_graph)')
    group.add_argument('--force-reload', action='store_true',
                       help='process the data set again even when a cached '
                       'graph exists')
    group.add_argument('--sep', type=nonempty('separator'), default=None,
                       help='separator of a file data set (default: guessed)')
    group.add_argument('--user-col', default=None,
                       help='user column of a file data set (index or name)')
    group.add_argument('--item-col', default=None,
                       help='item column of a file data set (index or name)')
    group.add_argument('--rating-col', default=None,
                       help='rating column of a file data set (index or '
                       'name; -1: implicit; default: the third, if any)')
    group.add_argument('--num-users', type=integer(1), default=None,
                       help='users of --dataset synthetic (default: 600)')
    group.add_argument('--num-items', type=integer(1), default=None,
                       help='items of --dataset synthetic (default: 360)')
    group.add_argument('--interactions', type=integer(1), default=None,
                       help='(user, item) pairs of --dataset synthetic, '
                       'before the k-core and the split (default: 18000)')


def dataset_name(args: argparse.Namespace, default: str) -> str:
    r"""``--dataset``, else :obj:`default`."""
    return args.dataset if args.dataset is not None else default


def check_folder(path: str, flag: str, writable: bool = True):
    r"""Raises :class:`UsageError` naming :obj:`flag` when :obj:`path` (or
    a parent of it) exists but is not a folder, or, with :obj:`writable`,
    when no folder can be made where :obj:`path` is to be (probed with an
    empty folder, removed at once)."""
    folder = osp.abspath(path)
    while not osp.exists(folder):
        folder = osp.dirname(folder)
    if not osp.isdir(folder):
        raise UsageError(f'{flag} {path}: {folder} is a file, not a folder')
    if writable:
        try:
            os.rmdir(tempfile.mkdtemp(prefix='.hlr_graph-', dir=folder))
        except OSError as e:
            raise UsageError(f'{flag} {path}: cannot make folders in '
                             f'{folder} ({e.strerror})') from None


def check_dataset(name: str):
    r"""Raises :class:`UsageError` when :obj:`name` is neither a known data
    set nor an existing file, before anything is loaded."""
    if name in DATASETS or osp.isfile(name):
        return
    if osp.isdir(name):
        raise UsageError(f'--dataset {name}: a folder, not an interaction '
                         'file')
    raise UsageError(f'--dataset {name}: no such file, and not a data set '
                     f'name ({", ".join(sorted(DATASETS))})')


def data_options(args: argparse.Namespace) -> Dict:
    r"""The keyword arguments of :func:`~hlr_graph.data.load_dataset` that
    the flags of :func:`add_data_arguments` set: only the flags given, so
    that the data set's own defaults (or a run's record) fill the rest."""
    def column(value):
        return int(value) if value.lstrip('-').isdigit() else value

    cache = (('--cache-dir', args.cache_dir) if args.cache_dir is not None
             else (f'${CACHE_ENV}', os.environ.get(CACHE_ENV)))
    if cache[1]:  # A read-only cache that holds the graph serves.
        check_folder(cache[1], cache[0], writable=False)
    options = {key: getattr(args, dest) for key, dest in (
        ('root', 'root'), ('cache_dir', 'cache_dir'),
        ('threshold', 'threshold'), ('k_core', 'k_core'), ('split', 'split'),
        ('seed', 'split_seed')) if getattr(args, dest) is not None}
    if args.force_reload:
        options['force_reload'] = True
    file_options = {key: getattr(args, key) for key in ('sep',)
                    if getattr(args, key) is not None}
    file_options.update({key: column(getattr(args, key)) for key in (
        'user_col', 'item_col', 'rating_col')
        if getattr(args, key) is not None})
    if file_options:
        options['file_options'] = file_options
    sizes = {key: getattr(args, key) for key in SYNTHETIC_SIZES
             if getattr(args, key, None) is not None}
    if sizes and args.dataset not in (None, 'synthetic'):
        flags = ', '.join(DATA_FLAGS[key] for key in sizes)
        raise ValueError(f'{flags}: only --dataset synthetic takes them, '
                         f'not {args.dataset}')
    options.update(sizes)
    return options


def flat_options(options: Optional[Dict]) -> Dict:
    r"""Data options with those of a file (``file_options``) among the
    others, as :obj:`DATA_FLAGS` names them."""
    options = dict(options or {})
    return {**(options.pop('file_options', None) or {}), **options}


def is_file_dataset(name) -> bool:
    r"""Whether the data set :obj:`name` is a file's path rather than one
    of :obj:`DATASETS`."""
    return isinstance(name, str) and name not in DATASETS


def _show(value) -> str:
    if value is None:
        return 'not set'
    if isinstance(value, bool):
        return 'on' if value else 'off'
    if isinstance(value, (list, tuple)):
        return ' '.join(map(str, value))
    if isinstance(value, dict):
        return ' '.join(f'{k}={v if isinstance(v, str) else json.dumps(v)}'
                        for k, v in value.items()) or 'none'
    return str(value)


def refuse_changes(changes: Sequence[Tuple[str, Any, Any]], whose: str,
                   source: str, hint: str):
    r"""Raises one :class:`UsageError` naming every change, when there is
    any.

    Args:
        changes (Sequence[tuple]): ``(flag, value, recorded)`` of each
            setting that differs from what :obj:`source` recorded.
        whose (str): Whose the recorded values are, e.g. ``"the run's"``.
        source (str): The record's path.
        hint (str): What to do about it.
    """
    if changes:
        named = '; '.join(f'{flag} {_show(value)} differs from {whose} '
                          f'{_show(recorded)}'
                          for flag, value, recorded in changes)
        raise UsageError(f'{named} ({source}): {hint}')


def run_data_options(name: Optional[str], given: Dict, requested: Dict,
                     resolved: Optional[Dict], source: str
                     ) -> Tuple[str, Dict]:
    r"""The data set and options to read a finished (or stopped) run's graph
    with: the run's own, with the location options (:obj:`LOCATION`) the
    user gave.

    Args:
        name (str, optional): ``--dataset`` as given (:obj:`None`: not
            given).
        given (dict): :func:`data_options` of the flags given.
        requested (dict): The run's requested options, with its data set
            under ``'name'``.
        resolved (dict, optional): The run's ``dataset.options`` (what the
            data set made of them), with ``'name'``.
        source (str): The record's path, for messages.

    A file data set's path says where the file is, not what it holds (like
    ``--root``): ``--dataset`` with another path follows a moved file, and
    what it holds is checked against the run's graph fingerprint once loaded
    (:func:`~hlr_graph.train.experiment.check_graph`).

    Returns:
        ``(name, options)`` for :func:`~hlr_graph.data.load_dataset`.

    Raises:
        UsageError: A given flag disagrees with the run's record (the
            message names the flag and both values), or the run's data file
            is gone and no ``--dataset`` says where it is now.
    """
    recorded = flat_options(resolved if resolved is not None else requested)
    asked = flat_options(requested)
    flags = flat_options(given)
    if name is not None:
        flags['name'] = name
    moved = is_file_dataset(requested['name']) and is_file_dataset(name)
    for key, value in flags.items():
        if key in LOCATION or (key == 'name' and moved):
            continue
        if (key in asked and asked[key] == value) or (
                key in recorded and recorded[key] == value):
            continue
        refuse_changes([(DATA_FLAGS.get(key, key), value,
                         recorded.get(key, asked.get(key)))], "the run's",
                       source, 'leave the flag out to read the run as it '
                       'was made')
    options = dict(resolved if resolved is not None else requested)
    run_name = options.pop('name')
    if moved:
        run_name = name
    if is_file_dataset(run_name) and not osp.isfile(run_name):
        raise UsageError(f"the run's data file {run_name} is gone "
                         f'({source}): give --dataset with where it is now')
    options.update({key: value for key, value in given.items()
                    if key in LOCATION})
    return run_name, options


MISTAKES = (UsageError, MissingDataError, DataFormatError, FileNotFoundError,
            NotADirectoryError, IsADirectoryError, PermissionError)
r"""Exceptions that are the user's to fix (a flag, a file, a folder); with
the :class:`ValueError` s the package raises on purpose, see
:func:`is_mistake`."""

_PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__))) + os.sep


def is_mistake(error: BaseException,
               mistakes: Tuple[type, ...] = MISTAKES) -> bool:
    r"""Whether :obj:`error` is a mistake of the user's (shown as one
    ``error:`` line) rather than a bug (shown with its traceback): one of
    :obj:`mistakes`, or a :class:`ValueError` that a ``raise`` statement of
    this package raised on purpose (a setting out of range, a data set that
    leaves nothing). A :class:`ValueError` from inside torch or numpy, or
    from a builtin the package called, is a bug."""
    if isinstance(error, mistakes):
        return True
    if not isinstance(error, ValueError):
        return False
    remote = getattr(error.__cause__, 'tb', None)  # From a worker process.
    if type(error.__cause__).__name__ == '_RemoteTraceback' and remote:
        frames = re.findall(r'File "([^"]+)", line \d+, in .*\n\s*(.*)',
                            remote)
    else:
        frames = [(frame.filename, frame.line or '') for frame in
                  traceback.extract_tb(error.__traceback__)]
    return bool(frames) and frames[-1][0].startswith(_PACKAGE) and \
        frames[-1][1].lstrip().startswith('raise')


def execute(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]],
            run: Callable[[argparse.Namespace], int],
            mistakes: Tuple[type, ...] = MISTAKES) -> int:
    r"""Parses :obj:`argv` and runs :obj:`run` on the flags, returning the
    exit code: ``2`` with one ``error:`` line for a mistake
    (:func:`is_mistake` with :obj:`mistakes`), ``130`` when interrupted; a
    bug keeps its traceback."""
    try:
        code = run(parser.parse_args(argv))
        sys.stdout.flush()  # A closed pipe shows here, not at exit.
        return code
    except SystemExit as e:  # --help (0), or one error line already shown.
        return 0 if e.code is None else e.code
    except KeyboardInterrupt:
        return exit_with('interrupted', 130)
    except BrokenPipeError:  # Piped into head, say: the reader has enough.
        # Python's advice: send the rest to devnull, so that the flush at
        # exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        if not is_mistake(e, mistakes):
            raise
        return exit_with(e)


def exit_with(message: str, code: int = 2) -> int:
    r"""Prints ``error: MESSAGE`` as one line on stderr and returns
    :obj:`code`."""
    print('error: ' + ' '.join(str(message).split()), file=sys.stderr)
    return code
