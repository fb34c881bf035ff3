r"""How sharply a trained HLR / HLR++ / LRML addresses its memory.

For a sample of training (user, item) pairs and random history items it
prints the mean entropy of the key attention :math:`w` over the N memory
slots (uniform attention has entropy log N), its mean largest weight, the
size of the joint embeddings :math:`q_v \odot q_j` that address the keys,
the norms of keys and memories, and how much the relations vary across
pairs.

    python benchmarks/memory_addressing.py --dataset ml-100k \
        --run-dir runs/table2/ml-100k/hlr/seed0
"""
import argparse
import math
import sys

import torch

from hlr_graph.data import ITEM, USER, split_edges
from hlr_graph.data.cli import add_data_arguments, data_options
from hlr_graph.data.registry import load_dataset
from hlr_graph.train import load_model


@torch.no_grad()
def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument('--run-dir', required=True)
    parser.add_argument('--pairs', type=int, default=5000)
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset, **data_options(args))[0]
    model = load_model(args.run_dir, data)
    users, items = model.embeddings()
    gen = torch.Generator().manual_seed(0)
    train = split_edges(data, 'train')
    pick = torch.randint(train.size(1), (args.pairs, ), generator=gen)
    user, item = train[:, pick]
    other = torch.randint(data[ITEM].num_nodes, (args.pairs, ),
                          generator=gen)
    keys, memories = model.memory.keys, model.memory.memories
    print(f'# {" ".join(sys.argv)}')
    print(f'# {args.dataset}: {data[USER].num_nodes} users, '
          f'{data[ITEM].num_nodes} items; N = {keys.size(0)}, uniform '
          f'entropy log N = {math.log(keys.size(0)):.3f}')
    print(f'key norm (mean) {keys.norm(dim=1).mean():.3f}, memory norm '
          f'(mean) {memories.norm(dim=1).mean():.3f}, key temperature '
          f'{model.memory.temperature}')
    for name, a, b in (('item-item (q_v * q_j)', items[item], items[other]),
                       ('user-item (p_u * q_v)', users[user], items[item])):
        weight = model.memory.attention(a, b)
        entropy = -(weight * weight.clamp(min=1e-12).log()).sum(-1)
        relation = weight @ memories
        logit = (a * b) @ model.memory.scaled_keys.t()
        print(f'{name}: joint embedding norm {(a * b).norm(dim=1).mean():.3f}'
              f', key logit std {logit.std():.3f}, attention '
              f'entropy {entropy.mean():.3f}, largest weight '
              f'{weight.max(-1).values.mean():.3f}, relation norm '
              f'{relation.norm(dim=1).mean():.3f} (spread across pairs '
              f'{relation.std(0).norm():.3f})')


if __name__ == '__main__':
    main()
