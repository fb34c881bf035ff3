r"""Full-ranking scoring speed of HLR: every item for every user.

Compares three exact ways to score HLR (L history items plus the user slot,
N memories, d = 100) on the Yelp2018 graph's sizes, with the real users'
training histories when the data set is found (else random ones):

* ``reference``: the authors' way, materialising ``[U, I, L+1, d]`` keys and
  relations per chunk of users (``huitre/models/hiers/hlr.py`` and
  ``attram.py`` in https://github.com/deezer/recsys21-hlr);
* ``gemm``: the plain GEMM factorisation, one user at a time (key logits
  ``[I, L+1, N]`` by one product, relations in memory coordinates);
* ``ours``: :meth:`hlr_graph.models.HLR.score` as the evaluator calls it
  (blocks of users and items, softmax normalisers folded into products).

The slow ways are timed on a sample of users and extrapolated to all users
(said so in the output); ``ours`` runs on ``--users`` users (default: all),
once per ``--blocks USERS:LOGITS`` block size when given (default: the
device's entry of ``hlr_graph.models.relational.DENSE_BLOCKS``). All three are
checked to agree on the sampled users.

    python benchmarks/dense_scoring.py --method ours
    python benchmarks/dense_scoring.py --method reference gemm --sample 64
    python benchmarks/dense_scoring.py --device cuda --users 8000 \
        --blocks 16:4194304 256:67108864
"""
import argparse
import os
import sys
import time

import torch
from torch_geometric.utils import to_dense_batch

from hlr_graph.data import Yelp2018, known_edges
from hlr_graph.loader import HistorySampler, UserItemIndex
from hlr_graph.models import HLR, relational


def reference_scores(model, user, context, mask, chunk=5):
    r"""The reference code's scoring: ``[U, I, L+1, d]`` tensors per chunk."""
    users, items = model.embeddings()
    keys, memories = model.memory.scaled_keys, model.memory.memories
    out = []
    for start in range(0, user.numel(), chunk):
        p = users[user[start:start + chunk]]
        slots = torch.cat([p.unsqueeze(1), context[start:start + chunk]], 1)
        valid = torch.cat([mask.new_ones(p.size(0), 1),
                           mask[start:start + chunk]], 1)
        joint = items.view(1, -1, 1, items.size(1)) * slots.unsqueeze(1)
        relation = torch.softmax(joint @ keys.t(), -1) @ memories
        logit = (relation * p.view(-1, 1, 1, p.size(1))).sum(-1)
        logit = logit.masked_fill(~valid.unsqueeze(1), -torch.inf)
        alpha = torch.softmax(logit, -1)
        r = (alpha.unsqueeze(-1) * relation).sum(2)
        out.append(-(p.unsqueeze(1) + r - items).pow(2).sum(-1))
    return torch.cat(out)


def gemm_scores(model, user, context, mask):
    r"""Plain GEMM factorisation, one user at a time."""
    users, items = model.embeddings()
    keys, memories = model.memory.scaled_keys, model.memory.memories
    gram, to_items = memories @ memories.t(), items @ memories.t()
    out = []
    for row, u in enumerate(user.tolist()):
        p = users[u]
        slots = torch.cat([p.unsqueeze(0), context[row][mask[row]]])
        slot_keys = (slots.unsqueeze(1) * keys).reshape(-1, items.size(1))
        weight = torch.softmax((items @ slot_keys.t()).view(
            items.size(0), slots.size(0), -1), -1)  # [I, S, N]
        alpha = torch.softmax(weight @ (memories @ p), -1)  # [I, S]
        w = (alpha.unsqueeze(-1) * weight).sum(1)  # [I, N]
        distance = ((p - items).pow(2).sum(-1) + 2 * w @ (memories @ p) -
                    2 * (w * to_items).sum(-1) + ((w @ gram) * w).sum(-1))
        out.append(-distance)
    return torch.stack(out)


def clocks():
    if torch.cuda.is_initialized():  # Wait for the queued GPU work.
        torch.cuda.synchronize()
    return time.perf_counter(), time.process_time()


