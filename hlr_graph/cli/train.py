r"""``hlr-graph train``: train a recommender and measure it by full ranking
on held-out interactions (``examples/train_hlr.py`` is this command).

Flags map onto :class:`~hlr_graph.train.Experiment` and
:class:`~hlr_graph.train.TrainConfig` by name; a flag that is not given
keeps the dataclass default, or the ``--preset``'s setting for a model
flag (the authors' by default), or,
with ``--resume``, the stopped run's value. A finished run in
``--output-dir`` is replaced only with ``--overwrite``, and stays until the
new run has its first checkpoint. Under ``torchrun`` with ``--distributed``,
the processes train one model together and rank ``0`` alone prints and
writes (``docs/scaling.md``)."""
import argparse
import importlib.util
import os
import os.path as osp
from dataclasses import fields
from typing import Collection, Dict, List, Optional

import torch.distributed

from hlr_graph import distributed
from hlr_graph.cli.common import (
    ERRORS,
    add_evaluation_arguments,
    check_folder,
    command,
    device,
    format_metrics,
    list_files,
    note,
    note_cutoffs,
    run_dataset_options,
    run_title,
)
from hlr_graph.data.batch import HISTORY_SAMPLING
from hlr_graph.data.cli import (
    MAX_SEED,
    ArgumentParser,
    UsageError,
    add_data_arguments,
    check_dataset,
    data_options,
    dataset_name,
    exit_with,
    integer,
    is_mistake,
    number,
    refuse_changes,
)
from hlr_graph.data.registry import loaded_name
from hlr_graph.models import MODELS, Recommender
from hlr_graph.models.registry import (
    PRESETS,
    default_hyperparameters,
    setting_defaults,
    setting_names,
    trained_by_gradient,
)
from hlr_graph.nn.objectives import LOSSES, SettingNames, check_negatives
from hlr_graph.train.experiment import (
    CHECKPOINT_FILE,
    RESULTS_FILE,
    RUN_FILE,
    Experiment,
    read_run,
    recover_run,
    run_experiment,
    run_files,
)
from hlr_graph.train.trainer import (
    OPTIMIZERS,
    SELECT_BY,
    NonFiniteLossError,
    TrainConfig,
)

HELP = 'train a model and measure it by full ranking (results.json)'
DEFAULT_DATASET, DEFAULT_MODEL = 'synthetic', 'cml'

MODEL_FLAGS = ('lr', 'lr_decay', 'margin', 'embedding_dim', 'num_memories',
               'max_history', 'history_sampling', 'user_slot', 'copy',
               'clip_ram', 'temperature', 'weight_decay', 'num_layers',
               'regularization', 'alpha', 'loss', 'negative_weight',
               'num_negatives', 'share_negatives')
r"""Flags (by ``dest``, the model argument's or training setting's name)
that override the preset's settings; :obj:`None` keeps them."""
TRAIN_FLAGS = ('optimizer', 'epochs', 'batch_size', 'patience', 'select_by',
               'seed', 'device', 'eval_every', 'eval_users', 'num_workers',
               'distributed')
r"""Flags (by ``dest``) that set :class:`TrainConfig` fields."""
GRADIENT_FLAGS = ('optimizer', 'epochs', 'batch_size', 'patience', 'select_by',
                  'eval_every', 'num_workers')
r"""Flags (by ``dest``) of training by gradient, which models fitted in
closed form (MF-ALS, most-popular) refuse."""
EXPERIMENT_FLAGS = ('preset', 'ks', 'metric_mode', 'num_cohorts', 'cohort_size',
                    'eval_users', 'save_recommendations', 'refit')
r"""Flags (by ``dest``) that set :class:`Experiment` fields."""
FREE_FLAGS = ('device', )
r"""Flags that may differ from a stopped run's when resuming it: where it
runs, not what it computes. (The loaders' worker processes draw their own
random streams, so ``--num-workers`` must stay.)"""


def _default(cls, name: str):
    return {f.name: f.default for f in fields(cls)}[name]


