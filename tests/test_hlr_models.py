import math
import warnings

import pytest
import torch
from torch_geometric.testing import withCUDA

from hlr_graph.data import SyntheticMultiInterest, split_edges
from hlr_graph.evaluation import recommend
from hlr_graph.loader import HistorySampler, TripletBatch, UserItemIndex
from hlr_graph.models import (
    CML,
    HLR,
    LRML,
    Explanation,
    HLRPlusPlus,
    build_model,
    default_hyperparameters,
    rank_items,
)
from hlr_graph.models.registry import MODELS, setting_names
from hlr_graph.nn import translation_distance
from hlr_graph.train import TrainConfig, Trainer

# (source, target) = (history item, query):
HISTORY = torch.tensor([[1, 2, 3, 4, 5, 6], [0, 0, 0, 1, 2, 2]])


def batch(history=HISTORY, device='cpu'):
    return TripletBatch(user=torch.tensor([0, 1, 2]),
                        pos=torch.tensor([0, 1, 2]),
                        neg=torch.tensor([7, 8, 8]),
                        history=history).to(device)


@withCUDA
@pytest.mark.parametrize('cls', [HLR, HLRPlusPlus])
def test_gradients_reach_embeddings_keys_and_memories(cls, device):
    torch.manual_seed(0)
    model = cls(5, 9, embedding_dim=8, num_memories=4, margin=10.0)
    model.to(device).loss(batch(device=device)).backward()
    for name in ('user_emb.weight', 'item_emb.weight', 'memory.keys',
                 'memory.memories'):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_copy_reuses_the_positive_relation():
    torch.manual_seed(0)
    model = HLR(5, 9, embedding_dim=8, num_memories=4, margin=10.0)
    free = model.loss(batch())
    model.copy = True
    users, items = model.embeddings()
    moved = model.translate(users, items, batch().user, batch().pos, HISTORY)
    expected = torch.relu(((moved - items[batch().pos])**2).sum(-1) -
                          ((moved - items[batch().neg])**2).sum(-1) + 10.0)
    assert torch.allclose(model.loss(batch()), expected.sum())
    assert not torch.allclose(model.loss(batch()), free)


@withCUDA
def test_hlr_without_history_or_user_slot_is_cml(device):
    torch.manual_seed(0)
    hlr = HLR(5, 9, embedding_dim=8, user_slot=False, max_history=0)
    cml = CML(5, 9, embedding_dim=8)
    cml.load_state_dict({k: v for k, v in hlr.state_dict().items()
                         if k.endswith('emb.weight')})
    hlr, cml = hlr.to(device), cml.to(device)
    empty = torch.empty(2, 0, dtype=torch.long, device=device)
    user = torch.tensor([0, 1, 4], device=device)
    item = torch.tensor([2, 3, 8], device=device)
    assert torch.allclose(hlr(user, item, empty), cml(user, item))
    assert torch.allclose(hlr.score(user, empty), cml.score(user), atol=1e-5)


@withCUDA
@pytest.mark.parametrize('user_slot', [True, False])
def test_hlrpp_without_item_branch_is_hlr(user_slot, device):
    torch.manual_seed(0)
    hlr = HLR(5, 9, embedding_dim=8, num_memories=4, user_slot=user_slot)
    hlrpp = HLRPlusPlus(5, 9, embedding_dim=8, num_memories=4,
                        user_slot=user_slot, item_branch=False)
    hlrpp.load_state_dict(hlr.state_dict())
    hlrpp_full = HLRPlusPlus(5, 9, embedding_dim=8, num_memories=4,
                             user_slot=user_slot)
    hlrpp_full.load_state_dict(hlr.state_dict(), strict=False)
    hlr, hlrpp, hlrpp_full = (m.to(device) for m in (hlr, hlrpp, hlrpp_full))
    user = torch.tensor([0, 1, 2], device=device)
    item = torch.tensor([4, 4, 0], device=device)
    history = HISTORY.to(device)
    assert torch.equal(hlr(user, item, history), hlrpp(user, item, history))
    assert torch.equal(hlr.score(user, history), hlrpp.score(user, history))
    assert not torch.allclose(hlrpp_full(user, item, history),
                              hlr(user, item, history))


