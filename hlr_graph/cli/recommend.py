r"""``hlr-graph recommend``: a user's top K, with the reasons HLR gives for
each item (``examples/recommend.py`` is this command).

With ``--run-dir`` the model is a finished run's ``model.pt``, read on the
run's own graph: its ``run.json`` gives the data options, and a data flag
given that disagrees with them is refused. Without it, a model is first
trained for ``--epochs`` epochs. Items the user already interacted with
(training and validation) are left out.

For HLR and HLR++ each item comes with how its user attention spreads over
the history (its entropy against the uniform spread's, :math:`\log L`):
near uniform, no history item explains it more than another, and the output
says so; otherwise the items weighed most ("because you liked ..."). Then
the user slot's weight and the dominant memory slots (latent relation
types)."""
import argparse
import math
from typing import List, Optional

import torch

from hlr_graph.cli.common import check_run, command, load_run_dataset, note
from hlr_graph.data import ITEM, USER, known_edges, split_edges
from hlr_graph.data.cli import (
    ArgumentParser,
    UsageError,
    add_data_arguments,
    check_dataset,
    data_options,
    dataset_name,
    integer,
)
from hlr_graph.data.registry import load_dataset
from hlr_graph.evaluation import recommend
from hlr_graph.models import (
    MODELS,
    Explanation,
    build_model,
    default_hyperparameters,
)
from hlr_graph.train.experiment import check_splits, load_model, read_run
from hlr_graph.train.trainer import TrainConfig, Trainer

HELP = "a user's top K, with the reasons HLR / HLR++ give for each item"
DEFAULT_DATASET, DEFAULT_MODEL, DEFAULT_EPOCHS = 'ml-100k', 'hlr', 20
NEAR_UNIFORM = 0.95
r"""Attention whose entropy exceeds this share of :math:`\log L` is called
near uniform."""


def add_arguments(parser: ArgumentParser):
    r"""Adds the flags of ``recommend`` to :obj:`parser`."""
    add_data_arguments(parser, default=DEFAULT_DATASET)
    parser.add_argument('--run-dir', default=None,
                        help='a finished run of hlr-graph train')
    parser.add_argument('--model', choices=sorted(MODELS), default=None,
                        help='model to train when there is no --run-dir '
                        f'(default: {DEFAULT_MODEL})')
    parser.add_argument('--epochs', type=integer(1), default=None,
                        help='epochs to train when there is no --run-dir '
                        f'(default: {DEFAULT_EPOCHS})')
    parser.add_argument('--user', default=None,
                        help='original user id (default: the first user)')
    parser.add_argument('-k', type=integer(1), default=10,
                        help='items to recommend (default: 10)')
    parser.add_argument('--reasons', type=integer(1), default=2,
                        help='history items shown per recommendation '
                        '(default: 2)')


def run(args: argparse.Namespace, parser: ArgumentParser) -> int:
    r"""Runs ``recommend`` with the parsed flags :obj:`args`."""
    if args.run_dir:
        check_run(args.run_dir, '--run-dir')
        record = read_run(args.run_dir)
        if args.model is not None and args.model != record['model']:
            raise UsageError(f"--model {args.model} differs from the run's "
                             f"{record['model']} ({args.run_dir}/run.json): "
                             'leave it out')
        if args.epochs is not None:
            raise UsageError('--epochs trains a model when there is no '
                             '--run-dir: leave it out with --run-dir')
        data = load_run_dataset(args, args.run_dir, data_options(args))[0]
        model = load_model(args.run_dir, data)
    else:
        name = dataset_name(args, DEFAULT_DATASET)
        check_dataset(name)
        dataset = load_dataset(name, **data_options(args))
        check_splits(dataset, ('train', 'val'))
        data = dataset[0]
        model_name = args.model or DEFAULT_MODEL
        settings = default_hyperparameters(name, model_name)
        lr = settings.pop('lr', 1e-3)
        torch.manual_seed(0)
        model = build_model(model_name, data[USER].num_nodes,
                            data[ITEM].num_nodes, split_edges(data, 'train'),
                            **settings)
        Trainer(model, data, TrainConfig(epochs=args.epochs or
                                         DEFAULT_EPOCHS, lr=lr)).fit()

    user_ids, item_ids = data[USER].raw_id, data[ITEM].raw_id
    names = data[ITEM].name if 'name' in data[ITEM] else item_ids
    user = find_user(user_ids, args.user)
    known = known_edges(data, 'test')
    left = data[ITEM].num_nodes - int((known[0] == user).sum())
    if args.k > left:
        note(f'-k {args.k}: user {user_ids[user]} has only {left} items '
             'left to recommend, so the list is shorter')
    explain = hasattr(model, 'explain') and model.max_history != 0
    out = recommend(model, torch.tensor([user]), args.k, known,
                    generator=torch.Generator().manual_seed(0),
                    explain=explain)
    items, scores = out[0][0], out[1][0]
    print(f'top {args.k} for user {user_ids[user]} '
          f'({int((known[0] == user).sum())} known interactions)')
    if explain:
        entropy, max_entropy = out[2].entropy()
    for rank, (item, score) in enumerate(zip(items.tolist(),
                                             scores.tolist())):
        if item < 0:
            break
        print(f'{rank + 1:>3}. {names[item]} (item {item_ids[item]}, '
              f'score {score:.3f})')
        if explain:
            print('     ' + reasons(out[2], rank, names, args.reasons,
                                    float(entropy[0, rank]),
                                    float(max_entropy[0, rank])))
    return 0


