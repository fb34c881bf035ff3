r"""The paper's Table 2 on the data sets at hand: every model through the
same data pipeline, loaders, trainer and evaluator, over several seeds.

    python examples/reproduce_table2.py --datasets ml-100k --seeds 0 1 2 \
        --output-dir runs/table2 --jobs 2

Each (data set, model, seed) cell is a run of the main job whose
``results.json`` lands in ``OUTPUT_DIR/DATASET/MODEL/seedS/``; finished cells
are skipped, so a stopped run resumes where it was. Settings are the authors'
for the data set's family, or with ``--tuned DIR`` the best validation
setting found by ``examples/tune.py`` in ``DIR/DATASET/MODEL.json``. A
finished cell that was run with other settings (``--epochs``,
``--batch-size``, ``--patience``, ``--select-by``, ``--metric-mode``,
``--tuned``, a data option, or data that changed since) is refused, naming
both values, so that one table never mixes them. The table (``table2.md``,
laid out like the paper's: metrics @10 and @20 in %, median popularity, mean
+- standard deviation over seeds) and its numbers (``table2.json``) are
written to ``OUTPUT_DIR``.
"""
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

import numpy as np

from hlr_graph.cli.common import (
    add_parallel_arguments,
    check_folder,
    command,
    data_changes,
    run_parallel,
)
from hlr_graph.data.cli import (
    LOCATION,
    MAX_SEED,
    UsageError,
    add_data_arguments,
    check_dataset,
    data_options,
    integer,
    refuse_changes,
)
from hlr_graph.data.registry import load_dataset
from hlr_graph.evaluation import METRIC_MODES
from hlr_graph.models import MODELS
from hlr_graph.train import (
    SELECT_BY,
    Experiment,
    TrainConfig,
    run_experiment,
    write_json,
)
from hlr_graph.train.experiment import (
    RESULTS_FILE,
    RUN_FILE,
    check_graph,
    read_json,
    read_run,
)

ORDER = ['popular', 'als', 'bpr', 'lightgcn', 'cml', 'lrml', 'transcf',
         'adacml', 'hlr', 'hlrpp']
NAMES = {'popular': 'Popular', 'als': 'MF-ALS', 'bpr': 'BPR-MF',
         'lightgcn': 'LightGCN', 'cml': 'CML', 'lrml': 'LRML',
         'transcf': 'TransCF', 'adacml': 'AdaCML', 'hlr': 'HLR',
         'hlrpp': 'HLR++'}
ROWS = ['map', 'mrr', 'ndcg', 'precision', 'recall']
TRAIN_SETTINGS = {'--epochs': 'epochs', '--batch-size': 'batch_size',
                  '--patience': 'patience', '--select-by': 'select_by'}
r"""The flags of the cells' training settings, by :class:`TrainConfig`
field."""


def cell_dir(args, dataset: str, model: str, seed: int) -> str:
    return osp.join(args.output_dir, dataset, model, f'seed{seed}')


def tuned_setting(args, dataset: str, model: str) -> Dict:
    if args.tuned is None:
        return {}
    path = osp.join(args.tuned, dataset, f'{model}.json')
    if not osp.exists(path):
        return {}
    best = read_json(path, ('best', ), 'an output of examples/tune.py')
    if not isinstance(best['best'], dict) or not isinstance(
            best['best'].get('hyperparameters'), dict):
        raise UsageError(f"--tuned {args.tuned}: {path} has no "
                         "'hyperparameters' in its 'best' entry, so it is "
                         'not an output of examples/tune.py')
    return best['best']['hyperparameters']


def experiment(args, dataset: str, model: str, seed: int) -> Experiment:
    r"""The run of the cell ``(dataset, model, seed)``."""
    return Experiment(
        dataset=dataset, model=model,
        data_options={k: v for k, v in data_options(args).items()
                      if k != 'force_reload'},  # Loaded once already.
        hyperparameters=tuned_setting(args, dataset, model),
        train=TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                          patience=args.patience,
                          select_by=args.select_by, seed=seed,
                          device=args.device, progress=False, log=False),
        metric_mode=args.metric_mode,
        output_dir=cell_dir(args, dataset, model, seed))


def check_cells(args, finished: List, datasets: Optional[Dict] = None):
    r"""Stops when a finished cell was run with other settings than these
    flags would run it with, or on data that changed since, naming both
    values, so that one table never mixes them. Before the data sets are
    loaded (no :obj:`datasets`), only the data flags given are compared."""
    given = {k: v for k, v in data_options(args).items()
             if k not in LOCATION}
    for cell in finished:
        exp = experiment(args, *cell)
        folder = exp.output_dir
        record = read_run(folder)
        changes = [(flag, getattr(exp.train, name),
                    record['train'].get(name))
                   for flag, name in TRAIN_SETTINGS.items()]
        changes += [('--metric-mode', exp.metric_mode,
                     record['metric_mode']),
                    ('--tuned', exp.hyperparameters,
                     record.get('hyperparameters'))]
        changes = [c for c in changes if c[1] != c[2]]
        if datasets is None:
            changes += data_changes({'name': cell[0], **given},
                                    record.get('data', {}), given=True)
        else:
            changes += data_changes(datasets[cell[0]].options,
                                    record.get('data', {}))
        refuse_changes(changes, "the cell's", osp.join(folder, RUN_FILE),
                       'give the flags it was run with, or another '
                       '--output-dir')
        if datasets is not None:
            check_graph(record, datasets[cell[0]],
                        osp.join(folder, RUN_FILE))


