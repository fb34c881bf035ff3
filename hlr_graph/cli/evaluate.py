r"""``hlr-graph evaluate RUN_DIR``: measure a finished run again from its
``model.pt``, on its own graph (the data options of its ``run.json``).

    hlr-graph evaluate runs/ml-100k_hlr_seed0
    hlr-graph evaluate runs/ml-100k_hlr_seed0 --on val --ks 5 10 50

Unset flags take the run's settings (cut-offs, metric mode, cohorts), so
that by default the test numbers are those of its ``results.json``."""
import argparse
import os.path as osp
from typing import List, Optional

from hlr_graph.cli.common import (
    check_folder,
    check_run,
    device,
    execute,
    list_files,
    load_run_dataset,
)
from hlr_graph.data.cli import (
    ArgumentParser,
    UsageError,
    add_data_arguments,
    data_options,
    integer,
)
from hlr_graph.evaluation import METRIC_MODES, Evaluator
from hlr_graph.train.experiment import load_model, read_run, write_json

HELP = "measure a finished run again from its model.pt (test or val)"


def add_arguments(parser: ArgumentParser):
    r"""Adds the flags of ``evaluate`` to :obj:`parser`."""
    parser.add_argument('run_dir', metavar='RUN_DIR',
                        help='a run folder of hlr-graph train')
    parser.add_argument('--on', choices=('test', 'val'), default='test',
                        help='the held-out interactions to rank: test or '
                        'validation (default: test)')
    parser.add_argument('--ks', type=integer(1), nargs='+', default=None,
                        help="metric cut-offs (default: the run's)")
    parser.add_argument('--metric-mode', choices=METRIC_MODES, default=None,
                        help="(default: the run's)")
    parser.add_argument('--cohorts', dest='num_cohorts', type=integer(0),
                        default=None, metavar='N',
                        help="disjoint cohorts (0: all users only; default: "
                        "the run's)")
    parser.add_argument('--cohort-size', type=integer(1), default=None,
                        help="users per cohort (default: the run's)")
    parser.add_argument('--eval-users', type=integer(1), default=None,
                        help="rank a random sample of this many users "
                        "(default: the run's)")
    parser.add_argument('--device', type=device, default='cpu',
                        help='cpu, cuda, cuda:N or mps (default: cpu)')
    parser.add_argument('--output', default=None,
                        help='also write the numbers to this JSON file')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    parser.add_argument('--quiet', action='store_true',
                        help='print only the table and errors')
    add_data_arguments(parser, required=False)


def run(args: argparse.Namespace) -> int:
    r"""Runs ``evaluate`` with the parsed flags :obj:`args`."""
    check_run(args.run_dir)
    if args.output:
        if osp.isdir(args.output):
            raise UsageError(f'--output {args.output}: a folder, not a file')
        check_folder(osp.dirname(osp.abspath(args.output)), '--output')
    record = read_run(args.run_dir)

    def setting(name):
        value = getattr(args, name)
        return record[name] if value is None else value

    dataset = load_run_dataset(args, args.run_dir, data_options(args),
                               log=not args.quiet)
    data = dataset[0]
    model = load_model(args.run_dir, data).to(args.device)
    evaluator = Evaluator(data, args.on, setting('ks'),
                          setting('metric_mode'), setting('num_cohorts'),
                          setting('cohort_size'),
                          max_users=setting('eval_users'))
    items, _ = evaluator.rank(model, progress=not (args.no_progress
                                                   or args.quiet))
    report = evaluator.report(items)
    out = {'run_dir': args.run_dir, 'model': record['model'],
           'dataset': dataset.name, 'data_options': dataset.options,
           'on': args.on, 'metric_mode': setting('metric_mode'),
           'num_users': report['num_users'], 'metrics': report['metrics'],
           'cohorts': report.get('cohorts', {}),
           'cohort_size': report.get('cohort_size')}
    print(format_report(out))
    if args.output:
        write_json(out, args.output)
        list_files([args.output], enabled=not args.quiet)
    return 0


def format_report(out: dict) -> str:
    r"""One row per metric, one column per K."""
    metrics = out['metrics']
    ks = sorted({int(name.split('@')[1]) for name in metrics})
    names = dict.fromkeys(name.split('@')[0] for name in metrics)
    options = out['data_options']
    split = (f"{options.get('split', '?')} split with seed "
             f"{options.get('seed', '?')}")
    lines = [f"{out['model']} on {out['dataset']} ({split}): "
             f"{out['on']} interactions of {out['num_users']} users, "
             f"{out['metric_mode']} metrics",
             f"{'metric':<12}" + ''.join(f'{"@" + str(k):>12}' for k in ks)]
    for name in names:
        lines.append(f'{name:<12}' + ''.join(
            f"{metrics[f'{name}@{k}']:>12.4f}" for k in ks))
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None
         ) -> int:
    r"""``hlr-graph evaluate`` as a function: returns the exit code."""
    parser = ArgumentParser(
        prog=prog, description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return execute(parser, argv, run)

