r"""Training: one loop for every model, and whole experiments."""
from hlr_graph.train.experiment import Experiment, run_experiment, write_json
from hlr_graph.train.trainer import TrainConfig, Trainer

__all__ = ['TrainConfig', 'Trainer', 'Experiment', 'run_experiment',
           'write_json']