def add_arguments(parser: ArgumentParser):
    r"""Adds the flags of ``train`` to :obj:`parser`."""
    add_data_arguments(parser, default=DEFAULT_DATASET)
    model = parser.add_argument_group('model')
    model.add_argument('--model', choices=sorted(MODELS), default=None,
                       help=f'(default: {DEFAULT_MODEL})')
    model.add_argument('--preset', choices=PRESETS, default=None,
                       help="the settings of flags left out: paper (the "
                       "authors', for the data set's family) or best (this "
                       "project's validation searches: objective, "
                       'negatives, learning rate, ...; a model no search '
                       "covered keeps the paper's; docs/results.md "
                       'section 11) (default: paper)')
    model.add_argument('--dim', dest='embedding_dim', type=integer(1),
                       default=None, metavar='D',
                       help='embedding size d (default: 100)')
    model.add_argument('--margin', type=number(0, open_low=True),
                       default=None,
                       help="hinge margin m (default: the preset's)")
    model.add_argument('--loss', choices=LOSSES, default=None,
                       help="the metric models' objective over --num-negatives "
                       "K negatives: hinge (the paper's, on every negative), "
                       'hardest (hinge on the closest), warp (that hinge '
                       "weighted by CML's WARP rank estimate) or ccl (a "
                       'SimpleX-style contrastive loss) (default: the '
                       "preset's; hinge in paper)")
    model.add_argument('--negative-weight', type=number(0, open_low=True),
                       default=None,
                       help='weight of the negatives in --loss ccl '
                       "(default: the preset's, else 1)")
    model.add_argument('--num-memories', type=integer(1), default=None,
                       help='memory slots N of HLR / HLR++ (default: 20)')
    model.add_argument('--max-history', type=integer(-1), default=None,
                       help='history size L (-1: all of it; default: the '
                       "authors', 50, or 5 on Yelp)")
    model.add_argument('--history-sampling', choices=HISTORY_SAMPLING,
                       default=None, help="(default: the preset's)")
    model.add_argument('--user-slot', action=argparse.BooleanOptionalAction,
                       default=None, help="the user slot in HLR's history "
                       "(catex in the authors' code, "
                       "https://github.com/deezer/recsys21-hlr)")
    model.add_argument('--copy', action=argparse.BooleanOptionalAction,
                       default=None, help="the negative reuses the "
                       "positive's relation")
    model.add_argument('--clip-ram', action=argparse.BooleanOptionalAction,
                       default=None, help='also clip memories and keys')
    model.add_argument('--key-temperature', dest='temperature',
                       type=number(0, open_low=True), default=None,
                       metavar='T',
                       help='temperature of the memory key softmax of LRML, '
                       'HLR and HLR++ (default: 1, as the paper)')
    model.add_argument('--weight-decay', type=number(0), default=None,
                       help='L2 penalty of BPR-MF and LightGCN')
    model.add_argument('--num-layers', type=integer(0), default=None,
                       help='LightGCN layers (default: 3)')
    model.add_argument('--regularization', type=number(0), default=None,
                       help="ALS's lambda (default: the authors', 30 or 20)")
    model.add_argument('--confidence', dest='alpha', type=number(0),
                       default=None, metavar='ALPHA',
                       help="ALS's confidence scaling alpha (default: 1)")
    train = parser.add_argument_group('training')
    train.add_argument('--lr', type=number(0, open_low=True), default=None,
                       help="Adam's learning rate, for models trained by "
                       "gradient (default: the preset's setting for this "
                       "data set and model)")
    train.add_argument('--lr-decay', type=number(0, 1, open_low=True),
                       default=None, metavar='GAMMA',
                       help='for models trained by gradient: multiply the '
                       'learning rate by GAMMA in (0, 1] after every epoch: '
                       'epoch e trains at lr * GAMMA^(e-1), a refit too '
                       "(default: the preset's setting for this data set "
                       'and model; 1, constant, as the paper, in paper)')
    train.add_argument('--optimizer', choices=OPTIMIZERS, default=None,
                       help="adam: Adam over whole tables, every row clipped "
                       "(the paper's); sparse_adam: Adam on the embedding "
                       "rows a batch reads, only they clipped, so a step "
                       "costs what the batch reads (not for lightgcn; "
                       f'default: {_default(TrainConfig, "optimizer")})')
    train.add_argument('--epochs', type=integer(1), default=None,
                       help=f'(default: {_default(TrainConfig, "epochs")})')
    train.add_argument('--batch-size', type=integer(1), default=None,
                       help='(default: '
                       f'{_default(TrainConfig, "batch_size")})')
    train.add_argument('--patience', type=integer(1), default=None,
                       help='stop after this many epochs without a better '
                       'validation loss or metric (default: run all epochs)')
    train.add_argument('--select-by', choices=SELECT_BY, default=None,
                       help="keep the epoch with the lowest validation loss "
                       "(the paper's choice) or the highest validation "
                       "metric, measured every --eval-every epochs (default: "
                       "loss)")
    train.add_argument('--seed', type=integer(0, MAX_SEED), default=None,
                       help='seeds initialisation, batches, negatives and '
                       'histories (the split has --split-seed; default: 0)')
    train.add_argument('--device', type=device, default=None,
                       help='cpu, cuda, cuda:N or mps (default: cpu)')
    train.add_argument('--num-negatives', type=integer(1), default=None,
                       metavar='K',
                       help='negatives per training triplet, each avoiding '
                       "the user's items, for the metric models (cml, lrml, "
                       "transcf, adacml, hlr, hlrpp; default: the preset's; "
                       '1 in paper)')
    train.add_argument('--share-negatives',
                       action=argparse.BooleanOptionalAction, default=None,
                       help='draw the --num-negatives K negatives once per '
                       'batch for all of its triplets (masked where one is '
                       "the user's own item): for cml and models with "
                       '--copy one matrix product, so that K can be in the '
                       'thousands '
                       "(default: the preset's; off in paper)")
    train.add_argument('--num-workers', type=integer(0), default=None,
                       help='sampling processes of the loaders, for one '
                       'negative per triplet only: several, or shared ones, '
                       "are drawn on the model's device (default: 0)")
    train.add_argument('--valid-users', type=integer(1), default=None,
                       metavar='N',
                       help='rank a random sample of N validation users, the '
                       'same each time, for --select-by, --eval-every and '
                       "the results' validation metrics, however many users "
                       'the test ranks (default: --eval-users)')
    train.add_argument('--eval-every', type=integer(0), default=None,
                       help='print validation NDCG@10 / Recall@10 every N '
                       'epochs (0: never, or every epoch with a metric '
                       '--select-by)')
    train.add_argument('--distributed', action='store_true', default=None,
                       help='train in the processes torchrun starts (torchrun '
                       '--nproc_per_node=N ... --distributed): each takes '
                       'its share of every batch of --batch-size triplets, '
                       'gradients are summed across them, and rank 0 alone '
                       'writes; gloo on CPU, NCCL on CUDA (--device cuda: '
                       'the GPU of each LOCAL_RANK); see docs/scaling.md')
    train.add_argument('--refit', action='store_true', default=None,
                       help='choose the number of epochs E on the validation '
                       'split (the kept epoch, by --select-by), then '
                       'rebuild the model from the same --seed, train it on '
                       'training + validation interactions for exactly E '
                       'epochs with no selection (model.pt; the selection '
                       "run's weights in selection_model.pt) and measure the "
                       'test once, on it; closed-form models are fitted '
                       'again on both')
    train.add_argument('--resume', action='store_true',
                       help='continue the stopped run of --output-dir from '
                       'its checkpoint.pt, with the settings of its run.json')
    add_evaluation_arguments(parser)
    out = parser.add_argument_group('output')
    out.add_argument('--output-dir', default=None,
                     help='(default: runs/DATASET_MODEL_seedSEED)')
    out.add_argument('--overwrite', action='store_true',
                     help='replace the run already in --output-dir (its '
                     'files stay until the new run has its first '
                     'checkpoint)')
    out.add_argument('--save-recommendations', action='store_true',
                     default=None,
                     help='also write recommendations.csv and the split '
                     '(train.csv, valid.csv, test.csv) with original ids')
    out.add_argument('--plot', action='store_true',
                     help='also write PNGs of the losses and metrics '
                     '(needs matplotlib: pip install "hlr_graph[plot]")')
    out.add_argument('--no-progress', action='store_true',
                     help='hide the progress bars')
    out.add_argument('--quiet', action='store_true',
                     help='print only the results table and errors')


