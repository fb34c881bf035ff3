r"""The bipartite interaction graph as a
:class:`~torch_geometric.data.HeteroData`.

Layout of every data set's graph::

    data['user'].num_nodes, data['user'].raw_id        # original ids (str)
    data['item'].num_nodes, data['item'].raw_id[, .name]
    data['user', 'interacts', 'item'].edge_index       # [2, E_train] training
    data['user', 'interacts', 'item'].val_edge_label_index   # [2, E_val]
    data['user', 'interacts', 'item'].test_edge_label_index  # [2, E_test]
    data['item', 'rev_interacts', 'user'].edge_index   # training, reversed

Message passing sees ``edge_index`` (training interactions) only; the
validation and test interactions are supervision targets kept beside it. Every
edge tensor is sorted by user, then item. The two training edge tensors are
views of one ``[3, E_train]`` buffer (rows user, item, user), so that the
reverse edges cost no memory (in the cache file either); both are
contiguous, and an in-place change of one shows in the other.
"""
import copy
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from hlr_graph.data.interactions import TEST, TRAIN, VALID, Interactions
from hlr_graph.data.preprocess import sorted_pairs

USER, ITEM = 'user', 'item'
INTERACTS = (USER, 'interacts', ITEM)
REV_INTERACTS = (ITEM, 'rev_interacts', USER)


def to_hetero_data(data: Interactions, fold: np.ndarray,
                   item_names: Optional[Dict[str, str]] = None) -> HeteroData:
    r"""Builds the graph of re-indexed :obj:`data` with one fold code per
    row; :obj:`item_names` maps original item ids to display names.

    Rows already sorted by user, then item (checked in one pass) are taken
    as they are; others are sorted once. Each fold's ``int64`` edge tensor
    is filled straight from the (``int32`` or ``int64``) codes, so that the
    peak is the edges plus one fold's row indices; the reverse training
    edges share the training edges' buffer (see the module's layout)."""
    out = HeteroData()
    out[USER].num_nodes = data.num_users
    out[USER].raw_id = data.user_ids.tolist()
    out[ITEM].num_nodes = data.num_items
    out[ITEM].raw_id = data.item_ids.tolist()
    if item_names:
        out[ITEM].name = [item_names.get(i, i) for i in out[ITEM].raw_id]

    order = (None if sorted_pairs(data.user, data.item) else
             np.lexsort((data.item, data.user)))
    if order is not None:
        fold = fold[order]
    store = out[INTERACTS]
    for code, key in ((TRAIN, 'edge_index'), (VALID, 'val_edge_label_index'),
                      (TEST, 'test_edge_label_index')):
        rows = np.flatnonzero(fold == code)
        if order is not None:
            rows = order[rows]
        # Training edges go to rows (user, item, user) of one buffer, so that
        # the reverse edges are the view of its last two rows, not a copy.
        edges = torch.empty((3 if code == TRAIN else 2, len(rows)),
                            dtype=torch.long)
        edges[0] = torch.from_numpy(data.user[rows])
        edges[1] = torch.from_numpy(data.item[rows])
        if code == TRAIN:
            edges[2] = edges[0]
            out[REV_INTERACTS].edge_index = edges[1:]
            edges = edges[:2]
        store[key] = edges
    return out


SPLIT_KEYS = {'train': 'edge_index', 'val': 'val_edge_label_index',
              'test': 'test_edge_label_index'}


def split_edges(data: HeteroData, split: str) -> Tensor:
    r"""The ``[2, E]`` interactions ``(source, target)`` = (user, item) of
    :obj:`split` (``'train'``, ``'val'`` or ``'test'``)."""
    if split not in SPLIT_KEYS:
        raise ValueError(f"split must be one of {list(SPLIT_KEYS)}, got "
                         f"'{split}'")
    return data[INTERACTS][SPLIT_KEYS[split]]


def known_edges(data: HeteroData, split: str) -> Tensor:
    r"""The interactions a model may know when it is judged on :obj:`split`:
    training ones for ``'train'`` and ``'val'``, training and validation ones
    for ``'test'``. They form the user histories at that stage and are
    excluded from the ranking."""
    parts: Sequence[str] = ('train', 'val') if split == 'test' else ('train',)
    return torch.cat([split_edges(data, s) for s in parts], dim=1)


def refit_view(data: HeteroData) -> HeteroData:
    r"""The graph of a refit (``hlr-graph train --refit``): the training and
    validation interactions together as training edges ``(source, target)``
    = (user, item), sorted by user, then item, with their reverse edges
    sharing one ``[3, E_train + E_val]`` buffer as in :func:`to_hetero_data`;
    no validation interactions (``[2, 0]``) and the test ones as they are.

    :obj:`data` is left as it is (a shallow copy: the node attributes and
    the test edges are shared). A model built on the view's training edges
    reads the training and validation interactions (LightGCN's graph,
    TransCF's neighbourhoods), its loaders draw histories and negatives from
    them, and :func:`known_edges` of ``'test'`` is the same set of
    interactions as in :obj:`data`, so the test ranking excludes the same
    items."""
    edges = known_edges(data, 'test')
    num_items = data[ITEM].num_nodes
    order = torch.argsort(edges[0] * num_items + edges[1], stable=True)
    out = copy.copy(data)
    store = out[INTERACTS]
    buffer = edges.new_empty((3, edges.size(1)))
    buffer[:2] = edges[:, order]
    buffer[2] = buffer[0]
    store.edge_index = buffer[:2]
    out[REV_INTERACTS].edge_index = buffer[1:]
    store.val_edge_label_index = edges.new_empty((2, 0))
    return out


def item_popularity(data: HeteroData) -> Tensor:
    r"""``[num_items]`` number of training users of every item."""
    return torch.bincount(split_edges(data, 'train')[1],
                          minlength=data[ITEM].num_nodes)
