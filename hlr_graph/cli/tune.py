r"""``hlr-graph tune``: budget-limited hyperparameter search over the
paper's grid, selected on validation NDCG@10 (test interactions are never
looked at); ``examples/tune.py`` is the same.

    hlr-graph tune --dataset ml-100k --model hlr --trials 8 \
        --patience 10 --output runs/tune/ml-100k/hlr.json

The grid is the paper's (learning rate in {2e-4, 5e-4, 7.5e-4, 1e-3}, N in
{5, 10, 20, 50}, margin in {0.2, 0.5, 0.75, 1.0}) restricted to what the model
takes; ALS searches its regularisation and confidence scaling. The first
trial is the authors' setting for the data set's family (in a dimension
``--grid`` gives that lacks it, the first value given), the others a seeded
random subset of the grid. Every value of ``--grid`` and ``--fix`` is read
as the flag of ``hlr-graph train`` that sets it reads it (``lr=-1`` and
``clip_ram=maybe`` are refused), and every chosen setting is built once on
a tiny graph before any data loads, so that a mistake stops the search
before its first trial. ``--fix NAME=VALUE`` sets a model argument outside
the grid for every trial, for instance a switch of the authors' code:

    hlr-graph tune --dataset ml-100k --model hlr --trials 8 \
        --fix clip_ram=true --output runs/tune-clip/ml-100k/hlr.json

``--grid NAME=V1,V2,...`` searches other values of a setting, or a setting
outside the paper's grid, such as the objective and the number of
negatives (``--grid loss=hinge,hardest num_negatives=1,32``; settings may
also be fixed: ``--fix num_negatives=32``) or the learning rate's decay per
epoch (``--grid lr_decay=0.9,1``), and ``--select-by ndcg@10``
keeps each trial's best epoch by validation NDCG@10 rather than by the
validation loss (which differs between objectives).

Every finished trial is saved at once, so a stopped search resumes where it
was: run it again with the same flags (a different data option, ``--fix``,
``--grid``, ``--epochs``, ``--patience``, ``--seed``, ``--select-by`` or
``--valid-users`` is refused, naming both values,
as is a data file that changed). ``--time-budget`` stops starting new
trials after that many seconds. ``--jobs`` runs trials in parallel processes
(sharing torch's threads, or one GPU with ``--device cuda``). The output's
``best`` entry is what ``examples/reproduce_table2.py --tuned`` reads."""
import argparse
import functools
import itertools
import json
import os
import os.path as osp
import random
from typing import Dict, List, Optional

import torch

from hlr_graph.cli import train as train_cli
from hlr_graph.cli.common import (
    add_parallel_arguments,
    check_output_file,
    command,
    data_changes,
    run_parallel,
)
from hlr_graph.cli.train import check_optimizer
from hlr_graph.data.cli import (
    LOCATION,
    MAX_SEED,
    ArgumentParser,
    UsageError,
    add_data_arguments,
    check_dataset,
    data_options,
    integer,
    number,
    refuse_changes,
)
from hlr_graph.data.registry import load_dataset
from hlr_graph.models.registry import (
    MODELS,
    TRAINING_SETTINGS,
    build_model,
    default_hyperparameters,
    search_space,
    setting_defaults,
    setting_names,
)
from hlr_graph.nn.objectives import check_negatives
from hlr_graph.train.experiment import (
    Experiment,
    check_graph,
    check_splits,
    graph_fingerprint,
    read_json,
    run_experiment,
    write_json,
)
from hlr_graph.train.trainer import OPTIMIZERS, SELECT_BY, TrainConfig

HELP = 'search the paper\'s grid on validation NDCG@10'

METRIC = 'ndcg@10'
SETTINGS = {'--model': 'model', '--fix': 'fixed', '--grid': 'grid_values',
            '--epochs': 'epochs', '--patience': 'patience', '--seed': 'seed',
            '--optimizer': 'optimizer', '--select-by': 'select_by',
            '--valid-users': 'valid_users'}
r"""The flags (and the output's entries) that change a trial, besides the
data options: a search continues only with the same."""
EARLIER = {'grid_values': {}, 'select_by': 'loss', 'valid_users': None}
r"""What the entries of :obj:`SETTINGS` that older searches did not record
were then."""


def grid(model: str, values: Optional[Dict[str, List]] = None
         ) -> Dict[str, List]:
    r"""The searched grid: the paper's (:func:`search_space`), with the
    dimensions of :obj:`values` (``--grid``) replaced or added."""
    return {**search_space(model), **(values or {})}


