r"""``hlr-graph evaluate RUN_DIR``: measure a finished run again from its
``model.pt``, on its own graph (the data options of its ``run.json``).

    hlr-graph evaluate runs/ml-100k_hlr_seed0
    hlr-graph evaluate runs/ml-100k_hlr_seed0 --on val --ks 5 10 50

Unset flags take the run's settings (cut-offs, metric mode, cohorts), so
that by default the test numbers are those of its ``results.json``."""
import argparse
import os
import os.path as osp
from typing import List, Optional

from hlr_graph.cli.common import (
    add_evaluation_arguments,
    check_output_file,
    check_run,
    command,
    device,
    format_metrics,
    list_files,
    load_run_dataset,
    note_cutoffs,
    run_title,
)
from hlr_graph.data import ITEM, refit_view
from hlr_graph.data.cli import (
    ArgumentParser,
    UsageError,
    add_data_arguments,
    data_options,
)
from hlr_graph.evaluation import Evaluator
from hlr_graph.train.experiment import load_model, read_run, write_json

HELP = "measure a finished run again from its model.pt (test or val)"


def add_arguments(parser: ArgumentParser):
    r"""Adds the flags of ``evaluate`` to :obj:`parser`."""
    parser.add_argument('run_dir', metavar='RUN_DIR',
                        help='a run folder of hlr-graph train')
    parser.add_argument('--on', choices=('test', 'val'), default='test',
                        help='the held-out interactions to rank: test or '
                        'validation (default: test)')
    parser.add_argument('--device', type=device, default='cpu',
                        help='cpu, cuda, cuda:N or mps (default: cpu)')
    parser.add_argument('--output', default=None,
                        help='also write the numbers to this JSON file '
                        '(its folders are made)')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    parser.add_argument('--quiet', action='store_true',
                        help='print only the table and errors')
    add_evaluation_arguments(parser, of_run=True)
    add_data_arguments(parser, required=False)


def run(args: argparse.Namespace, parser: ArgumentParser) -> int:
    r"""Runs ``evaluate`` with the parsed flags :obj:`args`."""
    check_run(args.run_dir)
    if args.output:
        check_output_file(args.output)
    record = read_run(args.run_dir)
    refit = record.get('refit', False)
    if refit and args.on == 'val':
        raise UsageError(f'--on val: {args.run_dir} is a --refit run, whose '
                         'model.pt was trained on the validation '
                         "interactions too; its selection run's validation "
                         'metrics are in results.json')

    def setting(name):
        value = getattr(args, name)
        return record[name] if value is None else value

    dataset = load_run_dataset(args, args.run_dir, data_options(args),
                               log=not args.quiet)
    data = dataset[0]
    model = load_model(args.run_dir, data).to(args.device)
    sample = args.eval_users
    if sample is None:  # The run's: validation ranked its own sample.
        sample = (record['train'].get('eval_users', record['eval_users'])
                  if args.on == 'val' else record['eval_users'])
    # A refit's test ranks the graph it was trained on (its popularity).
    evaluator = Evaluator(refit_view(data) if refit else data, args.on,
                          setting('ks'),
                          setting('metric_mode'), setting('num_cohorts'),
                          setting('cohort_size'), max_users=sample)
    items, _ = evaluator.rank(model, progress=not (args.no_progress
                                                   or args.quiet))
    report = evaluator.report(items)
    out = {'run_dir': args.run_dir, 'model': record['model'],
           'dataset': dataset.name, 'data_options': dataset.options,
           'seed': record['train'].get('seed'),
           'on': args.on, 'metric_mode': setting('metric_mode'),
           'num_users': report['num_users'], 'metrics': report['metrics'],
           'cohorts': report.get('cohorts', {}),
           'cohort_size': report.get('cohort_size')}
    print(format_report(out))
    note_cutoffs('--ks', setting('ks'), data[ITEM].num_nodes)
    if args.output:
        os.makedirs(osp.dirname(osp.abspath(args.output)), exist_ok=True)
        write_json(out, args.output)
        list_files([args.output], enabled=not args.quiet)
    return 0


def format_report(out: dict) -> str:
    r"""The numbers of ``evaluate`` (:obj:`out`, as ``--output`` writes
    them) as a table: one row per metric, one column per K."""
    options = out['data_options']
    return format_metrics(
        run_title(out['model'], out['dataset'], options.get('split', '?'),
                  options.get('seed', '?'), out.get('seed', '?'))
        + f": {out['on']} interactions of {out['num_users']} users, "
        f"{out['metric_mode']} metrics", out['metrics'])


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None
         ) -> int:
    r"""``hlr-graph evaluate`` as a function: returns the exit code."""
    return command(add_arguments, run, argv, prog, __doc__)