def report(tic, count: int, total: int) -> str:
    r"""Wall and CPU seconds since :obj:`tic` for :obj:`count` users, and
    both scaled to :obj:`total` users (CPU time stays meaningful when other
    jobs share the cores)."""
    wall, cpu = (now - then for now, then in zip(clocks(), tic))
    scale = total / count / 60
    return (f'in {wall:.1f}s wall, {cpu:.1f}s CPU -> {wall * scale:.1f} min '
            f'wall, {cpu * scale:.1f} min CPU for all users')


def ours(model, user, history, count: int, blocks=None):
    r"""Times :meth:`HLR.score` on the first :obj:`count` users in chunks
    of 441 users, as the evaluator calls it on Yelp2018, with the block
    sizes :obj:`blocks` (``'USERS:LOGITS'``) or the default ones."""
    default = relational.DENSE_BLOCKS
    label = blocks or '%d:%d' % relational.dense_blocks(model.device)
    if blocks is not None:
        users, logits = (int(n) for n in blocks.split(':'))
        relational.DENSE_BLOCKS = {**default,
                                   model.device.type: (users, logits)}
    rows = history[:, history[1] < count]  # (history item, user row).
    try:
        tic = clocks()
        for start in range(0, count, 441):
            chunk = slice(start, min(start + 441, count))
            sel = (rows[1] >= chunk.start) & (rows[1] < chunk.stop)
            model.score(user[chunk], torch.stack(
                [rows[0][sel], rows[1][sel] - chunk.start]))
    finally:
        relational.DENSE_BLOCKS = default
    scope = 'measured' if count == user.numel() else 'extrapolated'
    print(f'ours ({label} users:logits per block): '
          f'{count} users {report(tic, count, user.numel())} ({scope})')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--method', nargs='+', default=['ours'],
                        choices=['ours', 'gemm', 'reference'])
    parser.add_argument('--users', type=int, default=None,
                        help='users scored by ours (default: all)')
    parser.add_argument('--sample', type=int, default=32,
                        help='users timed for the slow methods')
    parser.add_argument('--history', type=int, default=5)
    parser.add_argument('--memories', type=int, default=20)
    parser.add_argument('--root', default=os.environ.get('HLR_GRAPH_DATA'))
    parser.add_argument('--device', default='cpu',
                        help="torch device, e.g. 'cuda'")
    parser.add_argument('--blocks', nargs='+', default=None,
                        metavar='USERS:LOGITS',
                        help='block sizes of ours to compare')
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    num_users, num_items = 31_668, 38_048
    user = torch.arange(num_users)
    try:
        data = Yelp2018(root=args.root)[0]
        graph = UserItemIndex(known_edges(data, 'test'), num_users, num_items)
        history = HistorySampler(graph, args.history, 'unpop').sample_rows(
            user, torch.Generator().manual_seed(0))
        source = 'Yelp2018 training + validation histories (unpop)'
    except Exception as e:  # No data: random histories of the same size.
        history = torch.stack([torch.randint(num_items,
                                             (num_users * args.history, )),
                               user.repeat_interleave(args.history)])
        source = f'random histories ({type(e).__name__})'
    model = HLR(num_users, num_items, num_memories=args.memories,
                max_history=args.history).eval().to(args.device)
    model.constrain_()
    user, history = user.to(args.device), history.to(args.device)
    where = (torch.cuda.get_device_name(args.device)
             if model.device.type == 'cuda' else
             f'{torch.get_num_threads()} CPU threads')
    print(f'# {" ".join(sys.argv)}')
    print(f'# {num_users} users x {num_items} items, L = {args.history} + '
          f'user slot, N = {args.memories}, d = 100; {source}; {where}')

    with torch.no_grad():
        items = model.embeddings()[1]
        sample = user[:args.sample]
        part = history[:, history[1] < args.sample]
        context, mask = to_dense_batch(items[part[0]], part[1],
                                       batch_size=args.sample)
        expected = model.score(sample, part)
        for method in args.method:
            if method == 'ours':
                for blocks in args.blocks or [None]:
                    ours(model, user, history, args.users or num_users,
                         blocks)
                continue
            score = reference_scores if method == 'reference' else gemm_scores
            tic = clocks()
            got = score(model, sample, context, mask)
            print(f'{method}: {args.sample} users '
                  f'{report(tic, args.sample, num_users)} (extrapolated); '
                  f'max |difference| to ours '
                  f'{(got - expected).abs().max().item():.2e}')


if __name__ == '__main__':
    main()
