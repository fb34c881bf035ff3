r"""Reusable PyG layers of hierarchical latent relation models: the
key-value memory, the item-item relation message passing with user
attention, HLR++'s item attention, the translated distance, and graph
encoders with layer-wise inference."""
from hlr_graph.nn.attention import UserAttention
from hlr_graph.nn.distance import (
    pairwise_squared_distance,
    squared_distance,
    translation_distance,
)
from hlr_graph.nn.encoder import GNNEncoder, encode_graph
from hlr_graph.nn.item_attention import ItemAttentionConv
from hlr_graph.nn.memory import KeyValueMemory
from hlr_graph.nn.objectives import (
    LOSSES,
    SettingNames,
    ccl_negative_term,
    check_negatives,
    metric_loss,
)
from hlr_graph.nn.relation import ItemItemRelationConv, MemoryAttentionConv

__all__ = [
    'KeyValueMemory', 'UserAttention', 'MemoryAttentionConv',
    'ItemItemRelationConv', 'ItemAttentionConv', 'squared_distance',
    'pairwise_squared_distance', 'translation_distance', 'LOSSES',
    'metric_loss', 'ccl_negative_term', 'check_negatives', 'SettingNames',
    'GNNEncoder', 'encode_graph'
]
