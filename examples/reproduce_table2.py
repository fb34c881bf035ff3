r"""The paper's Table 2 on the data sets at hand: every model through the
same data pipeline, loaders, trainer and evaluator, over several seeds.

    python examples/reproduce_table2.py --datasets ml-100k --seeds 0 1 2 \
        --output-dir runs/table2 --jobs 2

Each (data set, model, seed) cell is a run of the main job whose
``results.json`` lands in ``OUTPUT_DIR/DATASET/MODEL/seedS/``; finished cells
are skipped, so a stopped run resumes where it was. Settings are the authors'
for the data set's family, or with ``--tuned DIR`` the best validation
setting found by ``examples/tune.py`` in ``DIR/DATASET/MODEL.json``. The
table (``table2.md``, laid out like the paper's: metrics @10 and @20 in %,
median popularity, mean +- standard deviation over seeds) and its numbers
(``table2.json``) are written to ``OUTPUT_DIR``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List

import numpy as np
import torch

from hlr_graph.cli.common import check_folder, device, execute
from hlr_graph.data.cli import ArgumentParser, UsageError, integer
from hlr_graph.evaluation import METRIC_MODES
from hlr_graph.models import MODELS
from hlr_graph.train import (
    SELECT_BY,
    Experiment,
    TrainConfig,
    run_experiment,
    write_json,
)

ORDER = ['popular', 'als', 'bpr', 'lightgcn', 'cml', 'lrml', 'transcf',
         'adacml', 'hlr', 'hlrpp']
NAMES = {'popular': 'Popular', 'als': 'MF-ALS', 'bpr': 'BPR-MF',
         'lightgcn': 'LightGCN', 'cml': 'CML', 'lrml': 'LRML',
         'transcf': 'TransCF', 'adacml': 'AdaCML', 'hlr': 'HLR',
         'hlrpp': 'HLR++'}
ROWS = ['map', 'mrr', 'ndcg', 'precision', 'recall']


def cell_dir(args, dataset: str, model: str, seed: int) -> str:
    return osp.join(args.output_dir, dataset, model, f'seed{seed}')


def tuned_setting(args, dataset: str, model: str) -> Dict:
    if args.tuned is None:
        return {}
    path = osp.join(args.tuned, dataset, f'{model}.json')
    if not osp.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)['best']['hyperparameters']


def check_selection(args, finished: List):
    r"""Stops when a finished cell kept its epoch by another criterion than
    ``--select-by``, so that one table never mixes the two."""
    for cell in finished:
        with open(osp.join(cell_dir(args, *cell), 'results.json')) as f:
            kept = json.load(f)['hyperparameters'].get('select_by', 'loss')
        if kept != args.select_by:
            raise UsageError(f'{cell_dir(args, *cell)} was selected by '
                             f'{kept}, not {args.select_by}: use another '
                             '--output-dir')


def run_cell(args, dataset: str, model: str, seed: int) -> str:
    torch.set_num_threads(args.threads)
    folder = cell_dir(args, dataset, model, seed)
    run_experiment(Experiment(
        dataset=dataset, model=model,
        data_options=dict(root=args.root, cache_dir=args.cache_dir),
        hyperparameters=tuned_setting(args, dataset, model),
        train=TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                          patience=args.patience,
                          select_by=args.select_by, seed=seed,
                          device=args.device, progress=False, log=False),
        metric_mode=args.metric_mode, output_dir=folder))
    return folder


def summarise(args) -> Dict:
    r"""``{dataset: {model: {metric: [values over seeds]}}}`` of finished
    cells."""
    table: Dict = {}
    for dataset in args.datasets:
        for model in args.models:
            for seed in args.seeds:
                path = osp.join(cell_dir(args, dataset, model, seed),
                                'results.json')
                if not osp.exists(path):
                    continue
                with open(path) as f:
                    results = json.load(f)
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


def add_arguments(parser: ArgumentParser):
    parser.add_argument('--datasets', nargs='+', default=['ml-100k'])
    parser.add_argument('--models', nargs='+', default=ORDER,
                        choices=sorted(MODELS))
    parser.add_argument('--seeds', type=integer(0), nargs='+',
                        default=[0, 1, 2])
    parser.add_argument('--root', default=None)
    parser.add_argument('--cache-dir', default=None)
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
    parser.add_argument('--device', type=device, default='cpu',
                        help="torch device of the cells, e.g. 'cuda'")
    parser.add_argument('--jobs', type=integer(1), default=1,
                        help="cells run at once, sharing torch's threads "
                        "(or one GPU)")
    parser.add_argument('--output-dir', default='runs/table2')
    parser.add_argument('--report-only', action='store_true',
                        help='only write the table of the finished cells')


def run(args) -> int:
    check_folder(args.output_dir, '--output-dir')
    args.threads = max(1, torch.get_num_threads() // args.jobs)

    cells = [(d, m, s) for d in args.datasets for m in args.models
             for s in args.seeds]
    todo = [cell for cell in cells if not osp.exists(
        osp.join(cell_dir(args, *cell), 'results.json'))]
    if not args.report_only:
        check_selection(args, [c for c in cells if c not in todo])
    if todo and not args.report_only:
        print(f'{len(todo)} cells to run', flush=True)
        # Models later in ORDER first: on ml-100k they are the costliest
        # (HLR++, HLR, AdaCML), so parallel jobs end closer together.
        todo.sort(key=lambda cell: -ORDER.index(cell[1]))
        tic = time.perf_counter()
        if args.jobs == 1:
            for cell in todo:
                print(f'done: {run_cell(args, *cell)}', flush=True)
        else:
            with ProcessPoolExecutor(args.jobs) as pool:
                futures = [pool.submit(run_cell, args, *cell)
                           for cell in todo]
                for future in futures:
                    print(f'done: {future.result()}', flush=True)
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
    parser = ArgumentParser(
        prog=osp.basename(__file__), description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return execute(parser, argv, run)


if __name__ == '__main__':
    sys.exit(main())
