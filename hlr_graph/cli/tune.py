r"""``hlr-graph tune``: budget-limited hyperparameter search over the
paper's grid, selected on validation NDCG@10 (test interactions are never
looked at). ``examples/tune.py`` is this command; its docstring is the
manual.

The grid is the paper's (learning rate in {2e-4, 5e-4, 7.5e-4, 1e-3}, N in
{5, 10, 20, 50}, margin in {0.2, 0.5, 0.75, 1.0}) restricted to what the model
takes; ALS searches its regularisation and confidence scaling. The first
trial is the authors' setting for the data set's family, the others a seeded
random subset of the grid. ``--fix NAME=VALUE`` sets a model argument outside
the grid for every trial. Every finished trial is saved at once, so a
stopped search resumes where it was."""
import argparse
import inspect
import itertools
import json
import os
import os.path as osp
import random
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context

import torch

from hlr_graph.cli.common import check_folder, device, execute
from hlr_graph.cli.train import check_optimizer
from hlr_graph.data.cli import (
    ArgumentParser,
    UsageError,
    add_data_arguments,
    check_dataset,
    data_options,
    integer,
    number,
)
from hlr_graph.models import (
    MODELS,
    default_hyperparameters,
    model_arguments,
    search_space,
)
from hlr_graph.train.experiment import (
    Experiment,
    run_experiment,
    write_json,
)
from hlr_graph.train.trainer import OPTIMIZERS, TrainConfig

HELP = 'search the paper\'s grid on validation NDCG@10'

METRIC = 'ndcg@10'


def candidates(dataset: str, model: str, trials: int, seed: int):
    r"""The authors' setting, then a seeded random sample of the grid."""
    space = search_space(model)
    names = sorted(space)
    grid = [dict(zip(names, values))
            for values in itertools.product(*(space[n] for n in names))]
    authors = default_hyperparameters(dataset, model)
    defaults = {n: p.default for base in MODELS[model].__mro__[::-1]
                if '__init__' in vars(base) for n, p in
                inspect.signature(base.__init__).parameters.items()}
    first = {n: authors.get(n, defaults.get(n)) for n in names}
    rest = [c for c in grid if c != first]
    random.Random(seed).shuffle(rest)
    return ([first] if first else []) + rest[:max(trials - 1, 0)]


def fixed_setting(parser, model: str, pairs) -> dict:
    r"""``{name: value}`` of the ``--fix NAME=VALUE`` pairs, values read as
    JSON (``true``, ``0.5``) or else as strings (``unpop``)."""
    fixed = {}
    for pair in pairs:
        name, sep, value = pair.partition('=')
        if not sep:
            parser.error(f"--fix {pair}: expected NAME=VALUE")
        if name in search_space(model):
            parser.error(f"--fix {pair}: '{name}' is searched, not fixed")
        if name not in model_arguments(model):
            parser.error(f"--fix {pair}: model '{model}' takes no '{name}'")
        value = {'True': 'true', 'False': 'false'}.get(value, value)
        try:
            fixed[name] = json.loads(value)
        except ValueError:
            fixed[name] = value
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
    parser.add_argument('--seed', type=integer(0), default=0,
                        help='seeds the sample of the grid and the training')
    parser.add_argument('--time-budget', type=number(0, open_low=True),
                        default=None,
                        help='seconds after which no new trial starts')
    parser.add_argument('--device', type=device, default='cpu',
                        help="torch device of the trials, e.g. 'cuda'")
    parser.add_argument('--optimizer', choices=OPTIMIZERS, default='adam',
                        help='of every trial, as hlr-graph train\'s '
                        '(default: adam)')
    parser.add_argument('--jobs', type=integer(1), default=1,
                        help='trials run at once (in worker processes when '
                        'above 1)')
    parser.add_argument('--fix', nargs='+', default=[], metavar='NAME=VALUE',
                        help='model arguments set for every trial, e.g. '
                             'clip_ram=true')
    parser.add_argument('--output', required=True,
                        help='the JSON file of trials and the best setting')


