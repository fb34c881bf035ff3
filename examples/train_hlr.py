r"""Train a recommender and measure it by full ranking on held-out
interactions.

    python examples/train_hlr.py                      # synthetic data, CML
    python examples/train_hlr.py --dataset ml-100k --model hlr
    python examples/train_hlr.py --dataset yelp --model hlrpp
    python examples/train_hlr.py --dataset yelp --model popular

Models: hlr, hlrpp (HLR++), the baselines cml, lrml, transcf, adacml, als
(MF-ALS), bpr (BPR-MF), lightgcn, and popular (the most-popular floor).
Unset model flags take the authors' settings for the data set's family.

Writes ``results.json`` (and with ``--save-recommendations`` the top-K lists
and the split as CSV files with original ids) into ``--output-dir``.
"""
import argparse
import sys

from hlr_graph.data.cli import add_data_arguments, data_options
from hlr_graph.data.dataset import MissingDataError
from hlr_graph.data.interactions import DataFormatError
from hlr_graph.evaluation import METRIC_MODES
from hlr_graph.loader import HISTORY_SAMPLING
from hlr_graph.models import MODELS
from hlr_graph.train import (
    SELECT_BY,
    Experiment,
    TrainConfig,
    run_experiment,
)

# Flags that override the authors' settings (None: keep them).
MODEL_FLAGS = {
    'lr': 'lr', 'margin': 'margin', 'dim': 'embedding_dim',
    'num_memories': 'num_memories', 'max_history': 'max_history',
    'history_sampling': 'history_sampling', 'user_slot': 'user_slot',
    'copy': 'copy', 'clip_ram': 'clip_ram',
    'key_temperature': 'temperature', 'weight_decay': 'weight_decay',
    'num_layers': 'num_layers', 'regularization': 'regularization',
    'confidence': 'alpha'
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_data_arguments(parser, default='synthetic')
    model = parser.add_argument_group('model')
    model.add_argument('--model', choices=sorted(MODELS), default='cml')
    model.add_argument('--dim', type=int, default=None,
                       help='embedding size d (default: 100)')
    model.add_argument('--margin', type=float, default=None,
                       help="hinge margin m (default: the authors' setting)")
    model.add_argument('--num-memories', type=int, default=None,
                       help='memory slots N of HLR / HLR++ (default: 20)')
    model.add_argument('--max-history', type=int, default=None,
                       help='history size L (-1: all of it; default: the '
                       "authors', 50, or 5 on Yelp)")
    model.add_argument('--history-sampling', choices=HISTORY_SAMPLING,
                       default=None, help="(default: the authors' setting)")
    model.add_argument('--user-slot', action=argparse.BooleanOptionalAction,
                       default=None, help="the user slot in HLR's history "
                       "(the reference's catex)")
    model.add_argument('--copy', action=argparse.BooleanOptionalAction,
                       default=None, help="the negative reuses the "
                       "positive's relation")
    model.add_argument('--clip-ram', action=argparse.BooleanOptionalAction,
                       default=None, help='also clip memories and keys')
    model.add_argument('--key-temperature', type=float, default=None,
                       help='temperature of the memory key softmax of LRML, '
                       'HLR and HLR++ (default: 1, as the paper)')
    model.add_argument('--weight-decay', type=float, default=None,
                       help='L2 penalty of BPR-MF and LightGCN')
    model.add_argument('--num-layers', type=int, default=None,
                       help='LightGCN layers (default: 3)')
    model.add_argument('--regularization', type=float, default=None,
                       help="ALS's lambda (default: the authors', 30 or 20)")
    model.add_argument('--confidence', type=float, default=None,
                       help="ALS's confidence scaling alpha (default: 1)")
    train = parser.add_argument_group('training')
    train.add_argument('--lr', type=float, default=None,
                       help="Adam's learning rate (default: the authors' "
                       "setting for this data set and model)")
    train.add_argument('--epochs', type=int, default=100)
    train.add_argument('--batch-size', type=int, default=1000)
    train.add_argument('--patience', type=int, default=None,
                       help='stop after this many epochs without a better '
                       'validation loss or metric (default: run all epochs)')
    train.add_argument('--select-by', choices=SELECT_BY, default='loss',
                       help="keep the epoch with the lowest validation loss "
                       "(the paper's choice) or the highest validation "
                       "metric, measured every --eval-every epochs (default: "
                       "loss)")
    train.add_argument('--seed', type=int, default=0,
                       help='seeds initialisation, batches, negatives and '
                       'histories (the split has --split-seed)')
    train.add_argument('--device', default='cpu')
    train.add_argument('--num-workers', type=int, default=0)
    train.add_argument('--eval-every', type=int, default=0,
                       help='print validation NDCG@10 / Recall@10 every N '
                       'epochs (0: never, or every epoch with a metric '
                       '--select-by)')
    train.add_argument('--no-progress', action='store_true',
                       help='hide the progress bar')
    evaluation = parser.add_argument_group('evaluation')
    evaluation.add_argument('--ks', type=int, nargs='+', default=[10, 20])
    evaluation.add_argument('--metric-mode', choices=METRIC_MODES,
                            default='standard',
                            help="'reference': the authors' MAP and MRR")
    evaluation.add_argument('--cohorts', type=int, default=5,
                            help='disjoint test cohorts (0: all users only)')
    evaluation.add_argument('--cohort-size', type=int, default=10_000)
    evaluation.add_argument('--eval-users', type=int, default=None,
                            help='test (and monitor and select with '
                            '--eval-every / --select-by) a random sample of '
                            'this many users')
    out = parser.add_argument_group('output')
    out.add_argument('--output-dir', default=None,
                     help='(default: runs/DATASET_MODEL_seedSEED)')
    out.add_argument('--save-recommendations', action='store_true',
                     help='also write recommendations.csv and the split '
                     '(train.csv, valid.csv, test.csv) with original ids')
    return parser.parse_args(argv)


def experiment_from_args(args: argparse.Namespace) -> Experiment:
    hyperparameters = {name: getattr(args, flag)
                       for flag, name in MODEL_FLAGS.items()
                       if getattr(args, flag) is not None}
    output_dir = args.output_dir or (
        f'runs/{args.dataset.replace("/", "_")}_{args.model}_seed{args.seed}')
    return Experiment(
        dataset=args.dataset, model=args.model,
        data_options=data_options(args), hyperparameters=hyperparameters,
        train=TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                          patience=args.patience,
                          select_by=args.select_by, seed=args.seed,
                          device=args.device, eval_every=args.eval_every,
                          eval_users=args.eval_users,
                          num_workers=args.num_workers,
                          progress=not args.no_progress),
        ks=args.ks, metric_mode=args.metric_mode, num_cohorts=args.cohorts,
        cohort_size=args.cohort_size, eval_users=args.eval_users,
        output_dir=output_dir,
        save_recommendations=args.save_recommendations)


def format_table(results: dict) -> str:
    ks = sorted({int(name.split('@')[1]) for name in results['test']})
    names = dict.fromkeys(name.split('@')[0] for name in results['test'])
    lines = [
        f"{results['model']} on {results['dataset']} ({results['split']} "
        f"split, seed {results['seed']}): best epoch {results['best_epoch']}, "
        f"train {results['train_seconds']:.1f}s, eval "
        f"{results['eval_seconds']:.1f}s, {results['num_test_users']} test "
        f"users, {results['metric_mode']} metrics",
        f"{'metric':<12}" + ''.join(f'{"@" + str(k):>12}' for k in ks),
    ]
    for name in names:
        lines.append(f'{name:<12}' + ''.join(
            f"{results['test'][f'{name}@{k}']:>12.4f}" for k in ks))
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    exp = experiment_from_args(args)
    try:
        results = run_experiment(exp)
    except (MissingDataError, DataFormatError, FileNotFoundError,
            ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(format_table(results))
    print(f'results written to {exp.output_dir}/results.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
