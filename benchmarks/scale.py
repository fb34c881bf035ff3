r"""Large graphs on one machine: generates (or loads from the cache) a
synthetic graph of ``--interactions N`` (power-law degrees, planted topics:
:class:`hlr_graph.data.SyntheticMultiInterest`), trains a few steps on it
and ranks 1,000 sampled users, and prints ONE JSON line:

* ``data_seconds``, ``data_peak_rss_gib``: generation and preprocessing
  (5-core, reference split, graph, statistics, cache write and read back),
  or the cache read with ``"cached": true``; peak resident memory so far
  (:func:`resource.getrusage`);
* ``ms_per_step``, ``train_peak_rss_gib``: one step of the
  :class:`~hlr_graph.train.Trainer`'s own loop (sampling a batch of 1,000
  triplets, loss, backward, optimiser step, projection), timed over
  ``--steps`` steps after ``--warmup`` (the loaders' and the optimiser's
  memory included in the peak);
* ``rank_seconds``: :class:`~hlr_graph.evaluation.Evaluator` with
  ``max_users=1000`` ranking every item for 1,000 sampled test users
  (``eval_setup_seconds``: building it);
* ``peak_rss_gib``: peak resident memory of the whole run.

Models take the authors' Yelp settings (HLR: L = 5 ``unpop`` history items
with the user slot, N = 20 memories, d = 100), as in issue 12's table, or
with ``--settings movielens`` the MovieLens ones that a synthetic data set
gets by default in ``examples/train_hlr.py`` (HLR: L = 50 ``random``).

    python benchmarks/scale.py --interactions 1000000
    python benchmarks/scale.py --interactions 10000000 --model hlr
    python benchmarks/scale.py --interactions 100000000 --users 1000000 \
        --items 100000 --data-only
"""
import argparse
import gc
import json
import os
import os.path as osp
import resource
import sys
import time
from dataclasses import fields

import torch

from hlr_graph.data import SyntheticMultiInterest, known_edges, split_edges
from hlr_graph.data.graph import ITEM, USER
from hlr_graph.evaluation import Evaluator
from hlr_graph.loader import TripletBatches
from hlr_graph.models import build_model, default_hyperparameters
from hlr_graph.train import TrainConfig, Trainer


