r"""Models by the names the command line accepts, with the authors' tuned
hyperparameters (the ``configs/`` of https://github.com/deezer/recsys21-hlr,
the code of Tran et al., RecSys 2021)."""
import inspect
from typing import Dict, List, Optional, Type

from torch import Tensor

from hlr_graph.models.adacml import AdaCML
from hlr_graph.models.als import ALS
from hlr_graph.models.base import Recommender
from hlr_graph.models.bpr import BPRMF
from hlr_graph.models.cml import CML
from hlr_graph.models.hlr import HLR, HLRPlusPlus
from hlr_graph.models.lightgcn import LightGCN
from hlr_graph.models.lrml import LRML
from hlr_graph.models.popular import MostPopular
from hlr_graph.models.transcf import TransCF
from hlr_graph.nn.objectives import WEIGHTED

MODELS: Dict[str, Type[Recommender]] = {
    'popular': MostPopular,
    'als': ALS,
    'bpr': BPRMF,
    'lightgcn': LightGCN,
    'cml': CML,
    'lrml': LRML,
    'transcf': TransCF,
    'adacml': AdaCML,
    'hlr': HLR,
    'hlrpp': HLRPlusPlus,
}

FAMILIES = {
    'ml-100k': 'movielens', 'ml-1m': 'movielens', 'ml-20m': 'movielens',
    'ml-25m': 'movielens', 'ml-latest-small': 'movielens',
    'echonest': 'echonest', 'lastfm': 'echonest',
    'yelp': 'yelp', 'yelp-raw': 'yelp', 'yelp-stars': 'yelp',
    'amazon-ratings': 'amazon', 'amazon-book': 'amazon',
}
r"""Which of the paper's four data sets each source stands closest to."""

_ML = dict(num_memories=20, max_history=50, history_sampling='random',
           copy=False, clip_ram=False)
_YELP = dict(num_memories=20, max_history=5, history_sampling='unpop',
             copy=True, clip_ram=True)
_COMMON = {
    'bpr': dict(lr=1e-3, weight_decay=1e-4),
    'lightgcn': dict(lr=1e-3, weight_decay=1e-4),
    'transcf': dict(lr=5e-4, margin=0.5, alpha_nbr=0.1, alpha_dist=0.1),
}
DEFAULTS: Dict[str, Dict[str, Dict]] = {
    'movielens': {
        **_COMMON,
        'als': dict(regularization=30.0),
        'cml': dict(lr=7.5e-4, margin=0.5),
        'lrml': dict(lr=2e-4, margin=0.2, num_memories=20, copy=False,
                     clip_ram=False),
        'adacml': dict(lr=2e-4, margin=0.2, max_history=50,
                       history_sampling='random'),
        'hlr': dict(lr=2e-4, margin=0.2, **_ML),
        'hlrpp': dict(lr=2e-4, margin=0.2, **_ML),
    },
    'echonest': {
        **_COMMON,
        'als': dict(regularization=30.0),
        'cml': dict(lr=7.5e-4, margin=0.5),
        'lrml': dict(lr=5e-4, margin=0.5, num_memories=20, copy=False,
                     clip_ram=False),
        'adacml': dict(lr=5e-4, margin=0.5, max_history=50,
                       history_sampling='random'),
        'hlr': dict(lr=5e-4, margin=0.5, **_ML),
        'hlrpp': dict(lr=7.5e-4, margin=0.5, **_ML),
    },
    'yelp': {
        **_COMMON,
        'als': dict(regularization=20.0),
        'cml': dict(lr=7.5e-4, margin=0.5),
        'lrml': dict(lr=7.5e-4, margin=0.5, num_memories=20, copy=True,
                     clip_ram=True),
        'adacml': dict(lr=5e-4, margin=0.5, max_history=50,
                       history_sampling='random'),
        'hlr': dict(lr=7.5e-4, margin=0.75, **_YELP),
        'hlrpp': dict(lr=5e-4, margin=0.75, **_YELP),
    },
    'amazon': {
        **_COMMON,
        'als': dict(regularization=30.0),
        'cml': dict(lr=5e-4, margin=0.5),
        'lrml': dict(lr=5e-4, margin=0.5, num_memories=20, copy=False,
                     clip_ram=True),
        'adacml': dict(lr=2e-4, margin=0.5, max_history=50,
                       history_sampling='random'),
        'hlr': dict(lr=5e-4, margin=0.5, **{**_ML, 'clip_ram': True}),
        'hlrpp': dict(lr=7.5e-4, margin=0.5,
                      **{**_ML, 'max_history': 10,
                         'history_sampling': 'unpop', 'copy': True,
                         'clip_ram': True}),
    },
}
r"""The authors' settings by family and model (their configs); data sets
outside the four families (synthetic, generic files, Gowalla) take those of
:obj:`OTHER_FAMILY`. BPR-MF and LightGCN have no config there: they take
LightGCN's published settings (learning rate 1e-3, L2 1e-4)."""