def candidates(dataset: str, model: str, trials: int, seed: int,
               values: Optional[Dict[str, List]] = None):
    r"""The authors' setting (in a dimension of :obj:`values` that lacks
    it, the first value given), then a seeded random sample of the grid
    (:func:`grid`)."""
    space = grid(model, values)
    names = sorted(space)
    product = [dict(zip(names, values))
               for values in itertools.product(*(space[n] for n in names))]
    authors = default_hyperparameters(dataset, model)
    defaults = setting_defaults(model)
    first = {n: authors.get(n, defaults.get(n)) for n in names}
    for name in values or {}:  # A given dimension starts where it says.
        if first[name] not in space[name]:
            first[name] = space[name][0]
    rest = [c for c in product if c != first]
    random.Random(seed).shuffle(rest)
    return ([first] if first else []) + rest[:max(trials - 1, 0)]


def _value(text: str):
    r"""A flag's value read as JSON (``true``, ``0.5``), else as a string
    (``unpop``)."""
    text = {'True': 'true', 'False': 'false'}.get(text, text)
    try:
        return json.loads(text)
    except ValueError:
        return text


@functools.lru_cache(maxsize=None)
def train_flags() -> Dict[str, argparse.Action]:
    r"""The options of ``hlr-graph train`` by the setting each sets (its
    ``dest``), whose types read ``--grid`` and ``--fix`` values."""
    parser = ArgumentParser()
    train_cli.add_arguments(parser)
    return {action.dest: action for action in parser._actions
            if action.option_strings}


def read_value(model: str, flag: str, pair: str, name: str, text: str):
    r"""The value :obj:`text` of setting :obj:`name` as ``hlr-graph
    train``'s flag for it reads it (its type, choices, or ``true`` /
    ``false`` for a switch); a setting without a flag (``max_norm``) by the
    type of its default. Raises :class:`UsageError` naming :obj:`flag` and
    :obj:`pair`."""
    action = train_flags().get(name)
    default = setting_defaults(model).get(name)
    switch = isinstance(action, argparse.BooleanOptionalAction) or \
        isinstance(default, bool)
    if switch:
        if text.lower() not in ('true', 'false'):
            raise UsageError(f"{flag} {pair}: {name}: expected true or "
                             f"false, got '{text}'")
        return text.lower() == 'true'
    if action is not None and action.choices:
        if text not in action.choices:
            raise UsageError(f"{flag} {pair}: {name}: expected one of "
                             f"{', '.join(action.choices)}, got '{text}'")
        return text
    if action is not None and action.type is not None:
        try:
            return action.type(text)
        except argparse.ArgumentTypeError as e:
            raise UsageError(f'{flag} {pair}: {name}: {e}') from None
    value = _value(text)
    whole = isinstance(default, int)
    if isinstance(default, (int, float)) and (
            isinstance(value, bool) or not isinstance(value, (int, float))
            or (whole and not isinstance(value, int))):
        raise UsageError(f"{flag} {pair}: {name}: expected "
                         f"{'an integer' if whole else 'a number'}, got "
                         f"'{text}'")
    return value


def check_candidates(model: str, chosen: List[dict]):
    r"""Raises :class:`UsageError` for a setting of :obj:`chosen` that the
    model's constructor refuses (a combination, such as a
    ``negative_weight`` outside ``loss=ccl``), by building each once on a
    graph of two users and two items, or that the trainer would refuse
    (:func:`~hlr_graph.nn.objectives.check_negatives`: ``share_negatives``
    with fewer than two negatives), before any data loads."""
    edge_index = torch.tensor([[0, 1], [0, 1]])
    for setting in chosen:
        arguments = {k: v for k, v in setting.items()
                     if k not in TRAINING_SETTINGS}
        try:
            build_model(model, 2, 2, edge_index, **arguments)
            check_negatives(**{k: v for k, v in setting.items() if k in (
                'num_negatives', 'share_negatives')})
        except ValueError as e:
            raise UsageError(f'--grid / --fix: the setting {setting}: '
                             f'{e}') from None


def _pairs(flag: str, model: str, pairs: List[str]):
    r"""``(pair, name, value text)`` of ``NAME=VALUE`` pairs that name a
    setting of :obj:`model` (:func:`~hlr_graph.models.registry.
    setting_names`)."""
    seen = set()
    for pair in pairs:
        name, sep, value = pair.partition('=')
        if not sep or not value:
            raise UsageError(f'{flag} {pair}: expected NAME=VALUE')
        if name not in setting_names(model):
            raise UsageError(f"{flag} {pair}: model '{model}' takes no "
                             f"'{name}'")
        if name in seen:  # The last would silently replace the first.
            hint = (f'; give its values once: {flag} {name}=V1,V2'
                    if flag == '--grid' else '')
            raise UsageError(f"{flag} {pair}: '{name}' is given twice{hint}")
        seen.add(name)
        yield pair, name, value


