r"""The key-value memory of latent relations (Tran et al., RecSys 2021,
section 3.2.1)."""
from typing import Tuple, Union

import torch
from torch import Tensor
from torch.nn import Parameter


class KeyValueMemory(torch.nn.Module):
    r"""A memory of :math:`N` relation types: keys
    :math:`\mathbf{K} \in \mathbb{R}^{N \times d}` and memories
    :math:`\mathbf{M} \in \mathbb{R}^{N \times d}`. For a pair of vectors
    :math:`(a, b)` it builds the joint embedding (eq. 2)

    .. math::
        s_{a,b} = a \odot b,

    addresses the keys with it (eq. 3)

    .. math::
        w_{a,b} = \mathrm{softmax}(\mathbf{K} s_{a,b} / \tau)
        \in \mathbb{R}^N,

    and returns the latent relation (eq. 4)

    .. math::
        r_{a,b} = \sum_{i=1}^N w_{i,a,b} \, m_i = w_{a,b}^\top \mathbf{M}.

    HLR feeds it item pairs :math:`(q_v, q_j)`; LRML and HLR++'s item
    attention feed it (user, item) pairs :math:`(p_u, q_v)`.

    The temperature :math:`\tau` is not in the paper, whose eq. (3) has
    :math:`\tau = 1`. For vectors in the unit ball and keys drawn with
    entries of size :math:`1 / \sqrt{d}`, the logits :math:`\mathbf{K}
    s_{a,b}` are of order :math:`1 / d`, so the key attention starts
    uniform and leaves it slowly; :math:`\tau < 1` sharpens it
    (``benchmarks/memory_addressing.py`` measures it; on ml-100k sharper
    addressing made HLR worse, ``docs/results.md`` section 7).

    Args:
        channels (int): The embedding size :math:`d`.
        num_memories (int): The number :math:`N` of relation types.
            (default: ``20``)
        temperature (float): :math:`\tau`. (default: ``1.0``, as the paper)
    """
    def __init__(self, channels: int, num_memories: int = 20,
                 temperature: float = 1.0):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f'the temperature must be positive, got '
                             f'{temperature}')
        self.channels, self.num_memories = channels, num_memories
        self.temperature = temperature
        self.keys = Parameter(torch.empty(num_memories, channels))
        self.memories = Parameter(torch.empty(num_memories, channels))
        self.reset_parameters()

    def reset_parameters(self):
        r"""Normal(0, 1 / sqrt(d)), as the authors' code
        (``huitre/models/hiers/attram.py`` in
        https://github.com/deezer/recsys21-hlr)."""
        for param in (self.keys, self.memories):
            torch.nn.init.normal_(param, std=self.channels**-0.5)

    @property
    def scaled_keys(self) -> Tensor:
        r"""``[N, d]`` :math:`\mathbf{K} / \tau`, the keys that address
        the memory: the logits of a pair are :math:`(\mathbf{K} / \tau)
        s_{a,b}`."""
        if self.temperature == 1.0:
            return self.keys
        return self.keys / self.temperature

    def attention(self, a: Tensor, b: Tensor) -> Tensor:
        r"""``[*, N]`` key attention :math:`w_{a,b}` of ``[*, d]`` pairs
        (eqs. 2-3)."""
        return torch.softmax((a * b) @ self.scaled_keys.t(), dim=-1)

    def forward(self, a: Tensor, b: Tensor, return_attention: bool = False
                ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        r"""``[*, d]`` relations :math:`r_{a,b}` of ``[*, d]`` pairs
        (eqs. 2-4), and their ``[*, N]`` key attention when
        :obj:`return_attention` is set."""
        weight = self.attention(a, b)
        relation = weight @ self.memories
        return (relation, weight) if return_attention else relation

    @torch.no_grad()
    def clip_(self, max_norm: float = 1.0):
        r"""The authors' ``clip_ram`` (``huitre/models/hiers/attram.py``):
        bounds the norm of every memory :math:`m_i` and of every one of the
        :math:`d` columns of :math:`\mathbf{K}` (the rows of that code's
        ``[d, N]`` key matrix), not of each key vector."""
        self.memories.renorm_(p=2, dim=0, maxnorm=max_norm)
        self.keys.renorm_(p=2, dim=1, maxnorm=max_norm)

    def __repr__(self) -> str:
        temperature = (f', temperature={self.temperature}'
                       if self.temperature != 1.0 else '')
        return (f'{self.__class__.__name__}({self.channels}, '
                f'num_memories={self.num_memories}{temperature})')