def peak_rss_gib() -> float:
    r"""Peak resident memory of this process so far (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


class _TimedBatches(TripletBatches):
    r"""The trainer's :class:`TripletBatches` that note the time in
    :obj:`stamps` whenever the training loop asks for the next batch, so
    that consecutive stamps bound one whole step (sampling included)."""
    def __init__(self, *args, stamps: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.stamps = stamps

    def __iter__(self):
        for batch in super().__iter__():
            self.stamps.append(time.perf_counter())
            yield batch
        self.stamps.append(time.perf_counter())


class _StepTrainer(Trainer):
    r"""The :class:`Trainer`, with its training batches over
    ``steps * batch_size`` random training pairs (one short epoch) and its
    validation batches over one batch; histories, negatives and the graph
    are the whole training graph's."""
    def __init__(self, *args, steps: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = steps
        self.stamps: list = []  # Not the loader: freed when fit() ends.

    def loader(self, split: str) -> TripletBatches:
        cfg, model = self.config, self.model
        edges = split_edges(self.data, split)
        count = (self.steps if split == 'train' else 1) * cfg.batch_size
        pick = torch.randperm(edges.size(1), generator=torch.Generator(
        ).manual_seed(cfg.seed))[:count]
        return _TimedBatches(
            self.data, edges[:, pick], max_history=model.max_history,
            history_sampling=model.history_sampling,
            positives=known_edges(self.data, 'test' if split == 'val'
                                  else 'train'),
            seed=cfg.seed + (split == 'val'), batch_size=cfg.batch_size,
            shuffle=split == 'train', device=self.device,
            stamps=self.stamps if split == 'train' else [])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--interactions', type=int, required=True)
    parser.add_argument('--users', type=int, default=None,
                        help='(default: interactions / 50)')
    parser.add_argument('--items', type=int, default=None,
                        help='(default: interactions / 200)')
    parser.add_argument('--model', choices=('cml', 'hlr', 'hlrpp'),
                        default='cml')
    parser.add_argument('--settings', choices=('yelp', 'movielens'),
                        default='yelp',
                        help="whose authors' settings the model takes: "
                        "Yelp's (HLR: L = 5 unpop) or MovieLens's, which "
                        'a synthetic or file data set gets by default '
                        '(HLR: L = 50 random) (default: yelp)')
    parser.add_argument('--optimizer', choices=('adam', 'sparse_adam'),
                        default='adam')
    parser.add_argument('--steps', type=int, default=50,
                        help='training steps timed (default: 50)')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=1000)
    parser.add_argument('--eval-users', type=int, default=1000,
                        help='test users ranked after training; 0 ranks '
                        'none (default: 1000)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch\'s)')
    parser.add_argument('--cache-dir', default=None,
                        help='(default: $HLR_GRAPH_CACHE, else '
                        '~/.cache/hlr_graph)')
    parser.add_argument('--force-reload', action='store_true',
                        help='generate and preprocess even when cached')
    parser.add_argument('--data-only', action='store_true',
                        help='stop after generation and preprocessing')
    args = parser.parse_args(argv)
    users = args.users or max(1, args.interactions // 50)
    items = args.items or max(2, args.interactions // 200)
    train_config = {'epochs': 1, 'batch_size': args.batch_size,
                    'progress': False, 'log': False}
    if args.optimizer != 'adam':
        if 'optimizer' not in {f.name for f in fields(TrainConfig)}:
            print(f'error: --optimizer {args.optimizer}: this TrainConfig '
                  'has no optimizer field (sparse updates are issue 12, '
                  'item 3)', file=sys.stderr)
            return 2
        train_config['optimizer'] = args.optimizer
    if args.threads:
        torch.set_num_threads(args.threads)

    out = {'interactions_asked': args.interactions, 'users_asked': users,
           'items_asked': items, 'model': args.model,
           'settings': args.settings,
           'optimizer': args.optimizer, 'threads': torch.get_num_threads(),
           'load_average': [round(x, 2) for x in os.getloadavg()]}
    tic, started = time.perf_counter(), time.time()
    ds = SyntheticMultiInterest(num_users=users, num_items=items,
                                interactions=args.interactions,
                                cache_dir=args.cache_dir,
                                force_reload=args.force_reload, log=False)
    data = ds[0]
    out['data_seconds'] = round(time.perf_counter() - tic, 2)
    out['data_peak_rss_gib'] = round(peak_rss_gib(), 3)
    out['cached'] = os.stat(ds.processed_paths[0]).st_mtime < started
    out['graph'] = {key: ds.stats[key] for key in (
        'users', 'items', 'interactions', 'train', 'valid', 'test')}
    out['cache_file_gib'] = round(osp.getsize(ds.processed_paths[0]) /
                                  2 ** 30, 3)

    if not args.data_only:
        torch.manual_seed(0)
        settings = default_hyperparameters(args.settings, args.model)
        lr = settings.pop('lr')
        model = build_model(args.model, data[USER].num_nodes,
                            data[ITEM].num_nodes,
                            split_edges(data, 'train'), **settings)
        trainer = _StepTrainer(
            model, data, TrainConfig(lr=lr, **train_config),
            steps=args.warmup + args.steps)
        tic = time.perf_counter()
        trainer.fit()
        out['train_seconds'] = round(time.perf_counter() - tic, 2)
        out['train_peak_rss_gib'] = round(peak_rss_gib(), 3)
        stamps = trainer.stamps
        del trainer
        # The loaders and their indexes (16 bytes per edge each) may sit in
        # reference cycles that outlive fit() until the cyclic collector
        # runs: gigabytes at 10^8 interactions.
        gc.collect()
        out['ms_per_step'] = round(
            1000 * (stamps[-1] - stamps[args.warmup]) / args.steps, 2)

    if not args.data_only and args.eval_users > 0:
        tic = time.perf_counter()
        evaluator = Evaluator(data, 'test', ks=(10, 20), num_cohorts=0,
                              max_users=args.eval_users)
        out['eval_setup_seconds'] = round(time.perf_counter() - tic, 2)
        result = evaluator.evaluate(model)
        out['rank_seconds'] = round(result['seconds'], 2)
        out['rank_users'] = result['num_users']
        out['recall@20'] = round(result['metrics']['recall@20'], 4)
    out['peak_rss_gib'] = round(peak_rss_gib(), 3)
    out['command'] = ' '.join(['python', 'benchmarks/scale.py',
                               *(sys.argv[1:] if argv is None else argv)])
    print(json.dumps(out), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