def summarise(args) -> Dict:
    r"""``{dataset: {model: {metric: [values over seeds]}}}`` of finished
    cells."""
    table: Dict = {}
    for dataset in args.datasets:
        for model in args.models:
            for seed in args.seeds:
                path = osp.join(cell_dir(args, dataset, model, seed),
                                RESULTS_FILE)
                if not osp.exists(path):
                    continue
                results = read_json(path, ('test', 'train_seconds'),
                                    'the results of a run')
                cell = table.setdefault(dataset, {}).setdefault(model, {})
                for name, value in results['test'].items():
                    cell.setdefault(name, []).append(value)
                cell.setdefault('train_seconds', []).append(
                    results['train_seconds'])
    return table


def markdown(table: Dict, ks: List[int], metric_mode: str) -> str:
    lines = [f'Metrics in %, mean +- std over seeds ({metric_mode} '
             f'definitions); popularity: median training popularity of the '
             f'distinct recommended items.', '']
    for dataset, models in table.items():
        names = [m for m in ORDER if m in models]
        lines += [f'### {dataset}', '',
                  '| metric | ' + ' | '.join(NAMES[m] for m in names) + ' |',
                  '|---|' + '---|' * len(names)]
        for k in ks:
            for row in ROWS + ['popularity']:
                key = f'{row}@{k}'
                scale = 1 if row == 'popularity' else 100
                cells = []
                for m in names:
                    values = np.array(models[m].get(key, [])) * scale
                    n = len(values)
                    spread = f' +- {values.std():.2f}' if n > 1 else ''
                    cells.append(f'{values.mean():.2f}{spread} ({n})' if n
                                 else '-')
                label = 'Popularity' if row == 'popularity' else row.upper() \
                    if row in ('map', 'mrr', 'ndcg') else row.capitalize()
                lines.append(f'| {label}@{k} | ' + ' | '.join(cells) + ' |')
        seconds = [np.mean(models[m]['train_seconds']) for m in names]
        lines.append('| train s | ' + ' | '.join(f'{s:.0f}' for s in seconds)
                     + ' |')
        lines.append('')
    lines.append('(n) = number of seeds in the cell.')
    return '\n'.join(lines)


def add_arguments(parser):
    parser.add_argument('--datasets', nargs='+', default=['ml-100k'])
    parser.add_argument('--models', nargs='+', default=ORDER,
                        choices=sorted(MODELS))
    parser.add_argument('--seeds', type=integer(0, MAX_SEED), nargs='+',
                        default=[0, 1, 2])
    add_data_arguments(parser, dataset=False)
    parser.add_argument('--tuned', default=None,
                        help='folder of examples/tune.py outputs')
    parser.add_argument('--epochs', type=integer(1), default=100)
    parser.add_argument('--batch-size', type=integer(1), default=1000)
    parser.add_argument('--patience', type=integer(1), default=None)
    parser.add_argument('--select-by', choices=SELECT_BY, default='loss',
                        help='the epoch kept: lowest validation loss or '
                        'highest validation metric')
    parser.add_argument('--metric-mode', choices=METRIC_MODES,
                        default='standard')
    add_parallel_arguments(parser, 'cells')
    parser.add_argument('--output-dir', default='runs/table2')
    parser.add_argument('--report-only', action='store_true',
                        help='only write the table of the finished cells')


def run(args, parser) -> int:
    check_folder(args.output_dir, '--output-dir')
    for dataset in args.datasets:
        check_dataset(dataset)
    cells = [(d, m, s) for d in args.datasets for m in args.models
             for s in args.seeds]
    todo = [cell for cell in cells if not osp.exists(
        osp.join(cell_dir(args, *cell), RESULTS_FILE))]
    finished = [cell for cell in cells if cell not in todo]
    check_cells(args, finished)  # Before any data set loads.
    datasets = {name: load_dataset(name, **data_options(args))
                for name in dict.fromkeys(
                    cell[0] for cell in (finished if args.report_only
                                         else cells))}
    check_cells(args, finished, datasets)
    if todo and not args.report_only:
        print(f'{len(todo)} cells to run', flush=True)
        # Models later in ORDER first: on ml-100k they are the costliest
        # (HLR++, HLR, AdaCML), so parallel jobs end closer together.
        todo.sort(key=lambda cell: -ORDER.index(cell[1]))
        tic = time.perf_counter()
        for exp, _ in run_parallel(run_experiment, [
                experiment(args, *cell) for cell in todo], args.jobs):
            print(f'done: {exp.output_dir}', flush=True)
        print(f'{len(todo)} cells in {(time.perf_counter() - tic) / 60:.1f} '
              f'min with {args.jobs} job(s)', flush=True)

    table = summarise(args)
    os.makedirs(args.output_dir, exist_ok=True)
    write_json({'command': ' '.join(sys.argv), 'metric_mode':
                args.metric_mode, 'cells': table},
               osp.join(args.output_dir, 'table2.json'))
    text = markdown(table, [10, 20], args.metric_mode)
    with open(osp.join(args.output_dir, 'table2.md.tmp'), 'w') as f:
        f.write(f'<!-- {" ".join(sys.argv)} -->\n{text}\n')
    os.replace(osp.join(args.output_dir, 'table2.md.tmp'),
               osp.join(args.output_dir, 'table2.md'))
    print(text)
    return 0


def main(argv=None) -> int:
    return command(add_arguments, run, argv, osp.basename(__file__),
                   __doc__)


if __name__ == '__main__':
    sys.exit(main())
