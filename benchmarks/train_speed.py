r"""Speed of training steps on Yelp2018 (31,668 users, 38,048 items, 1.11 M
training pairs), batch 1000, with the authors' Yelp settings of each model,
for dense Adam against sparse updates (``TrainConfig.optimizer``), in one
run.

A step is what :class:`hlr_graph.train.Trainer` does per batch: the batch
(negatives and histories drawn on the model's device by
:class:`~hlr_graph.loader.TripletBatches`), then
:meth:`Trainer.train_step` (loss, backward, optimiser step, clipping) and
the loss read back. The benchmark builds the model, loader and optimisers
through the trainer's own pieces (:meth:`Trainer.loader`,
:func:`build_optimizers`), so it measures what training runs.

Each setting is timed in ``--repeats`` rounds of ``--batches`` batches
(after ``--warmup`` untimed ones), the rounds of all settings interleaved so
that a load change of a shared machine hits each of them. Printed per
setting: the median and the best round's mean ms per batch, the loader's
share of the median batch, triplets per second and the epoch this implies
(the median times the loader's batches); with ``--profile K`` the ``K`` ops
of most self CPU time (``torch.profiler``) over ``--batches`` more batches.

    python benchmarks/train_speed.py --root ../shared/data
    python benchmarks/train_speed.py --models cml hlr --optimizers adam \
        sparse_adam --batches 200 --repeats 3 --profile 12
    python benchmarks/train_speed.py --models cml transcf --optimizers adam \
        --num-negatives 32 --loss hinge
    python benchmarks/train_speed.py --models hlr --optimizers adam \
        --preset best --no-copy --num-negatives 256 --share-negatives
"""
import argparse
import os
import statistics
import sys
import time
from typing import Optional

import torch

from hlr_graph.data import Yelp2018, split_edges
from hlr_graph.loader import TripletBatch
from hlr_graph.models.registry import (
    MODELS,
    PRESETS,
    build_model,
    default_hyperparameters,
    setting_names,
    with_flags,
)
from hlr_graph.nn.objectives import LOSSES
from hlr_graph.train import OPTIMIZERS, TrainConfig, Trainer, build_optimizers


