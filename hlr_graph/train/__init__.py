r"""Training: one loop for every model, and whole experiments."""
from hlr_graph.train.experiment import (
    Experiment,
    load_model,
    run_experiment,
    write_json,
)
from hlr_graph.train.trainer import TrainConfig, Trainer

__all__ = ['TrainConfig', 'Trainer', 'Experiment', 'run_experiment',
           'load_model', 'write_json']