def find_user(user_ids: List[str], user: Optional[str]) -> int:
    r"""The index of original user id :obj:`user` (the first user when
    :obj:`None`)."""
    if user is None:
        return 0
    try:
        return user_ids.index(user)
    except ValueError:
        examples = ', '.join(user_ids[:3])
        raise UsageError(f"--user {user}: no such user in the processed "
                         f"data set (the rating threshold and the k-core may "
                         f"have removed them; original ids such as "
                         f"{examples})") from None


def reasons(why: Explanation, rank: int, names, top: int, entropy: float,
            max_entropy: float) -> str:
    r"""One line on recommendation :obj:`rank` of the first user: how far
    its user attention is from uniform, the history items it weighs most
    (unless near uniform), the user slot and the dominant memory slots.

    Args:
        why (Explanation): The explanation of the recommendations.
        rank (int): The recommendation (``0``: the first).
        names: Display names of items, by item index.
        top (int): History items to name.
        entropy (float): The entropy of the attention, in nats.
        max_entropy (float): Its uniform value, :math:`\log` of the number
            of attended slots.
    """
    weight, items = why.attention[0, rank], why.history[0]
    count = int((items >= 0).sum())
    what = f'{count} items' + (' and the user slot'
                               if why.slot_attention is not None else '')
    spread = (f'entropy {entropy:.2f} of log {round(math.exp(max_entropy))}'
              f' = {max_entropy:.2f} nats')
    if max_entropy > 0 and entropy > NEAR_UNIFORM * max_entropy:
        parts = [f'attention near uniform over {what} ({spread}): no single '
                 'item explains this']
    else:
        order = weight.argsort(descending=True)[:top]
        liked = ', '.join(f'{names[items[j]]} ({weight[j]:.2f})'
                          for j in order if items[j] >= 0 and weight[j] > 0)
        parts = [f'because you liked {liked} (attention {spread})'
                 if liked else f'attention {spread}']
    if why.slot_attention is not None:
        parts.append(f'you yourself {why.slot_attention[0, rank]:.2f}')
    parts.append(relation_types(why.memory[0, rank]))
    return '; '.join(parts)


def relation_types(memory: torch.Tensor, top: int = 3) -> str:
    r"""The dominant memory slots (latent relation types) of one
    recommendation's memory weights ``[N]``, or that the weights are near
    uniform over the :math:`N` slots (entropy above
    :obj:`NEAR_UNIFORM` :math:`\log N`)."""
    share = memory / memory.sum()
    entropy = float(-torch.special.xlogy(share, share).sum())
    uniform = math.log(share.numel())
    if share.numel() > 1 and entropy > NEAR_UNIFORM * uniform:
        return (f'memory near uniform over {share.numel()} relation types '
                f'(entropy {entropy:.2f} of {uniform:.2f} nats)')
    slots = share.argsort(descending=True)[:top]
    return 'relation types ' + ', '.join(
        f'#{s} ({share[s]:.2f})' for s in slots.tolist())


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None,
         description: Optional[str] = None) -> int:
    r"""``hlr-graph recommend`` as a function: returns the exit code."""
    return command(add_arguments, run, argv, prog, description or __doc__)