class Setting:
    r"""One model trained with one optimiser, its loader and its step
    times."""
    def __init__(self, data, model: str, optimizer: str, batch_size: int,
                 device: str, seed: int, preset: str = 'paper',
                 objective: Optional[dict] = None):
        self.name, self.optimizer = model, optimizer
        hyperparameters = with_flags(default_hyperparameters(
            'yelp', model, preset), objective or {})
        lr = hyperparameters.pop('lr')
        negatives = hyperparameters.pop('num_negatives', 1)
        shared = hyperparameters.pop('share_negatives', False)
        torch.manual_seed(seed)
        self.model = build_model(model, data['user'].num_nodes,
                                 data['item'].num_nodes,
                                 split_edges(data, 'train'),
                                 **hyperparameters).to(device)
        self.trainer = Trainer(self.model, data, TrainConfig(
            batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed,
            device=device, num_negatives=negatives, share_negatives=shared,
            progress=False, log=False))
        self.optimizers = build_optimizers(self.model, lr, optimizer)
        self.loader = self.trainer.loader('train')
        self.batches = iter(self.loader)
        self.loads, self.steps, self.rounds = [], [], []
        self.hyperparameters = {'lr': lr, 'num_negatives': negatives,
                                'share_negatives': shared, **hyperparameters}

    def next_batch(self) -> TripletBatch:
        try:
            batch = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            batch = next(self.batches)
        if isinstance(batch, TripletBatch):  # Drawn on the model's device.
            return batch
        return TripletBatch.from_hetero(batch).to(self.trainer.device)

    def run(self, batches: int, record: bool = True):
        self.model.train()
        loads, steps = [], []
        for _ in range(batches):
            tic = time.perf_counter()
            batch = self.next_batch()
            toc = time.perf_counter()
            self.trainer.train_step(batch, self.optimizers).item()
            if self.trainer.device.type == 'cuda':
                torch.cuda.synchronize()
            loads.append(toc - tic)
            steps.append(time.perf_counter() - toc)
        if record:
            self.loads += loads
            self.steps += steps
            self.rounds.append(sum(loads + steps) / batches)

    def summary(self, batch_size: int) -> dict:
        total = [a + b for a, b in zip(self.loads, self.steps)]
        median = statistics.median(total)
        return {
            'median_ms': 1000 * median,
            'best_round_ms': 1000 * min(self.rounds),
            'loader_share': statistics.median(self.loads) / median,
            'loader_ms': 1000 * statistics.median(self.loads),
            'step_ms': 1000 * statistics.median(self.steps),
            'triplets_per_s': batch_size / median,
            'epoch_s': median * len(self.loader),
        }

    def profile(self, batches: int, top: int) -> str:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            self.run(batches, record=False)
        return prof.key_averages().table(sort_by='self_cpu_time_total',
                                         row_limit=top)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default=os.environ.get('HLR_GRAPH_DATA'),
                        help='the folder of yelp2018_lightgcn (default: '
                        '$HLR_GRAPH_DATA)')
    parser.add_argument('--models', nargs='+', default=[
        'cml', 'hlr', 'hlrpp', 'lightgcn'], choices=sorted(
            name for name, cls in MODELS.items()
            if cls.loss is not MODELS['popular'].loss))
    parser.add_argument('--optimizers', nargs='+', choices=OPTIMIZERS,
                        default=list(OPTIMIZERS))
    parser.add_argument('--batches', type=int, default=100,
                        help='timed batches per setting and round')
    parser.add_argument('--warmup', type=int, default=10,
                        help='untimed batches per setting first')
    parser.add_argument('--repeats', type=int, default=3,
                        help='rounds per setting, interleaved')
    parser.add_argument('--batch-size', type=int, default=1000)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch's intra-op threads (default: torch's "
                        'own choice, one per core)')
    parser.add_argument('--preset', choices=PRESETS, default='paper',
                        help="the models' settings (default: paper, the "
                        "authors' Yelp settings)")
    parser.add_argument('--num-negatives', type=int, default=None,
                        metavar='K', help="negatives per triplet of the "
                        "metric models (default: the preset's)")
    parser.add_argument('--loss', choices=LOSSES, default=None,
                        help="their objective (default: the preset's)")
    parser.add_argument('--share-negatives', action='store_true',
                        default=None, help='draw the K negatives once per '
                        "batch for all of its triplets (default: the "
                        "preset's)")
    parser.add_argument('--copy', action=argparse.BooleanOptionalAction,
                        default=None, help="HLR's / HLR++'s / LRML's "
                        "negatives reuse the positive's relation (default: "
                        "the preset's)")
    parser.add_argument('--profile', type=int, default=0, metavar='K',
                        help='also print the K ops of most self CPU time '
                        'of each setting')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    data = Yelp2018(root=args.root)[0]
    print(f'# python {" ".join(sys.argv)}')
    print(f'# Yelp2018: {data["user"].num_nodes} users, '
          f'{data["item"].num_nodes} items, '
          f'{split_edges(data, "train").size(1)} training pairs; batch '
          f'{args.batch_size}, device {args.device}, torch '
          f'{torch.__version__}, {torch.get_num_threads()} threads, load '
          f'average {os.getloadavg()[0]:.2f} at the start', flush=True)
    settings = []
    for model in args.models:
        for optimizer in args.optimizers:
            try:
                objective = {name: value for name, value in [
                    ('num_negatives', args.num_negatives),
                    ('loss', args.loss),
                    ('share_negatives', args.share_negatives),
                    ('copy', args.copy)]
                    if value is not None
                    and name in setting_names(model)}
                setting = Setting(data, model, optimizer, args.batch_size,
                                  args.device, args.seed, args.preset,
                                  objective)
            except ValueError as error:
                print(f'# {model} {optimizer}: refused: {error}')
                continue
            print(f'# {model}: {setting.hyperparameters}', flush=True)
            setting.run(args.warmup, record=False)
            settings.append(setting)
    for round_ in range(1, args.repeats + 1):
        for setting in settings:
            setting.run(args.batches)
            print(f'# round {round_}: {setting.name} {setting.optimizer} '
                  f'{1000 * setting.rounds[-1]:.1f} ms per batch, load '
                  f'average {os.getloadavg()[0]:.2f}', flush=True)
    print(f'# load average {os.getloadavg()[0]:.2f} at the end; '
          f'{args.repeats} rounds of {args.batches} batches per setting')
    print('| model | optimizer | ms per batch (median) | best round | '
          'loader ms | loader share | step ms | triplets/s | epoch s |')
    print('|---|---|---|---|---|---|---|---|---|')
    for setting in settings:
        s = setting.summary(args.batch_size)
        print(f"| {setting.name} | {setting.optimizer} | "
              f"{s['median_ms']:.1f} | {s['best_round_ms']:.1f} | "
              f"{s['loader_ms']:.1f} | {100 * s['loader_share']:.0f} % | "
              f"{s['step_ms']:.1f} | {s['triplets_per_s']:,.0f} | "
              f"{s['epoch_s']:.1f} |", flush=True)
    if args.profile:
        for setting in settings:
            print(f'\n## {setting.name} {setting.optimizer}: top '
                  f'{args.profile} ops by self CPU time over '
                  f'{args.batches} batches')
            print(setting.profile(args.batches, args.profile), flush=True)


if __name__ == '__main__':
    main()