OTHER_FAMILY = 'yelp'
r"""The family whose settings a data set outside the four takes: Yelp's
(L = 5 ``unpop`` histories, learning rates 5e-4 to 7.5e-4), which on the
validation splits of ml-latest-small and Last.fm gave HLR twice the NDCG@10
of MovieLens's settings after 30 epochs, at a tenth of the time
(docs/results.md, section 11)."""

GENERIC = 'generic'
r"""The :obj:`BEST` entry of every model that its data set's family had no
search for."""

_MANY_NEGATIVES = dict(loss='hinge', num_negatives=32, lr=2e-3, margin=1.0)
_HARD_NEGATIVES = dict(loss='hardest', num_negatives=32, lr=1e-3, margin=0.5)
_CONTRASTIVE = dict(loss='ccl', num_negatives=32, lr=1e-3, margin=1.0,
                    negative_weight=32.0)
_YELP_CONTRASTIVE = {**_CONTRASTIVE, 'num_negatives': 4096,
                     'share_negatives': True, 'margin': 0.5,
                     'negative_weight': 64.0, 'lr_decay': 0.95}
_ALS = dict(regularization=30.0, alpha=5.0)
_HLR = dict(**_MANY_NEGATIVES, num_memories=20, max_history=20,
            history_sampling='unpop', user_slot=False, copy=True,
            clip_ram=True)
_HLRPP = {**_HLR, 'max_history': 5}
_LRML = {**_MANY_NEGATIVES, 'margin': 0.5, 'num_memories': 20}
_LIGHTGCN = dict(lr=1e-2, weight_decay=1e-4)
BEST: Dict[str, Dict[str, Dict]] = {
    'movielens': {  # ml-100k's searches
        'als': _ALS,
        'bpr': dict(lr=1e-3, weight_decay=1e-5),
        'lightgcn': _LIGHTGCN,
        # 64 negatives per triplet: ahead of 32 on validation for CML and
        # HLR, not for HLR++ (LRML, TransCF and AdaCML: not tried). HLR's
        # 64 is level with 32 on Last.fm (CML's not tried there), so the
        # generic entry keeps 32.
        'cml': {**_MANY_NEGATIVES, 'num_negatives': 64},
        'lrml': _LRML,
        'transcf': _MANY_NEGATIVES,
        'adacml': _MANY_NEGATIVES,
        'hlr': {**_HLR, 'num_negatives': 64},
        'hlrpp': _HLRPP,
    },
    'yelp': {  # Yelp2018's searches: ccl where it beat the hard negatives
        # CML had before (CML, HLR, AdaCML, HLR++); LRML and TransCF keep
        # those. CML, HLR and HLR++ over 4,096 negatives shared by the
        # batch (each ahead of 1,024 on validation), margin 0.5 and w = 64
        # (ahead of 1.0 and 32 on validation at every epoch compared),
        # with a learning rate that decays by 0.95 per epoch (on every
        # validation user ahead of 1, 0.92 and 0.85 for CML, of 1 and 0.92
        # for HLR; HLR++, not compared there, follows HLR).
        'als': dict(regularization=1.0, alpha=10.0),
        'bpr': _COMMON['bpr'],  # Its search kept LightGCN's published.
        'lightgcn': _LIGHTGCN,  # Over its published lr 1e-3.
        'cml': _YELP_CONTRASTIVE,
        'lrml': {**DEFAULTS['yelp']['lrml'], **_HARD_NEGATIVES},
        'transcf': {**DEFAULTS['yelp']['transcf'], **_HARD_NEGATIVES},
        'adacml': {**DEFAULTS['yelp']['adacml'], **_CONTRASTIVE},
        'hlr': {**DEFAULTS['yelp']['hlr'], **_YELP_CONTRASTIVE},
        'hlrpp': {**DEFAULTS['yelp']['hlrpp'], **_YELP_CONTRASTIVE},
    },
    GENERIC: {  # ml-100k's, checked on Last.fm
        'als': _ALS,
        'lightgcn': _LIGHTGCN,
        'cml': _MANY_NEGATIVES,
        'lrml': _LRML,
        'transcf': _MANY_NEGATIVES,
        'hlr': _HLR,
        'hlrpp': _HLRPP,
    },
}
r"""The ``'best'`` preset: by family and model, the settings this project's
validation searches chose over the paper's (docs/results.md, section 11,
with the searches' commands, trials and budgets). A data set whose family
had no search (Echonest, Amazon, one outside the families) takes the
:obj:`GENERIC` entry: the settings that carried over to a data set
outside every search (Last.fm's validation split). A model that its
family's entry, or there the generic one, leaves out keeps the paper's
(on Yelp2018 ml-100k's objective did much worse than the paper's for
CML)."""