def experiment_from_args(args: argparse.Namespace) -> Experiment:
    r"""The :class:`Experiment` of the flags given; the dataclasses'
    defaults fill in the rest."""
    def given(names) -> Dict:
        return {name: getattr(args, name) for name in names
                if getattr(args, name) is not None}

    train = TrainConfig(**given(TRAIN_FLAGS), progress=not (
        args.no_progress or args.quiet), log=not args.quiet)
    if args.valid_users is not None:
        train.eval_users = args.valid_users
    settings = given(EXPERIMENT_FLAGS)
    if 'ks' in settings:
        settings['ks'] = tuple(settings['ks'])
    return Experiment(
        dataset=dataset_name(args, DEFAULT_DATASET),
        model=args.model or DEFAULT_MODEL,
        data_options=data_options(args),
        hyperparameters=given(MODEL_FLAGS), train=train,
        output_dir=output_dir(args), **settings)


def output_dir(args: argparse.Namespace) -> str:
    r"""``--output-dir``, else ``runs/DATASET_MODEL_seedSEED``."""
    if args.output_dir:
        return args.output_dir
    name = osp.basename(dataset_name(args, DEFAULT_DATASET))
    seed = args.seed if args.seed is not None else _default(TrainConfig,
                                                            'seed')
    return osp.join('runs', f'{name}_{args.model or DEFAULT_MODEL}_seed'
                    f'{seed}')