def run(args, parser: ArgumentParser) -> int:
    r"""Runs ``tune`` with the parsed flags :obj:`args`."""
    if not search_space(args.model):
        parser.error(f"--model {args.model}: nothing to tune")
    if osp.isdir(args.output):
        raise UsageError(f'--output {args.output}: a folder, not a file')
    check_folder(osp.dirname(osp.abspath(args.output)), '--output')
    check_dataset(args.dataset)
    check_optimizer(args.model, args.optimizer, parser)
    args.fixed = fixed_setting(parser, args.model, args.fix)
    done = {}
    if osp.exists(args.output):
        with open(args.output) as f:
            previous = json.load(f)
        if previous.get('fixed', {}) != args.fixed:
            parser.error(f"{args.output} was searched with --fix "
                         f"{previous.get('fixed', {})}, not {args.fixed}: "
                         f"use another --output")
        if previous.get('optimizer', 'adam') != args.optimizer:
            parser.error(f"{args.output} was searched with --optimizer "
                         f"{previous.get('optimizer', 'adam')}, not "
                         f"{args.optimizer}: use another --output")
        done = {key(t['hyperparameters']): t for t in previous['trials']}
    os.makedirs(osp.dirname(osp.abspath(args.output)), exist_ok=True)
    args.threads = max(1, torch.get_num_threads() // args.jobs)
    settings = [{**setting, **args.fixed} for setting in candidates(
        args.dataset, args.model, args.trials, args.seed)]
    args.order = {key(s): i for i, s in enumerate(settings)}
    for trial in run_trials(args, [s for s in settings
                                   if key(s) not in done]):
        done[key(trial['hyperparameters'])] = trial
        print(f'{trial["hyperparameters"]}: valid {METRIC} '
              f'{trial["valid"][METRIC]:.4f} (best epoch '
              f'{trial["best_epoch"]}, {trial["train_seconds"]:.0f}s)',
              flush=True)
        save(args, done)
    if not done:
        print('no trial finished: nothing written')
        return 0
    best = save(args, done)
    print(f'best: {best["hyperparameters"]} with valid {METRIC} '
          f'{best["valid"][METRIC]:.4f}; written to {args.output}')
    return 0


def main(argv=None, prog=None, description=None) -> int:
    r"""``hlr-graph tune`` as a function: returns the exit code."""
    parser = ArgumentParser(
        prog=prog, description=description or __doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return execute(parser, argv, lambda args: run(args, parser))


def key(setting: dict) -> str:
    return json.dumps(setting, sort_keys=True)


def run_trials(args, todo: list):
    r"""Yields the trials of :obj:`todo` as they finish, :obj:`args.jobs`
    at a time (in spawned worker processes when above 1). None starts after
    the time budget; after a failed trial none starts either, the running
    ones are still yielded, then the failure is raised."""
    start = time.perf_counter()

    def spent() -> bool:
        if (args.time_budget is not None
                and time.perf_counter() - start > args.time_budget):
            print('time budget spent: no more trials', flush=True)
            return True
        return False

    if args.jobs == 1:
        for setting in todo:
            if spent():
                return
            yield run_trial(args, setting)
        return
    pending, running, error = list(todo), set(), None
    with ProcessPoolExecutor(args.jobs,
                             mp_context=get_context('spawn')) as pool:
        while pending or running:
            if pending and spent():
                pending = []
            while pending and len(running) < args.jobs:
                running.add(pool.submit(run_trial, args, pending.pop(0)))
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                if future.exception() is not None:
                    error, pending = error or future.exception(), []
                else:
                    yield future.result()
    if error is not None:
        raise error


def run_trial(args, setting: dict) -> dict:
    r"""Trains one setting and measures it on the validation interactions."""
    torch.set_num_threads(args.threads)
    results = run_experiment(Experiment(
        dataset=args.dataset, model=args.model,
        data_options=data_options(args), hyperparameters=setting,
        train=TrainConfig(epochs=args.epochs, patience=args.patience,
                          seed=args.seed, device=args.device,
                          optimizer=args.optimizer, progress=False,
                          log=False),
        num_cohorts=0, test=False))
    return {'hyperparameters': setting, 'valid': results['valid'],
            'best_epoch': results['best_epoch'],
            'train_seconds': results['train_seconds'],
            'device': results['environment']['accelerator'] or args.device}


def save(args, done):
    r"""Writes the trials in the order of the candidates (ties of the best
    go to the earlier one) and returns the best."""
    trials = sorted(done.values(), key=lambda t: args.order.get(
        key(t['hyperparameters']), len(args.order)))
    best = max(trials, key=lambda t: t['valid'][METRIC])
    write_json({'dataset': args.dataset, 'model': args.model,
                'data_options': data_options(args),
                'selected_by': f'valid {METRIC}', 'grid': search_space(
                    args.model), 'fixed': args.fixed,
                'optimizer': args.optimizer, 'epochs': args.epochs,
                'patience': args.patience, 'seed': args.seed,
                'trials': trials, 'best': best}, args.output)
    return best


