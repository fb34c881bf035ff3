import copy
import io
import math

import pytest
import torch
from torch_geometric.testing import withCUDA

from hlr_graph.data import SyntheticMultiInterest, split_edges
from hlr_graph.evaluation import Evaluator, make_cohorts, ranking_metrics
from hlr_graph.models import CML, MostPopular, top_k
from hlr_graph.progress import Progress
from hlr_graph.train import TrainConfig, Trainer

# User A (row 0) ranks [3, 1, 7, 2] with relevant {1, 2, 9}: hits at 2 and 4.
# User B (row 1) ranks [4, 0] then padding, with relevant {6}: no hit. With
# -1 padding PyG would count B's padding as A's item 9 (a false hit).
ITEMS = torch.tensor([[3, 1, 7, 2], [4, 0, -1, -1]])
TARGETS = torch.tensor([[0, 0, 0, 1], [1, 2, 9, 6]])
POPULARITY = torch.arange(10, 101, 10)
L2, L3, L5 = math.log2(2), math.log2(3), math.log2(5)

EXPECTED_A = {
    'precision@2': 1 / 2, 'precision@4': 2 / 4,
    'recall@2': 1 / 3, 'recall@4': 2 / 3,
    'ndcg@2': (1 / L3) / (1 + 1 / L3),
    'ndcg@4': (1 / L3 + 1 / L5) / (1 + 1 / L3 + 1 / 2),
    'map@2': (1 / 2) / 2, 'map@4': (1 / 2 + 2 / 4) / 3,
    'mrr@2': 1 / 2, 'mrr@4': 1 / 2,
    'hit@2': 1.0, 'hit@4': 1.0,
}
EXPECTED_REFERENCE_A = {'map@2': (1 / 2) / 2, 'map@4': (1 / 2 + 2 / 4) / 4,
                        'mrr@2': 1 / 2, 'mrr@4': 1 / 2 + 1 / 4}


@pytest.mark.parametrize('mode', ['standard', 'reference'])
def test_metrics_against_hand_computed_values(mode):
    out = ranking_metrics(ITEMS, TARGETS, (2, 4), POPULARITY, mode)
    expected = dict(EXPECTED_A)
    if mode == 'reference':
        expected.update(EXPECTED_REFERENCE_A)
    for name, value in expected.items():  # Averaged with user B's zeros.
        assert out[name] == pytest.approx(value / 2, abs=1e-6), name
    assert out['coverage@2'] == 4 / 10  # {3, 1, 4, 0}
    assert out['coverage@4'] == 6 / 10  # {3, 1, 7, 2, 4, 0}
    assert out['popularity@2'] == 30.0  # Median of 10, 20, 40, 50.
    assert out['popularity@4'] == 35.0  # Median of 10, 20, 30, 40, 50, 80.


def test_reference_mrr_counts_every_hit():
    items = torch.tensor([[1, 2, 3]])
    targets = torch.tensor([[0, 0, 0], [1, 2, 3]])
    out = ranking_metrics(items, targets, (3, ), POPULARITY, 'reference')
    assert out['mrr@3'] == pytest.approx(1 + 1 / 2 + 1 / 3)
    assert out['map@3'] == pytest.approx(1.0)


def test_top_k_breaks_ties_by_item_id():
    scores = torch.tensor([[1., 3., 3., 2., 3.], [0., 0., 0., 0., 0.],
                           [5., -torch.inf, 4., -torch.inf, -torch.inf]])
    values, index = top_k(scores, 4)
    assert index.tolist() == [[1, 2, 4, 3], [0, 1, 2, 3], [0, 2, 1, 3]]
    assert values[2, 2:].tolist() == [-torch.inf, -torch.inf]
    _, index = top_k(scores, 2)
    assert index.tolist() == [[1, 2], [0, 1], [0, 2]]