@withCUDA
@pytest.mark.parametrize('cls, kwargs', [
    (HLR, {}), (HLR, dict(user_slot=False)), (HLR, dict(temperature=0.05)),
    (HLRPlusPlus, {}), (HLRPlusPlus, dict(user_slot=True)),
    (HLRPlusPlus, dict(temperature=0.005)), (LRML, dict(temperature=0.005))])
def test_model_scores_equal_pairwise_distances(cls, kwargs, monkeypatch,
                                               device):
    torch.manual_seed(1)
    model = cls(3, 9, embedding_dim=8, num_memories=4, **kwargs).to(device)
    with torch.no_grad():  # Spread the memories so that relations matter.
        model.memory.memories.mul_(3)
    # Small blocks: several user and item blocks, with padded histories.
    monkeypatch.setattr('hlr_graph.models.relational.DENSE_BLOCKS',
                        {'cpu': (2, 50), 'cuda': (2, 50)})
    history, items = HISTORY.to(device), torch.arange(9, device=device)
    scores = model.score(torch.tensor([0, 1, 2], device=device), history)
    for u in range(3):
        mine = history[0][history[1] == u]
        edges = torch.stack([mine.repeat(9),
                             items.repeat_interleave(mine.numel())])
        expected = -model(torch.full((9, ), u, device=device), items, edges)
        assert torch.allclose(scores[u], expected, atol=1e-5)


@withCUDA
@pytest.mark.parametrize('cls', [HLR, HLRPlusPlus])
def test_explanations_match_the_scores(cls, device):
    torch.manual_seed(2)
    model = cls(5, 9, embedding_dim=8, num_memories=4,
                max_history=-1).to(device)
    known = torch.tensor([[0, 0, 0, 2, 2], [1, 2, 3, 5, 6]], device=device)
    items, scores, why = recommend(
        model, torch.tensor([0, 2], device=device), 3, known, explain=True)
    assert why.history.tolist() == [[1, 2, 3], [5, 6, -1]]
    total = why.attention.sum(-1)
    if why.slot_attention is not None:
        total = total + why.slot_attention
    assert torch.allclose(total, total.new_ones(2, 3))
    assert (why.attention[1, :, 2] == 0).all()  # Padding gets nothing.
    branches = 2 if cls is HLRPlusPlus else 1
    assert torch.allclose(why.memory.sum(-1), why.memory.new_full(
        (2, 3), float(branches)))
    users, item_table = model.embeddings()
    for row, user in enumerate((0, 2)):
        distance = translation_distance(users[user:user + 1],
                                        item_table[items[row]],
                                        why.memory[row:row + 1].transpose(
                                            1, 2),
                                        model.memory.memories)
        assert torch.allclose(-distance[0], scores[row], atol=1e-5)


def test_authors_settings_per_data_set():
    yelp = default_hyperparameters('yelp', 'hlr')
    assert yelp == dict(lr=7.5e-4, margin=0.75, num_memories=20,
                        max_history=5, history_sampling='unpop', copy=True,
                        clip_ram=True)
    assert default_hyperparameters('ml-100k', 'hlrpp')['lr'] == 2e-4
    model = build_model('hlrpp', 4, 5, **{k: v for k, v in yelp.items()
                                          if k != 'lr'})
    assert model.max_history == 5 and model.copy and model.clip_ram
    with pytest.raises(ValueError, match='takes no'):
        build_model('cml', 4, 5, num_memories=3)
    # What the data give is no setting: neither a preset nor a flag names it.
    for model in MODELS:
        assert not setting_names(model) & {'self', 'num_users', 'num_items',
                                           'edge_index', 'kwargs'}
    with pytest.raises(ValueError, match=r"takes no \['kwargs'\]"):
        build_model('hlr', 4, 5, kwargs=1)