def resumed_experiment(args: argparse.Namespace, parser: ArgumentParser,
                       out: str) -> Experiment:
    r"""The experiment of the stopped run in :obj:`out`, as its
    ``run.json`` records it; a flag given that disagrees with the record is
    refused, naming both values."""
    if not osp.isdir(out):
        raise UsageError(f'--resume: --output-dir {out} does not exist: '
                         'nothing to resume')
    try:
        record = read_run(out)
    except FileNotFoundError as e:
        raise UsageError(f'--resume: {e}') from None
    exp = Experiment.from_record(record, out)
    check_model_flags(exp.model, args, parser)
    exp.dataset, exp.data_options = run_dataset_options(
        args, data_options(args), record, out)
    recorded = {'model': exp.model, **exp.hyperparameters,
                **{f: getattr(exp.train, f) for f in TRAIN_FLAGS},
                **{f: getattr(exp, f) for f in EXPERIMENT_FLAGS}}
    recorded['ks'] = list(recorded['ks'])
    recorded['valid_users'] = exp.train.eval_users
    refuse_changes(
        [(parser.flag(dest), getattr(args, dest), recorded.get(dest))
         for dest in ('model', *MODEL_FLAGS, *TRAIN_FLAGS, *EXPERIMENT_FLAGS,
                      'valid_users')
         if dest not in FREE_FLAGS and getattr(args, dest) is not None
         and getattr(args, dest) != recorded.get(dest)],
        "the run's", osp.join(out, RUN_FILE),
        'leave the flag out to continue the run as it was')
    exp.train.progress = not (args.no_progress or args.quiet)
    exp.train.log = not args.quiet
    for dest in FREE_FLAGS:
        if getattr(args, dest) is not None:
            setattr(exp.train, dest, getattr(args, dest))
    if args.device is None:
        try:
            device(exp.train.device)
        except argparse.ArgumentTypeError as e:
            raise UsageError(f'the run ran on {exp.train.device}, but {e}: '
                             'give --device to continue it here') from None
    return exp


def check_model_flags(model: str, args: argparse.Namespace,
                      parser: ArgumentParser):
    r"""Raises :class:`UsageError` for a flag given that :obj:`model` does
    not take, before any data loads: a model flag outside
    :func:`~hlr_graph.models.registry.setting_names` (``--lr`` only for
    models trained by gradient, ``--num-negatives`` only for those whose
    loss reads several), or a flag of :obj:`GRADIENT_FLAGS` for a model
    fitted in closed form."""
    takes = setting_names(model)
    for dest in MODEL_FLAGS:
        if getattr(args, dest) is not None and dest not in takes:
            flag = typed_flag(parser, dest, getattr(args, dest))
            raise UsageError(f"{flag}: model '{model}' has no such setting")
    for dest in GRADIENT_FLAGS:
        if getattr(args, dest) is not None and not trained_by_gradient(
                model):
            raise UsageError(f"{parser.flag(dest)}: model '{model}' is "
                             'fitted in closed form, not trained by '
                             'gradient; leave the flag out')


