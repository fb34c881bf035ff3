r"""Training: one loop for every model, and whole experiments."""
from hlr_graph.train.experiment import (
    Experiment,
    load_model,
    run_experiment,
    write_json,
)
from hlr_graph.train.trainer import SELECT_BY, TrainConfig, Trainer

__all__ = ['SELECT_BY', 'TrainConfig', 'Trainer', 'Experiment',
           'run_experiment', 'load_model', 'write_json']
