r"""Training: one loop for every model, and whole experiments."""
from hlr_graph.train.experiment import (
    Experiment,
    load_model,
    run_experiment,
    write_json,
)
from hlr_graph.train.trainer import (
    SELECT_BY,
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    build_optimizer,
    load_checkpoint,
)

__all__ = ['SELECT_BY', 'TrainConfig', 'Trainer', 'NonFiniteLossError',
           'build_optimizer', 'load_checkpoint', 'Experiment',
           'run_experiment', 'load_model', 'write_json']