def check_optimizer(model: str, optimizer: str, parser: ArgumentParser):
    r"""Raises :class:`UsageError` when :obj:`model`, trained by gradient,
    cannot be trained with :obj:`optimizer`, before any data loads."""
    cls = MODELS[model]
    reason = cls.sparse_refusal()
    if optimizer == 'sparse_adam' and cls.loss is not Recommender.loss \
            and reason is not None:
        raise UsageError(f"{parser.flag('optimizer')} sparse_adam: model "
                         f"'{model}' cannot be trained with sparse updates: "
                         f'{reason} (use adam)')


def check_settings(exp: Experiment, parser: ArgumentParser,
                   notes: bool = True):
    r"""Raises :class:`UsageError`, naming the flags, when the settings
    the run will take (the flags given over the preset's,
    :meth:`~hlr_graph.train.Experiment.settings`) do not go together,
    before any data loads: the rules of the trainer and the models
    (:func:`~hlr_graph.nn.objectives.check_negatives`: negatives shared by
    the batch with fewer than two of them, several negatives or shared
    ones with loader worker processes, a negative weight with a loss that
    reads none) in the words of :class:`FlagNames`. With :obj:`notes`,
    notes a preset's negatives shared by the batch that a flag given draws
    per triplet instead (:func:`~hlr_graph.models.registry.with_flags`)."""
    names = setting_names(exp.model)
    if 'num_negatives' not in names:
        return
    settings, given = exp.settings(), exp.hyperparameters
    defaults = setting_defaults(exp.model)
    preset = default_hyperparameters(loaded_name(exp.dataset), exp.model,
                                     exp.preset)

    def value(dest: str, default=None):
        return settings.get(dest, defaults.get(dest, default))

    flags = FlagNames(parser, given, settings, exp.preset, names)
    k, shared = value('num_negatives'), value('share_negatives')
    try:
        check_negatives(value('loss', 'hinge'), value('negative_weight', 1.0),
                        k, shared, exp.train.num_workers, names=flags)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if notes and preset.get('share_negatives') and not shared:
        causes = ' and '.join(flags.spell(dest, value(dest)) for dest in (
            'num_negatives', 'loss', 'share_negatives') if dest in given)
        hint = (f" (give {parser.flag('share_negatives')} to share them)"
                if k > 1 and 'share_negatives' not in given else '')
        note(f"{causes}: {k:,} negative{'s' if k > 1 else ''} drawn per "
             f"triplet, where --preset {exp.preset} shares "
             f"{preset['num_negatives']:,} by the batch{hint}")


class FlagNames(SettingNames):
    r""":func:`~hlr_graph.nn.objectives.check_negatives`'s errors in the
    flags of :obj:`parser`. A setting of the model (:obj:`names`) that is
    not among the flags :obj:`given` is said to be the :obj:`preset`'s
    (one of its :obj:`settings`) or the default. :meth:`given` and
    :meth:`stays` are the flags typed: a preset's negatives shared by the
    batch give way to a ``--num-negatives`` given
    (:func:`~hlr_graph.models.registry.with_flags`), a
    ``--share-negatives`` given does not."""

    def __init__(self, parser: ArgumentParser, given: Dict, settings: Dict,
                 preset: str, names: Collection[str]):
        self.parser, self.given_flags, self.settings = parser, given, settings
        self.preset, self.names = preset, names

    def name(self, setting: str) -> str:
        return self.parser.flag(setting)

    def spell(self, setting: str, value) -> str:
        return said(self.parser, setting, value)

    def show(self, setting: str, value) -> str:
        text = self.spell(setting, value)
        if setting in self.given_flags or setting not in self.names:
            return text
        return (f"{text} (--preset {self.preset}'s)"
                if setting in self.settings else f'{text} (the default)')

    def give(self, setting: str, value) -> str:
        return f'give {self.spell(setting, value)}'

    def drop(self, setting: str, default) -> str:
        return f'leave {self.name(setting)} out'

    def given(self, setting: str) -> bool:
        return setting in self.given_flags

    stays = given


