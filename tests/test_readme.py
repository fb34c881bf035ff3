r"""The README's snippet of the layers runs as pasted (the snippets that
train on real data are not run here)."""
import os
import re

import torch
from conftest import REPO


def python_blocks():
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
        return re.findall(r'```python\n(.*?)```', f.read(), re.S)


def test_the_layers_snippet_runs_as_pasted():
    layers = [b for b in python_blocks() if 'ItemItemRelationConv(' in b]
    assert len(layers) == 1
    scope = {}
    exec(layers[0], scope)
    distance = scope['distance']
    assert distance.shape == (3, ) and (distance >= 0).all()
    assert torch.isfinite(distance).all()