def grid_values(model: str, pairs: List[str]) -> Dict[str, List]:
    r"""``{name: [values]}`` of the ``--grid NAME=V1,V2,...`` pairs
    (:func:`read_value`)."""
    return {name: [read_value(model, '--grid', pair, name, v)
                   for v in value.split(',')]
            for pair, name, value in _pairs('--grid', model, pairs)}


def fixed_setting(model: str, pairs: List[str],
                  values: Optional[Dict[str, List]] = None) -> dict:
    r"""``{name: value}`` of the ``--fix NAME=VALUE`` pairs
    (:func:`read_value`); a name of the searched grid (:func:`grid` with
    :obj:`values`) is refused."""
    fixed = {}
    for pair, name, value in _pairs('--fix', model, pairs):
        if name in grid(model, values):
            raise UsageError(f"--fix {pair}: '{name}' is searched, not fixed "
                             f'(a dimension of the grid): give it one value '
                             f'with --grid {pair}')
        fixed[name] = read_value(model, '--fix', pair, name, value)
    return fixed


def add_arguments(parser: ArgumentParser):
    r"""Adds the flags of ``tune`` to :obj:`parser`."""
    add_data_arguments(parser)
    parser.add_argument('--model', choices=sorted(MODELS), required=True)
    parser.add_argument('--trials', type=integer(1), default=8,
                        help='settings to try (default: 8)')
    parser.add_argument('--epochs', type=integer(1), default=100,
                        help='most epochs of a trial (default: 100)')
    parser.add_argument('--patience', type=integer(1), default=10,
                        help='stop a trial after this many epochs without a '
                        'better validation loss (default: 10)')
    parser.add_argument('--seed', type=integer(0, MAX_SEED), default=0,
                        help='seeds the sample of the grid and the training')
    parser.add_argument('--time-budget', type=number(0, open_low=True),
                        default=None,
                        help='seconds after which no new trial starts')
    add_parallel_arguments(parser, 'trials')
    parser.add_argument('--optimizer', choices=OPTIMIZERS, default='adam',
                        help="of every trial, as hlr-graph train's "
                        '(default: adam)')
    parser.add_argument('--fix', nargs='+', default=[], metavar='NAME=VALUE',
                        help='settings of every trial: model arguments, '
                             'e.g. clip_ram=true loss=hardest, or '
                             'num_negatives=32')
    parser.add_argument('--grid', nargs='+', default=[],
                        metavar='NAME=V1,V2',
                        help='search these values of a setting instead of '
                             "the paper's (or besides them), e.g. "
                             'lr=1e-3,2e-3 loss=hinge,hardest')
    parser.add_argument('--select-by', choices=SELECT_BY, default='loss',
                        help="each trial's kept epoch, as hlr-graph train's "
                             '(patience counts epochs without a better one; '
                             'default: loss)')
    parser.add_argument('--valid-users', type=integer(1), default=None,
                        metavar='N',
                        help='measure every trial on a random sample of N '
                        'validation users, the same for every trial and '
                        'epoch (default: all)')
    parser.add_argument('--output', required=True,
                        help='the JSON file of trials and the best setting')


def run(args: argparse.Namespace, parser: ArgumentParser) -> int:
    r"""Runs ``tune`` with the parsed flags :obj:`args`."""
    if not search_space(args.model):
        raise UsageError(f'--model {args.model}: nothing to tune')
    check_output_file(args.output)
    check_dataset(args.dataset)
    check_optimizer(args.model, args.optimizer, parser)
    args.grid_values = grid_values(args.model, args.grid)
    args.fixed = fixed_setting(args.model, args.fix, args.grid_values)
    chosen = [{**setting, **args.fixed} for setting in candidates(
        args.dataset, args.model, args.trials, args.seed, args.grid_values)]
    check_candidates(args.model, chosen)
    previous = None
    if osp.exists(args.output):
        previous = read_json(args.output, ('trials', *(
            s for s in SETTINGS.values() if s not in EARLIER)),
            'an output of hlr-graph tune')
        previous = {**EARLIER, **previous}
        check_search(previous, search_settings(args), args.output)
    dataset = load_dataset(args.dataset, **data_options(args))
    check_splits(dataset, ('train', 'val'))
    settings = search_settings(args, dataset)
    done = {}
    if previous is not None:
        check_search(previous, settings, args.output)
        check_graph(previous, dataset, args.output)
        done = {key(t['hyperparameters']): t for t in previous['trials']}
    order = {key(s): i for i, s in enumerate(chosen)}
    todo = [s for s in chosen if key(s) not in done]
    for _, trial in run_parallel(functools.partial(run_trial, args), todo,
                                 args.jobs, args.time_budget):
        done[key(trial['hyperparameters'])] = trial
        print(f'{trial["hyperparameters"]}: valid {METRIC} '
              f'{trial["valid"][METRIC]:.4f} (best epoch '
              f'{trial["best_epoch"]}, {trial["train_seconds"]:.0f}s)',
              flush=True)
        save(args.output, settings, order, done)
    if not done:
        print('no trial finished: nothing written')
        return 0
    best = save(args.output, settings, order, done)
    print(f'best: {best["hyperparameters"]} with valid {METRIC} '
          f'{best["valid"][METRIC]:.4f}; written to {args.output}')
    return 0