def typed_flag(parser: ArgumentParser, dest: str, value) -> str:
    r"""The flag of :obj:`dest` that gives :obj:`value`: ``--no-x`` for
    a switch given off, else ``--x``."""
    flag = parser.flag(dest)
    return f'--no-{flag[2:]}' if value is False else flag


def said(parser: ArgumentParser, dest: str, value) -> str:
    r"""The flag of :obj:`dest` as one would type it to give
    :obj:`value`: ``--x`` or ``--no-x`` for a switch, else ``--x VALUE``
    (a float in its shortest form, ``4`` for ``4.0``)."""
    flag = typed_flag(parser, dest, value)
    if isinstance(value, bool):
        return flag
    return f'{flag} {value:g}' if isinstance(value, float) else \
        f'{flag} {value}'


def run(args: argparse.Namespace, parser: ArgumentParser) -> int:
    r"""Runs ``train`` with the parsed flags :obj:`args`; under ``torchrun``
    (``WORLD_SIZE`` above 1, or ``--distributed``) in every process, rank
    ``0`` alone settling the folder, printing and writing, the others
    leaving a mistake's ``error:`` line to it."""
    try:
        return _launch(args, parser)
    except Exception as e:
        rank = (distributed.rank() if torch.distributed.is_initialized()
                else int(os.environ.get('RANK', '0') or 0))
        if rank != 0 and is_mistake(e, ERRORS):
            raise SystemExit(2) from None  # Rank 0 says it.
        raise


def _launch(args: argparse.Namespace, parser: ArgumentParser) -> int:
    if args.refit and args.distributed:
        raise UsageError(f"{parser.flag('refit')} with "
                         f"{parser.flag('distributed')}: the refit trains in "
                         'one process only; leave one of them out')
    missing = distributed.missing_environment()
    if args.distributed and missing:
        raise UsageError(
            f"--distributed: no {', '.join(missing)} in the environment: "
            'start the processes with torchrun, e.g. torchrun '
            '--nproc_per_node=2 examples/train_hlr.py ... --distributed')
    size = distributed.launched_size()
    if size > 1 and not (args.distributed or args.resume or missing):
        check_launch(TrainConfig(), parser)  # Before waiting for the others.
    started = not missing and (args.distributed or size > 1)
    if started:
        distributed.init()
    code = _run(args, parser)
    if started:
        distributed.close()
    return code


def check_launch(train: TrainConfig, parser: ArgumentParser):
    r"""Raises :class:`UsageError` when how the processes were started
    does not fit :obj:`train`: several processes of ``torchrun`` without
    :attr:`~TrainConfig.distributed` (each would train alone, writing the
    same files), or distributed training without torchrun's environment,
    with loader workers, or with every process on one numbered GPU."""
    size = distributed.launched_size()
    flag = parser.flag('distributed')
    if not train.distributed:
        if size > 1:
            raise UsageError(
                f'started by torchrun as {size} processes without {flag}: '
                f'each would train alone and write the same files; give '
                f'{flag}')
        return
    missing = distributed.missing_environment()
    if missing:
        raise UsageError(
            f"the run trains with {flag}, but there is no "
            f"{', '.join(missing)} in the environment: start it with "
            'torchrun')
    if train.num_workers:
        raise UsageError(f"{flag} draws the batches in each process: "
                         f"{parser.flag('num_workers')} must be 0")
    if train.batch_size < size:
        raise UsageError(f"{parser.flag('batch_size')} {train.batch_size} "
                         f'is the global batch, shared out over {size} '
                         f'processes: it must be at least {size}')
    device = distributed.process_device(train.device)
    if device.type == 'cuda' and train.device != 'cuda' and int(
            os.environ.get('LOCAL_WORLD_SIZE', '1')) > 1:
        raise UsageError(f"{parser.flag('device')} {train.device} with "
                         f'{flag}: give --device cuda, and each process '
                         'takes the GPU of its LOCAL_RANK')


