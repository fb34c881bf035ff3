r"""Training: one loop for every model, and whole experiments."""
from hlr_graph.train.experiment import (
    Experiment,
    load_model,
    run_experiment,
    write_json,
)
from hlr_graph.train.optim import LazyAdam
from hlr_graph.train.trainer import (
    OPTIMIZERS,
    SELECT_BY,
    NonFiniteLossError,
    Optimizers,
    TrainConfig,
    Trainer,
    build_optimizer,
    build_optimizers,
    load_checkpoint,
)

__all__ = ['SELECT_BY', 'OPTIMIZERS', 'TrainConfig', 'Trainer',
           'NonFiniteLossError', 'build_optimizer', 'build_optimizers',
           'Optimizers', 'LazyAdam', 'load_checkpoint', 'Experiment',
           'run_experiment', 'load_model', 'write_json']
