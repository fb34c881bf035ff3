import os
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _shared_data():
    root = os.environ.get('HLR_GRAPH_DATA',
                          osp.join(REPO, '..', 'shared', 'data'))
    return root if osp.isdir(osp.join(root, 'ml-100k')) else None


SHARED_DATA = _shared_data()
needs_data = pytest.mark.skipif(
    SHARED_DATA is None,
    reason='real data sets not found: set HLR_GRAPH_DATA to the folder '
    'holding ml-100k/, yelp2018_lightgcn/, ...')


@pytest.fixture(autouse=True, scope='session')
def _private_cache(tmp_path_factory):
    r"""Processed graphs go to a fresh folder, never to the user's cache."""
    os.environ['HLR_GRAPH_CACHE'] = str(tmp_path_factory.mktemp('cache'))


@pytest.fixture(scope='session')
def data_root():
    if SHARED_DATA is None:
        pytest.skip('real data sets not found (set HLR_GRAPH_DATA)')
    return SHARED_DATA