def test_cohorts_are_disjoint_and_seeded():
    users = torch.arange(103)
    cohorts = make_cohorts(users, 5, 10_000, seed=2021)
    assert [c.numel() for c in cohorts] == [20] * 5
    assert torch.cat(cohorts).unique().numel() == 100
    again = make_cohorts(users, 5, 10_000, seed=2021)
    assert all(torch.equal(a, b) for a, b in zip(cohorts, again))


@pytest.fixture(scope='module')
def trained():
    data = SyntheticMultiInterest()[0]
    torch.manual_seed(0)
    model = CML(data['user'].num_nodes, data['item'].num_nodes)
    Trainer(model, data, TrainConfig(epochs=3, progress=False)).fit()
    popular = MostPopular(data['user'].num_nodes, data['item'].num_nodes)
    popular.fit(split_edges(data, 'train'))
    return data, model, popular


@pytest.mark.parametrize('which', [1, 2])
def test_results_do_not_depend_on_evaluation_batch_size(trained, which):
    data, model = trained[0], trained[which]
    big = Evaluator(data, 'test', max_scores=10**9)
    small = Evaluator(data, 'test', max_scores=3 * data['item'].num_nodes)
    items_big, _ = big.rank(model)
    items_small, _ = small.rank(model)
    assert torch.equal(items_big, items_small)
    assert big.report(items_big) == small.report(items_small)


@withCUDA
def test_ranking_leaves_out_known_items(trained, device):
    data, model, _ = trained
    model = copy.deepcopy(model).to(device)
    for split, known in (('val', ['train']), ('test', ['train', 'val'])):
        evaluator = Evaluator(data, split, ks=(20, ))
        items, _ = evaluator.rank(model)
        seen = set()
        for s in known:
            user, item = split_edges(data, s)
            seen |= set(zip(user.tolist(), item.tolist()))
        for user, row in zip(evaluator.users.tolist(), items.tolist()):
            assert not any((user, i) in seen for i in row)


def test_evaluator_matches_metrics_on_its_lists(trained):
    data, model, _ = trained
    evaluator = Evaluator(data, 'test', ks=(10, ), num_cohorts=3)
    items, _ = evaluator.rank(model)
    report = evaluator.report(items)
    user, item = split_edges(data, 'test')
    relevant = {}
    for u, i in zip(user.tolist(), item.tolist()):
        relevant.setdefault(u, set()).add(i)
    recalls = [len(set(row) & relevant[u]) / len(relevant[u])
               for u, row in zip(evaluator.users.tolist(), items.tolist())]
    assert report['metrics']['recall@10'] == pytest.approx(
        sum(recalls) / len(recalls), rel=1e-5)
    assert report['num_users'] == len(relevant)
    assert report['cohort_size'] == len(relevant) // 3
    assert set(report['cohorts']) == set(report['metrics'])


def test_ranking_shows_users_ranked_out_of_the_total(trained, monkeypatch):
    data, model, _ = trained
    log = io.StringIO()

    def progress(total, desc, unit, enabled=True):
        # Plain lines (log is not a terminal), one per update.
        return Progress(total, desc, unit, enabled, interval=0.0, file=log)

    monkeypatch.setattr('hlr_graph.evaluation.evaluator.Progress', progress)
    evaluator = Evaluator(data, 'test', ks=(10, ), num_cohorts=0,
                          max_scores=40 * data['item'].num_nodes)
    total = evaluator.users.numel()
    assert total > 40  # Several chunks.
    items, _ = evaluator.rank(model, progress=True)
    lines = log.getvalue().splitlines()
    assert len(lines) == -(-total // 40)
    assert lines[0].startswith('ranking (test): ') and \
        f'(40/{total} users)' in lines[0]
    assert f'100% ({total}/{total} users)' in lines[-1]
    assert torch.equal(items, evaluator.rank(model)[0])  # Same lists.
    log.truncate(0)
    log.seek(0)
    evaluator.rank(model)  # Off by default.
    assert log.getvalue() == ''
    report = evaluator.evaluate(model, progress=True)
    assert report['metrics'] == evaluator.report(items)['metrics']
    assert f'100% ({total}/{total} users)' in log.getvalue()
