r"""A user's top 10, with the reasons HLR gives for each item.

    python examples/train_hlr.py --dataset ml-100k --model hlr \
        --output-dir runs/ml-100k_hlr
    python examples/recommend.py --dataset ml-100k --run-dir runs/ml-100k_hlr \
        --user 196

Without ``--run-dir`` it first trains a model for ``--epochs`` epochs. Items
the user already interacted with (training and validation) are left out.
For HLR and HLR++ each item comes with the history items its user attention
weighs most ("because you liked ...") and its dominant memory slots (latent
relation types).
"""
import argparse

import torch

from hlr_graph.data import ITEM, USER, known_edges
from hlr_graph.data.cli import add_data_arguments, data_options
from hlr_graph.data.registry import load_dataset
from hlr_graph.models import (
    MODELS,
    Explanation,
    build_model,
    default_hyperparameters,
)
from hlr_graph.train import TrainConfig, Trainer, load_model


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_data_arguments(parser, default='ml-100k')
    parser.add_argument('--run-dir', default=None,
                        help='a finished run of examples/train_hlr.py')
    parser.add_argument('--model', choices=sorted(MODELS), default='hlr',
                        help='model to train when there is no --run-dir')
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--user', default=None,
                        help='original user id (default: the first user)')
    parser.add_argument('-k', type=int, default=10)
    parser.add_argument('--reasons', type=int, default=2,
                        help='history items shown per recommendation')
    args = parser.parse_args(argv)

    data = load_dataset(args.dataset, **data_options(args))[0]
    if args.run_dir:
        model = load_model(args.run_dir, data)
    else:
        settings = default_hyperparameters(args.dataset, args.model)
        lr = settings.pop('lr', 1e-3)
        torch.manual_seed(0)
        model = build_model(args.model, data[USER].num_nodes,
                            data[ITEM].num_nodes, **settings)
        Trainer(model, data, TrainConfig(epochs=args.epochs, lr=lr)).fit()

    user_ids, item_ids = data[USER].raw_id, data[ITEM].raw_id
    names = data[ITEM].name if 'name' in data[ITEM] else item_ids
    user = user_ids.index(args.user) if args.user else 0
    known = known_edges(data, 'test')
    explain = hasattr(model, 'explain') and model.max_history != 0
    out = model.recommend(torch.tensor([user]), args.k, known,
                          generator=torch.Generator().manual_seed(0),
                          explain=explain)
    items, scores = out[0][0], out[1][0]
    print(f'top {args.k} for user {user_ids[user]} '
          f'({int((known[0] == user).sum())} known interactions)')
    for rank, (item, score) in enumerate(zip(items.tolist(),
                                             scores.tolist())):
        if item < 0:
            break
        print(f'{rank + 1:>3}. {names[item]} (item {item_ids[item]}, '
              f'score {score:.3f})')
        if explain:
            print('     ' + reasons(out[2], rank, names, args.reasons))


def reasons(why: Explanation, rank: int, names, top: int) -> str:
    r"""One line: the history items with the most attention, the user slot,
    and the dominant memory slots."""
    weight, items = why.attention[0, rank], why.history[0]
    order = weight.argsort(descending=True)[:top]
    liked = ', '.join(f'{names[items[j]]} ({weight[j]:.2f})' for j in order
                      if items[j] >= 0 and weight[j] > 0)
    parts = [f'because you liked {liked}'] if liked else []
    if why.slot_attention is not None:
        parts.append(f'you yourself {why.slot_attention[0, rank]:.2f}')
    memory = why.memory[0, rank]
    slots = memory.argsort(descending=True)[:3]
    parts.append('relation types ' + ', '.join(
        f'#{s} ({memory[s] / memory.sum():.2f})' for s in slots.tolist()))
    return '; '.join(parts)


if __name__ == '__main__':
    main()