def test_clip_ram_clips_memories_after_a_step():
    model = HLR(4, 5, embedding_dim=3, num_memories=2, clip_ram=True)
    with torch.no_grad():
        model.memory.memories.fill_(5.0)
    model.constrain_()
    assert (model.memory.memories.norm(dim=1) <= 1 + 1e-5).all()


@withCUDA
@pytest.mark.parametrize('name', ['hlr', 'hlrpp'])
def test_hlr_models_train_and_learn(name, device):
    data = SyntheticMultiInterest()[0]
    torch.manual_seed(0)
    model = build_model(name, data['user'].num_nodes,
                        data['item'].num_nodes, max_history=10,
                        embedding_dim=32)
    fit = Trainer(model, data, TrainConfig(epochs=3, lr=1e-2, progress=False,
                                           device=str(device))).fit()
    losses = [r['valid_loss'] for r in fit['epochs']]
    assert losses[-1] < losses[0]
    assert split_edges(data, 'train').size(1) > 0


@withCUDA
@pytest.mark.parametrize('cls', [HLR, HLRPlusPlus])
def test_loss_on_compacted_rows_equals_the_pairwise_distances(cls, device):
    torch.manual_seed(3)
    model = cls(5, 9, embedding_dim=8, num_memories=4, margin=2.0).to(device)
    b = batch(device=device)
    expected = torch.relu(model(b.user, b.pos, b.history) -
                          model(b.user, b.neg, b.history) + 2.0).sum()
    assert torch.allclose(model.loss(b), expected, atol=1e-6)


def test_batch_history_feeds_the_layers_unchanged():
    # TripletBatch.history is (history item, query), the layers' order: the
    # batch's edges go into ItemItemRelationConv as they are.
    torch.manual_seed(4)
    model = HLR(5, 9, embedding_dim=8, num_memories=4)
    users, items = model.embeddings()
    b = batch()
    p, q = users[b.user], items[b.pos]
    expected = p + model.relation((items, q), p, b.history)
    moved = model.translate(users, items, b.user, b.pos, b.history)
    assert torch.equal(moved, expected)
    with pytest.raises(ValueError, match=r'edge_index\[1\] holds 6'):
        model.relation((items, q), p, b.history.flip(0))


@pytest.mark.parametrize('name', ['hlr', 'hlrpp', 'adacml'])
def test_models_with_relations_warn_once_without_history(name):
    model = build_model(name, 5, 9, embedding_dim=4, max_history=3)
    empty = batch(history=torch.empty(2, 0, dtype=torch.long))
    with pytest.warns(UserWarning, match=r'max_history=3 items, but a '
                      r'training batch holds no history edge'):
        model.loss(empty)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        model.loss(empty)  # Once per model.
        model.loss(batch())
    with pytest.warns(UserWarning, match='no history edge'):
        build_model(name, 5, 9, embedding_dim=4, max_history=3).loss(empty)


@pytest.mark.parametrize('name, settings', [
    ('cml', {}), ('lrml', {}), ('hlr', dict(max_history=0))])
