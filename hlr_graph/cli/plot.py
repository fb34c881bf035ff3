r"""``hlr-graph plot RUN_DIR...``: PNGs of finished runs, for those who would
rather look than read.

    hlr-graph plot runs/ml-100k_cml_seed0 runs/ml-100k_hlr_seed0 \
        --output plots

writes ``loss.png`` (training and validation loss per epoch, the kept epoch
marked), ``valid_metrics.png`` (validation NDCG@10 / Recall@10 per epoch,
when the runs measured them: ``--eval-every`` or ``--select-by``) and
``test_metrics.png`` (the test metrics@K side by side, one group of bars
per run), from each run's ``results.json``. Needs matplotlib
(``pip install "hlr_graph[plot]"``)."""
import argparse
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from hlr_graph.cli.common import check_folder, command, list_files
from hlr_graph.data.cli import ArgumentParser, UsageError
from hlr_graph.train.experiment import PLOT_FILES, RESULTS_FILE, read_json

HELP = 'PNGs of losses and metrics of finished runs, side by side'
TEST_METRICS = ('precision', 'recall', 'ndcg', 'map', 'mrr')
r"""The test metrics compared in ``test_metrics.png``, at every K."""


def require_matplotlib():
    r"""Raises :class:`UsageError` (naming the extra to install) when
    matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError('plots need matplotlib: pip install '
                         '"hlr_graph[plot]"') from None


def read_runs(run_dirs: Sequence[str]) -> List[Tuple[str, Dict]]:
    r"""``(label, results)`` of each run; labels are the folder names, with
    their parents where two runs share a name."""
    runs = []
    for run_dir in run_dirs:
        path = osp.join(run_dir, RESULTS_FILE)
        if not osp.isdir(run_dir):
            raise UsageError(f'RUN_DIR {run_dir}: no such folder')
        if not osp.isfile(path):
            raise UsageError(f'RUN_DIR {run_dir}: no {RESULTS_FILE}, so not '
                             'a finished run of hlr-graph train')
        runs.append((osp.normpath(run_dir), read_json(
            path, ('model', 'dataset'),
            'the results of a run of hlr-graph train')))
    names = [osp.basename(label) for label, _ in runs]
    return [(osp.basename(label) if names.count(osp.basename(label)) == 1
             else label, results) for label, results in runs]


def plot_runs(run_dirs: Sequence[str], output: str) -> List[str]:
    r"""Writes the PNGs of the runs in :obj:`run_dirs` into :obj:`output`
    and returns their paths (a figure with nothing to show is skipped)."""
    require_matplotlib()
    runs = read_runs(run_dirs)
    os.makedirs(output, exist_ok=True)
    written = []
    for name, draw in zip(PLOT_FILES, (_losses, _valid_metrics,
                                       _test_metrics)):
        figure = draw(runs)
        if figure is not None:
            path = osp.join(output, name)
            tmp = f'{path}.{os.getpid()}.tmp'
            figure.savefig(tmp, format='png', dpi=120)
            os.replace(tmp, path)
            written.append(path)
    return written


def _figure(panels: int, width: float = 5.0, height: float = 3.8):
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width * panels, height), layout='constrained')
    return figure, figure.subplots(1, panels, squeeze=False)[0]


def _losses(runs):
    from matplotlib.ticker import MaxNLocator
    runs = [(label, r) for label, r in runs if r.get('epochs')]
    if not runs:
        return None
    figure, axes = _figure(2)
    for index, (label, results) in enumerate(runs):
        epochs = [e['epoch'] for e in results['epochs']]
        color = f'C{index % 10}'
        for ax, key in zip(axes, ('train_loss', 'valid_loss')):
            ax.plot(epochs, [e[key] for e in results['epochs']],
                    color=color, label=label)
        best = results.get('best_epoch')
        if best:
            kept = [e for e in results['epochs'] if e['epoch'] == best]
            if kept:
                axes[1].plot([best], [kept[0]['valid_loss']], 'o',
                             color=color)
    for ax, title in zip(axes, ('training loss', 'validation loss '
                                '(dot: kept epoch)')):
        ax.set(title=title, xlabel='epoch', ylabel='mean loss per triplet')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize='small')
    return figure


def _valid_metrics(runs):
    from matplotlib.ticker import MaxNLocator
    names = sorted({key[6:] for _, r in runs for e in r.get('epochs', [])
                    for key in e if key.startswith('valid_')
                    and key != 'valid_loss'})
    if not names:
        return None
    figure, axes = _figure(len(names))
    for index, (label, results) in enumerate(runs):
        for ax, name in zip(axes, names):
            points = [(e['epoch'], e[f'valid_{name}'])
                      for e in results.get('epochs', [])
                      if f'valid_{name}' in e]
            if points:
                ax.plot(*zip(*points), 'o-', color=f'C{index % 10}',
                        label=label, markersize=3)
    for ax, name in zip(axes, names):
        ax.set(title=f'validation {name}', xlabel='epoch', ylabel=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize='small')
    return figure


def _test_metrics(runs):
    runs = [(label, r) for label, r in runs if r.get('test')]
    if not runs:
        return None
    ks = sorted({int(key.split('@')[1]) for _, r in runs for key in r['test']
                 if key.split('@')[0] in TEST_METRICS})
    bars = [(f'{name}@{k}', i, j) for i, name in enumerate(TEST_METRICS)
            for j, k in enumerate(ks)
            if any(f'{name}@{k}' in r['test'] for _, r in runs)]
    figure, (ax, ) = _figure(1, width=max(7.0, 1.2 + 0.3 * len(bars)
                                          * len(runs)), height=4.6)
    width = 0.8 / len(bars)
    for position, (bar, metric, nth_k) in enumerate(bars):
        # One colour per metric, lighter for each larger K.
        ax.bar([i + (position - (len(bars) - 1) / 2) * width
                for i in range(len(runs))],
               [r['test'].get(bar, 0.0) for _, r in runs], width,
               label=bar, color=f'C{metric % 10}', alpha=1.0 / (1 + nth_k))
    ax.set_xticks(range(len(runs)),
                  [f"{label}\n{r['model']} on {r['dataset']}"
                   for label, r in runs])
    ax.set(title=f"test metrics ({runs[0][1].get('metric_mode', '')} "
           'definitions)', ylabel='value')
    ax.grid(axis='y', alpha=0.3)
    ax.legend(fontsize='small', ncol=len(TEST_METRICS), loc='upper left',
              bbox_to_anchor=(0.0, -0.18))
    return figure


def add_arguments(parser: ArgumentParser):
    r"""Adds the flags of ``plot`` to :obj:`parser`."""
    parser.add_argument('run_dirs', nargs='+', metavar='RUN_DIR',
                        help='finished runs of hlr-graph train')
    parser.add_argument('--output', default=None,
                        help='folder of the PNGs (default: the run folder '
                        'for one run, else ./plots)')


def run(args: argparse.Namespace, parser: ArgumentParser) -> int:
    r"""Runs ``plot`` with the parsed flags :obj:`args`."""
    require_matplotlib()
    output = args.output or (args.run_dirs[0] if len(args.run_dirs) == 1
                             else 'plots')
    check_folder(output, '--output')
    read_runs(args.run_dirs)  # Every run is checked before writing.
    list_files(plot_runs(args.run_dirs, output))
    return 0


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None
         ) -> int:
    r"""``hlr-graph plot`` as a function: returns the exit code."""
    return command(add_arguments, run, argv, prog, __doc__)