def _run(args: argparse.Namespace, parser: ArgumentParser) -> int:
    main = distributed.is_main()
    out = output_dir(args)
    check_folder(out, '--output-dir')
    if args.plot:
        from hlr_graph.cli.plot import require_matplotlib
        require_matplotlib()
    if args.model == 'als' and importlib.util.find_spec('implicit') is None:
        raise UsageError('--model als needs the implicit library: pip install '
                         '"hlr_graph[als]" (pip install -e ".[als]" in a '
                         'clone)')
    if osp.isdir(out) and main:
        recover_run(out)  # A replacement that was killed.
    distributed.barrier()  # Every process reads the folder as it is now.
    if args.resume:
        if args.overwrite:
            raise UsageError('--overwrite starts a new run, --resume '
                             'continues the one there: give one of them')
        exp = resumed_experiment(args, parser, out)
    else:
        check_dataset(dataset_name(args, DEFAULT_DATASET))
        check_replace(out, args.overwrite)
        exp = experiment_from_args(args)
        check_model_flags(exp.model, args, parser)
        check_optimizer(exp.model, exp.train.optimizer, parser)
        check_settings(exp, parser, notes=main)
    check_launch(exp.train, parser)
    try:
        results = run_experiment(exp)
    except NonFiniteLossError as e:
        if args.resume or not osp.isfile(osp.join(out, RESULTS_FILE)):
            raise
        raise UsageError(f'{e}; the run it was to replace is kept in '
                         f'{out}') from None
    except KeyboardInterrupt:
        if not osp.exists(osp.join(out, CHECKPOINT_FILE)):
            raise
        return exit_with(f'interrupted: continue with hlr-graph train '
                         f'--resume --output-dir {out}', 130)
    if not main:
        return 0
    print(format_table(results))
    note_cutoffs('--ks', exp.ks, results['data']['items'])
    if args.plot:
        from hlr_graph.cli.plot import plot_runs
        plot_runs([out], out)
    list_files([path for path in run_files(out) if not (
        args.resume and osp.basename(path) == RUN_FILE)],  # Not rewritten.
        enabled=not args.quiet)
    return 0


def check_replace(out: str, overwrite: bool):
    r"""Raises :class:`UsageError` when :obj:`out` holds a run (finished,
    or stopped with a checkpoint) and :obj:`overwrite` is off."""
    finished = osp.isfile(osp.join(out, RESULTS_FILE))
    if overwrite or not (finished or osp.isfile(osp.join(out,
                                                         CHECKPOINT_FILE))):
        return
    if finished:
        raise UsageError(f'--output-dir {out} holds a finished run '
                         f'({RESULTS_FILE}): give --overwrite to replace it, '
                         'or choose another --output-dir')
    raise UsageError(f'--output-dir {out} holds a stopped run '
                     f'({CHECKPOINT_FILE}, no {RESULTS_FILE}): continue it '
                     'with --resume, replace it with --overwrite, or choose '
                     'another --output-dir')


def format_table(results: dict) -> str:
    r"""The test metrics of :obj:`results` (``results.json``) as a table:
    one row per metric, one column per K."""
    refit = results.get('refit')
    trained = (f"best epoch {results['best_epoch']}, train "
               f"{results['train_seconds']:.1f}s" if refit is None else
               f"best epoch {results['best_epoch']} on validation, train "
               f"{results['train_seconds']:.1f}s; refit on train + "
               f"validation for {refit['epochs']} epoch"
               f"{'' if refit['epochs'] == 1 else 's'}, "
               f"{refit['train_seconds']:.1f}s; test measured once")
    return format_metrics(
        run_title(results['model'], results['dataset'], results['split'],
                  results['split_seed'], results['seed'])
        + f", preset {results.get('preset', 'paper')}: {trained}, eval "
        f"{results['eval_seconds']:.1f}s, {results['num_test_users']} test "
        f"users, {results['metric_mode']} metrics", results['test'])


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None,
         description: Optional[str] = None) -> int:
    r"""``hlr-graph train`` as a function: returns the exit code."""
    return command(add_arguments, run, argv, prog, description or __doc__)