def search_settings(args: argparse.Namespace, dataset=None) -> Dict:
    r"""What the output records of the search besides its trials: every
    setting that changes a trial (:obj:`SETTINGS`, the data options as
    requested and, once :obj:`dataset` is loaded, as resolved, and the
    graph's fingerprint)."""
    name = args.dataset
    if osp.isfile(name):
        name = osp.abspath(name)
    settings = {'dataset': name, 'model': args.model,
                'data_options': {k: v for k, v in data_options(args).items()
                                 if k not in LOCATION},
                'fixed': args.fixed, 'grid_values': args.grid_values,
                'epochs': args.epochs, 'select_by': args.select_by,
                'patience': args.patience, 'seed': args.seed,
                'optimizer': args.optimizer, 'valid_users': args.valid_users}
    if dataset is not None:
        settings.update(data=dataset.options,
                        graph=graph_fingerprint(dataset[0]))
    return settings


def check_search(previous: Dict, settings: Dict, path: str):
    r"""Raises :class:`UsageError`, naming every flag and both values, when
    the search in :obj:`path` (:obj:`previous`) was run with other
    :obj:`settings` (:func:`search_settings`; before the data set loads,
    only the data options given are compared)."""
    changes = [(flag, settings[name], previous[name])
               for flag, name in SETTINGS.items()
               if settings[name] != previous[name]]
    recorded = previous.get('data') or {  # Else older: as requested.
        'name': previous.get('dataset'),
        **{k: v for k, v in previous.get('data_options', {}).items()
           if k not in LOCATION}}
    if 'data' in settings and 'data' in previous:
        changes += data_changes(settings['data'], recorded)
    else:
        changes += data_changes({'name': settings['dataset'],
                                 **settings['data_options']}, recorded,
                                given='data' in previous)
    refuse_changes(changes, "the search's", path,
                   'give the flags it was run with, or another --output')


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None,
         description: Optional[str] = None) -> int:
    r"""``hlr-graph tune`` as a function: returns the exit code."""
    return command(add_arguments, run, argv, prog, description or __doc__)


def key(setting: dict) -> str:
    r"""The identity of a trial's setting: its values as JSON, a whole
    number as the float it equals (``margin=1`` of an older search is the
    ``1.0`` that :func:`read_value` reads now)."""
    return json.dumps({name: float(value) if isinstance(value, int)
                       and not isinstance(value, bool) else value
                       for name, value in setting.items()}, sort_keys=True)


def run_trial(args: argparse.Namespace, setting: dict) -> dict:
    r"""Trains one setting and measures it on the validation interactions."""
    results = run_experiment(Experiment(
        dataset=args.dataset, model=args.model,
        data_options={k: v for k, v in data_options(args).items()
                      if k != 'force_reload'},  # Loaded once already.
        hyperparameters=setting,
        train=TrainConfig(epochs=args.epochs, patience=args.patience,
                          seed=args.seed, device=args.device,
                          optimizer=args.optimizer,
                          select_by=args.select_by,
                          eval_users=args.valid_users, progress=False,
                          log=False),
        num_cohorts=0, test=False))
    return {'hyperparameters': setting, 'valid': results['valid'],
            'num_valid_users': results['num_valid_users'],
            'best_epoch': results['best_epoch'],
            'train_seconds': results['train_seconds'],
            'device': results['environment']['accelerator'] or args.device}


def save(path: str, settings: Dict, order: Dict[str, int], done: Dict):
    r"""Writes the trials in the order of the candidates (ties of the best
    go to the earlier one) and returns the best."""
    trials = sorted(done.values(), key=lambda t: order.get(
        key(t['hyperparameters']), len(order)))
    best = max(trials, key=lambda t: t['valid'][METRIC])
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    write_json({**settings, 'selected_by': f'valid {METRIC}',
                'grid': grid(settings['model'], settings['grid_values']),
                'trials': trials,
                'best': best}, path)
    return best
