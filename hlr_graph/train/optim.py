r"""Row-wise Adam for embedding tables with sparse gradients."""
from typing import Callable, Iterable, Optional, Tuple

import torch
from torch import Tensor


class LazyAdam(torch.optim.Optimizer):
    r"""Adam for embedding tables looked up with sparse gradients
    (:class:`~torch.nn.Embedding` with ``sparse=True``), row by row and
    lazily: a step updates the moments and the values of the rows its
    gradient holds (the rows the batch looked up, even where their gradient
    is zero), with Adam's update computed as :class:`torch.optim.Adam`
    computes it,

    .. math::
        m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \quad
        w \leftarrow w - \frac{\eta}{1 - \beta_1^t} \, \frac{m}
        {\sqrt{v / (1 - \beta_2^t)} + \epsilon},

    and leaves every other row, and its moments, as they are (TensorFlow's
    ``LazyAdam``). The step count :math:`t` counts the steps that gave the
    table a gradient. So a step costs what its batch reads, not the table's
    size, and a row that every step looks up gets exactly Adam's updates
    (bit for bit those of ``torch.optim.Adam(..., foreach=False)``).

    :class:`torch.optim.SparseAdam` is the same lazy Adam with
    :math:`\epsilon` added before the bias correction of :math:`v`; on the
    rows of a Yelp2018 batch of HLR its step took 1.5 times as long
    (``docs/performance.md``, section 3).

    Args:
        params (Iterable[torch.Tensor]): Parameters whose gradients are
            sparse ``[num_rows, d]`` tensors (sparse in the rows).
        lr (float): The learning rate :math:`\eta`. (default: ``1e-3``)
        betas (Tuple[float, float]): :math:`(\beta_1, \beta_2)`.
            (default: ``(0.9, 0.999)``)
        eps (float): :math:`\epsilon`. (default: ``1e-8``)
    """
    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        if not lr >= 0.0:
            raise ValueError(f'Invalid learning rate: {lr}')
        if not eps >= 0.0:
            raise ValueError(f'Invalid epsilon value: {eps}')
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f'Invalid beta parameters: {betas}')
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], float]] = None):
        r"""One update of the rows every parameter's gradient holds.

        Raises:
            RuntimeError: A parameter has a dense gradient.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group['betas']
            lr, eps = group['lr'], group['eps']
            for param in group['params']:
                if param.grad is None:
                    continue
                if not param.grad.is_sparse or param.grad.sparse_dim() != 1:
                    raise RuntimeError(
                        'LazyAdam needs gradients sparse in the rows (look '
                        'the table up with sparse=True); use '
                        'torch.optim.Adam for dense gradients')
                state = self.state[param]
                if not state:
                    state['step'] = torch.tensor(0.0)  # As Adam's, on CPU.
                    state['exp_avg'] = torch.zeros_like(
                        param, memory_format=torch.preserve_format)
                    state['exp_avg_sq'] = torch.zeros_like(
                        param, memory_format=torch.preserve_format)
                state['step'] += 1
                grad = param.grad.coalesce()  # Duplicate rows summed.
                rows, grad = grad.indices()[0], grad.values()
                if rows.numel() == 0:
                    continue
                # Adam's single-tensor update (torch.optim.adam) on the
                # rows, with the same roundings, in place where it can be.
                exp_avg = state['exp_avg'].index_select(0, rows)
                exp_avg_sq = state['exp_avg_sq'].index_select(0, rows)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                state['exp_avg'].index_copy_(0, rows, exp_avg)
                state['exp_avg_sq'].index_copy_(0, rows, exp_avg_sq)
                step = state['step'].item()
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = lr / bias_correction1
                denom = exp_avg_sq.sqrt_().div_(bias_correction2**0.5).add_(
                    eps)
                # Adam's addcdiv_: the weight plus (-step_size * m) / denom.
                param.index_add_(0, rows, exp_avg.mul_(-step_size).div_(denom))
        return loss