PAPER_GRID: Dict[str, List] = {
    'lr': [2e-4, 5e-4, 7.5e-4, 1e-3],
    'num_memories': [5, 10, 20, 50],
    'margin': [0.2, 0.5, 0.75, 1.0],
    'weight_decay': [1e-5, 1e-4, 1e-3],
    'regularization': [1.0, 10.0, 30.0, 100.0],
    'alpha': [1.0, 5.0, 20.0, 40.0],
}
r"""The paper's grid (section 4.3.2: learning rate, memory slots :math:`N`,
margin :math:`m`), plus the L2 penalty of BPR-MF and LightGCN and ALS's
regularisation and confidence scaling."""


TRAINING_SETTINGS = {'lr': 1e-3, 'lr_decay': 1.0, 'num_negatives': 1,
                     'share_negatives': False}
r"""The settings of a run that are the trainer's, not the model's
(:class:`~hlr_graph.train.TrainConfig` fields, with its defaults), which
presets, searches and :class:`~hlr_graph.train.Experiment` hyperparameters
may carry beside the model's arguments."""


def trained_by_gradient(model: str) -> bool:
    return MODELS[model].loss is not Recommender.loss


def setting_names(model: str) -> set:
    r"""What a setting of :obj:`model` may name: its constructor's
    arguments, and for models trained by gradient :obj:`TRAINING_SETTINGS`
    (``num_negatives`` and ``share_negatives`` only where the model's loss
    reads several)."""
    names = _arguments(MODELS[model])
    if trained_by_gradient(model):
        names.update(('lr', 'lr_decay'))
        if MODELS[model].multiple_negatives:
            names.update(('num_negatives', 'share_negatives'))
    return names


def setting_defaults(model: str) -> Dict:
    r"""The value of every :func:`setting_names` entry that has one when
    nothing sets it: the constructor's defaults and the trainer's."""
    return {**{n: v for n, v in TRAINING_SETTINGS.items()
               if n in setting_names(model)},
            **model_arguments(model)}


def search_space(model: str) -> Dict[str, List]:
    r"""The grid of :obj:`model`: the paper's, restricted to the arguments
    the model takes (and ``lr`` for models trained by gradient)."""
    names = setting_names(model)
    return {name: values for name, values in PAPER_GRID.items()
            if name in names}


_GIVEN = ('self', 'num_users', 'num_items', 'edge_index')
r"""Constructor arguments that the data give, never a setting."""


def _signatures(cls) -> List[inspect.Signature]:
    return [inspect.signature(base.__init__) for base in reversed(cls.__mro__)
            if issubclass(base, Recommender)]