def test_models_without_relations_do_not_warn(name, settings):
    model = build_model(name, 5, 9, embedding_dim=4, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        model.loss(batch(history=torch.empty(2, 0, dtype=torch.long)))


def test_explanation_entropy_by_hand():
    log = math.log
    # User 0: 3 history items and the user slot; user 1: 1 item and the slot.
    why = Explanation(
        history=torch.tensor([[1, 2, 3], [5, -1, -1]]),
        attention=torch.tensor([[[.25, .25, .25], [1., 0., 0.]],
                                [[.5, 0., 0.], [.2, 0., 0.]]]),
        slot_attention=torch.tensor([[.25, 0.], [.5, .8]]),
        memory=torch.zeros(2, 2, 4))
    entropy, max_entropy = why.entropy()
    assert entropy.shape == max_entropy.shape == (2, 2)
    assert torch.allclose(entropy, torch.tensor([
        [log(4), 0.], [log(2), -(.2 * log(.2) + .8 * log(.8))]]))
    assert torch.allclose(max_entropy, torch.tensor([[log(4), log(4)],
                                                     [log(2), log(2)]]))
    # Without a user slot: the history alone; one slot or none gives 0.
    why = Explanation(history=torch.tensor([[7, 8], [4, -1], [-1, -1]]),
                      attention=torch.tensor([[[.5, .5]], [[1., 0.]],
                                              [[0., 0.]]]),
                      slot_attention=None, memory=torch.zeros(3, 1, 4))
    entropy, max_entropy = why.entropy()
    assert torch.allclose(entropy, torch.tensor([[log(2)], [0.], [0.]]))
    assert torch.allclose(max_entropy, torch.tensor([[log(2)], [0.], [0.]]))


@pytest.mark.parametrize('cls', [HLR, HLRPlusPlus])
def test_explanation_entropy_of_a_model(cls):
    torch.manual_seed(2)
    model = cls(5, 9, embedding_dim=8, num_memories=4, max_history=-1)
    known = torch.tensor([[0, 0, 0, 2, 2], [1, 2, 3, 5, 6]])
    _, _, why = recommend(model, torch.tensor([0, 2]), 3, known,
                          explain=True)
    entropy, max_entropy = why.entropy()
    slots = 1 if cls is HLR else 0  # HLR's user slot.
    assert torch.allclose(max_entropy[0], torch.full((3, ), math.log(
        3 + slots)))
    assert torch.allclose(max_entropy[1], torch.full((3, ), math.log(
        2 + slots)))
    assert ((entropy >= 0) & (entropy <= max_entropy + 1e-6)).all()
    # A fresh model's attention is close to uniform:
    assert (entropy / max_entropy > 0.9).all()


def test_rank_items_reads_history_in_chunks_and_reports_progress():
    torch.manual_seed(5)
    model = HLR(4, 9, embedding_dim=8, num_memories=4, max_history=-1)
    with torch.no_grad():
        model.memory.memories.mul_(3)
    # (history item, row in user), sorted by row; row 1 has no history.
    history = torch.tensor([[1, 2, 3, 4, 5, 6], [0, 0, 0, 2, 3, 3]])
    user = torch.tensor([0, 1, 2, 3])
    expected = model.score(user, history)
    seen = []
    items, scores = rank_items(model.score, user, 9, 9, history=history,
                               max_scores=18, progress=seen.append)
    assert seen == [2, 2]  # Two users per chunk of 18 scores.
    assert torch.allclose(scores, expected.sort(dim=1, descending=True)[0])
    for row in range(4):  # Each row scored with its own history only:
        mine = history[0][history[1] == row]
        alone = model.score(user[row:row + 1], torch.stack(
            [mine, torch.zeros_like(mine)]))
        assert torch.allclose(alone[0], expected[row])


def test_models_sample_no_history_when_recommending():
    torch.manual_seed(2)
    model = HLR(5, 9, embedding_dim=8, num_memories=4, max_history=2)
    known = torch.tensor([[0, 0, 0, 2, 2], [1, 2, 3, 5, 6]])
    user = torch.tensor([0, 2])
    with pytest.raises(ValueError, match='reads histories of max_history=2'):
        model.recommend(user, 3, known)
    history = HistorySampler(UserItemIndex(known, 5, 9), 2).sample_rows(
        user, torch.Generator().manual_seed(4))
    items, scores = model.recommend(user, 3, known, history)
    expected = recommend(model, user, 3, known,
                         generator=torch.Generator().manual_seed(4))
    assert torch.equal(items, expected[0])
    assert torch.equal(scores, expected[1])
    assert not (items[0].unsqueeze(1) == torch.tensor([1, 2, 3])).any()
