r"""Training throughput of one process against several
(``TrainConfig.distributed``, ``torchrun --standalone --nproc_per_node=P``
on this machine, gloo on the CPU), at the same global batch.

For each process count of ``--processes`` and each optimiser, the script
starts ``torchrun`` on itself (``--worker``). Every process trains CML (or
HLR) with the library's :class:`~hlr_graph.train.Trainer` on a synthetic
graph of ``--interactions`` (cached by rank 0 first), its training loader
cut to ``--steps`` global batches per epoch (the same batches in every
run), its validation loader to one batch, for ``--epochs`` epochs; an epoch
is timed by the trainer (its record's ``seconds``: the steps, sampling and
the all-reduce of each step's loss included, plus one validation batch).
Rank 0 prints one JSON line: the median of epochs 2 onwards in seconds and
triplets (global) per second, and the gradient bytes each process sent per
step (:class:`~hlr_graph.distributed.GradientExchange`). One process runs
under torchrun too (``--distributed`` with a world of one: the same code,
an all-reduce that sends to no one).

Each process runs ``--threads`` torch threads (default 1), so P processes
use P cores; ``--one-process-threads`` adds a run of one process with that
many threads, the fair comparison on the same cores.

    python benchmarks/distributed.py
    python benchmarks/distributed.py --processes 1 2 --optimizers adam \
        sparse_adam --interactions 1000000 --steps 100 --epochs 4 \
        --one-process-threads 2
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch


def worker(args) -> int:
    from hlr_graph import distributed
    from hlr_graph.data import SyntheticMultiInterest, split_edges
    from hlr_graph.data.graph import ITEM, USER
    from hlr_graph.models import build_model, default_hyperparameters
    from hlr_graph.train import TrainConfig, Trainer

    class StepTrainer(Trainer):
        r"""The trainer with its training loader over ``steps`` global
        batches of training pairs (the same ones in every process and run)
        and its validation loader over one batch."""
        def loader(self, split):
            loader = super().loader(split)
            edges = loader.edge_label_index
            count = (args.steps if split == 'train' else 1) * args.batch_size
            pick = torch.randperm(edges.size(1), generator=torch.Generator(
            ).manual_seed(0))[:count]
            loader.edge_label_index = edges[:, pick.to(edges.device)]
            return loader

    torch.set_num_threads(args.threads)
    distributed.init()
    if not distributed.is_main():
        distributed.barrier()  # Rank 0 generates and caches the graph.
    users = args.users or args.interactions // 50
    items = args.items or args.interactions // 200
    data = SyntheticMultiInterest(num_users=users, num_items=items,
                                  interactions=args.interactions,
                                  log=False)[0]
    if distributed.is_main():
        distributed.barrier()
    torch.manual_seed(0)
    settings = default_hyperparameters('yelp', args.model)
    lr = settings.pop('lr')
    model = build_model(args.model, data[USER].num_nodes,
                        data[ITEM].num_nodes, split_edges(data, 'train'),
                        **settings)
    trainer = StepTrainer(model, data, TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=lr,
        optimizer=args.optimizer, progress=False, log=False,
        distributed=True))
    fit = trainer.fit()
    seconds = [epoch['seconds'] for epoch in fit['epochs'][1:]]
    median = statistics.median(seconds)
    if distributed.is_main():
        print(json.dumps({
            'processes': distributed.world_size(),
            'threads_per_process': torch.get_num_threads(),
            'model': args.model, 'optimizer': args.optimizer,
            'users': data[USER].num_nodes, 'items': data[ITEM].num_nodes,
            'train_pairs': split_edges(data, 'train').size(1),
            'batch_size': args.batch_size, 'steps': args.steps,
            'epoch_seconds': [round(s, 3) for s in seconds],
            'median_epoch_seconds': round(median, 3),
            'triplets_per_second': round(args.steps * args.batch_size /
                                         median),
            'gradient_bytes_per_step': round(trainer.exchange.bytes /
                                             trainer.exchange.steps),
            'load_average': [round(x, 2) for x in os.getloadavg()],
        }), flush=True)
    distributed.close()
    return 0


def launch(args, processes: int, threads: int, optimizer: str) -> dict:
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
               f'--nproc_per_node={processes}', __file__, '--worker',
               '--optimizer', optimizer, '--threads', str(threads),
               *(f'--{key.replace("_", "-")}={value}' for key, value in (
                   ('model', args.model), ('interactions', args.interactions),
                   ('users', args.users), ('items', args.items),
                   ('batch_size', args.batch_size), ('steps', args.steps),
                   ('epochs', args.epochs)) if value is not None)]
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f'error: {" ".join(command)} failed:\n'
                         f'{done.stderr[-3000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--processes', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--optimizers', nargs='+',
                        choices=('adam', 'sparse_adam'),
                        default=['adam', 'sparse_adam'])
    parser.add_argument('--model', choices=('cml', 'hlr'), default='cml')
    parser.add_argument('--interactions', type=int, default=1_000_000)
    parser.add_argument('--users', type=int, default=None,
                        help='(default: interactions / 50)')
    parser.add_argument('--items', type=int, default=None,
                        help='(default: interactions / 200)')
    parser.add_argument('--batch-size', type=int, default=1000,
                        help='the global batch (default: 1000)')
    parser.add_argument('--steps', type=int, default=100,
                        help='global batches per epoch (default: 100)')
    parser.add_argument('--epochs', type=int, default=4,
                        help='epochs, the first untimed (default: 4)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads per process (default: 1)')
    parser.add_argument('--one-process-threads', type=int, default=None,
                        help='also run one process with this many threads')
    parser.add_argument('--worker', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--optimizer', default='adam', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.epochs < 2:
        parser.error('--epochs must be at least 2 (the first is untimed)')

    print(f'# python {" ".join(sys.argv)}')
    print(f'# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} '
          f'at the start, torch {torch.__version__}')
    runs = [(p, args.threads) for p in args.processes]
    if args.one_process_threads:
        runs.append((1, args.one_process_threads))
    rows = []
    for optimizer in args.optimizers:
        for processes, threads in runs:
            tic = time.perf_counter()
            out = launch(args, processes, threads, optimizer)
            out['wall_seconds'] = round(time.perf_counter() - tic, 1)
            print(json.dumps(out), flush=True)
            rows.append(out)
    print(f'# load average {os.getloadavg()[0]:.2f} at the end')
    print('| optimizer | processes x threads | s per epoch (median) | '
          'triplets/s | speed-up | gradient bytes sent per process '
          'per step |')
    print('|---|---|---|---|---|---|')
    for row in rows:
        base = next(r for r in rows if r['optimizer'] == row['optimizer'])
        print(f"| {row['optimizer']} | {row['processes']} x "
              f"{row['threads_per_process']} | "
              f"{row['median_epoch_seconds']:.2f} | "
              f"{row['triplets_per_second']:,} | "
              f"{row['triplets_per_second'] / base['triplets_per_second']:.2f}"
              f" | {row['gradient_bytes_per_step']:,} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