def _parameters(cls) -> Dict[str, inspect.Parameter]:
    r"""The settings among the constructor parameters of :obj:`cls` and of
    its recommender bases, a subclass's default overriding its base's:
    neither :obj:`_GIVEN` nor ``*args`` / ``**kwargs``."""
    return {name: p for signature in _signatures(cls)
            for name, p in signature.parameters.items()
            if name not in _GIVEN
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _arguments(cls) -> set:
    return set(_parameters(cls))


def model_arguments(name: str, **hyperparameters) -> Dict:
    r"""Every setting of model :obj:`name`: :obj:`hyperparameters` over its
    constructor's defaults, so that a run records all it was built with."""
    defaults = {arg: p.default for arg, p in _parameters(MODELS[name]).items()
                if p.default is not inspect.Parameter.empty}
    return {**defaults, **hyperparameters}


PRESETS = ('paper', 'best')
r"""Named settings: ``'paper'``, the authors' settings (:obj:`DEFAULTS`),
and ``'best'``, those chosen by this project's validation searches
(:obj:`BEST`; docs/results.md)."""


def default_hyperparameters(dataset: str, model: str,
                            preset: str = 'paper') -> Dict:
    r"""The settings of :obj:`model` on the family of :obj:`dataset` in
    :obj:`preset`: the model's arguments and the training settings
    ``lr`` (and with ``'best'``, ``num_negatives``,
    :obj:`TRAINING_SETTINGS`). ``'best'`` is the paper's where no search
    chose otherwise (:obj:`BEST`)."""
    if model not in MODELS:
        raise ValueError(f"unknown model '{model}': give one of "
                         f'{sorted(MODELS)}')
    if preset not in PRESETS:
        raise ValueError(f"unknown preset '{preset}': give one of "
                         f'{list(PRESETS)}')
    settings = dict(DEFAULTS[FAMILIES.get(dataset, OTHER_FAMILY)].get(
        model, {}))
    if preset == 'best':
        searched = BEST.get(FAMILIES.get(dataset), BEST[GENERIC])
        settings.update(searched.get(model, {}))
    return settings


PER_TRIPLET_NEGATIVES = 32
r"""The :math:`K` negatives per triplet that a preset which shares its
negatives falls back to when a flag takes the sharing away
(:func:`with_flags`): the :math:`K` of the searches before sharing."""


def with_flags(settings: Dict, given: Dict) -> Dict:
    r"""A preset's :obj:`settings` (:func:`default_hyperparameters`) with
    the ones :obj:`given` on the command line over them. A ``loss`` given
    that reads no ``negative_weight`` (one outside
    :obj:`~hlr_graph.nn.objectives.WEIGHTED`) drops the preset's weight,
    which the metric models refuse with such a loss; the preset's
    ``margin`` stays unless given too. A preset's shared negatives go with
    its loss: a ``loss`` other than the preset's, a ``num_negatives``, or
    ``share_negatives`` :obj:`False` given (and sharing not given
    :obj:`True`) draws the negatives per triplet,
    :obj:`PER_TRIPLET_NEGATIVES` of them unless ``num_negatives`` is
    given, so that the commands of the searches before sharing repeat."""
    settings = dict(settings)
    if given.get('loss') not in (None, *WEIGHTED):
        settings.pop('negative_weight', None)
    loss = settings.get('loss')
    unshared = ('num_negatives' in given or given.get('loss', loss) != loss
                or given.get('share_negatives') is False)
    if settings.get('share_negatives') and unshared and not given.get(
            'share_negatives'):
        settings.pop('share_negatives')
        settings['num_negatives'] = PER_TRIPLET_NEGATIVES
    return {**settings, **given}


def build_model(name: str, num_users: int, num_items: int,
                edge_index: Optional[Tensor] = None,
                **hyperparameters) -> Recommender:
    r"""Builds model :obj:`name` with :obj:`hyperparameters`, rejecting the
    ones its constructor does not take. Models that read the training graph
    (TransCF, LightGCN) get the ``[2, E]`` training pairs
    :obj:`edge_index`."""
    cls = MODELS[name]
    unknown = set(hyperparameters) - _arguments(cls)
    if unknown:
        raise ValueError(f"model '{name}' takes no {sorted(unknown)}")
    if any('edge_index' in sig.parameters for sig in _signatures(cls)):
        if edge_index is None:
            raise ValueError(f"model '{name}' needs the training edge_index")
        hyperparameters['edge_index'] = edge_index
    return cls(num_users, num_items, **hyperparameters)
