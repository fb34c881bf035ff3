r"""The paper's protocol: full ranking of every item, top-K metrics, user
cohorts."""
from hlr_graph.evaluation.evaluator import Evaluator, make_cohorts
from hlr_graph.evaluation.metrics import (
    METRIC_MODES,
    ReferenceMAP,
    ReferenceMRR,
    ranking_metrics,
)
from hlr_graph.evaluation.recommend import recommend

__all__ = [
    'Evaluator', 'make_cohorts', 'METRIC_MODES', 'ReferenceMAP',
    'ReferenceMRR', 'ranking_metrics', 'recommend'
]
