r"""A generated data set with planted multi-interest users, of any size.

The generator is vectorised over chunks of users: its memory is the output
(two ``int32`` codes per interaction) plus one chunk of about
:obj:`CHUNK_ROWS` draws, whatever the number of users or interactions, and
nothing runs per user or per item in Python.
"""
import math
from typing import Optional, Tuple

import numpy as np

from hlr_graph.data.interactions import Interactions

CHUNK_ROWS = 1 << 21
r"""Draws per chunk of users (about 2 M: tens of MB of temporaries)."""

TOP_UP_ROUNDS = 6
r"""Rounds of extra draws that replace duplicate (user, item) draws."""

UNIFORM_ROUNDS = 2
r"""Last rounds, which draw what a user still lacks from the whole
catalogue (heavy users whose topics are nearly exhausted)."""


def default_topics(num_items: int) -> int:
    r"""The number of topics when none is given: about
    :math:`\sqrt{I / 2.5}` (12 topics of 30 items for 360 items, 141 of
    about 355 for 50,000, 200 of 500 for 100,000), so that topics grow with
    the catalogue but slower than it."""
    return max(1, min(num_items, round(math.sqrt(num_items / 2.5))))


def multi_interest_interactions(
    num_users: int = 600,
    num_items: int = 360,
    num_interactions: int = 18_000,
    num_topics: Optional[int] = None,
    topics_per_user: Tuple[int, int] = (2, 3),
    noise: float = 0.1,
    degree_exponent: float = 2.0,
    topic_exponent: float = 0.0,
    seed: int = 0,
) -> Interactions:
    r"""Users who like several unrelated topics of items: the case where one
    user vector cannot sit close to all liked items (paper section 2.3),
    with power-law user and item degrees.

    * Items fall into :obj:`num_topics` topics of (almost) equal size,
      contiguous in id order; inside a topic the :math:`r`-th item (from
      ``0``) is drawn with probability about proportional to
      :math:`1 / (r + 1.5)` (Zipf with exponent 1, drawn as
      :math:`\lfloor (n + 1)^u \rfloor - 1` for a uniform :math:`u`), so that
      item degrees follow a power law.
    * User degrees follow a Pareto law with tail exponent
      :obj:`degree_exponent` (:math:`P(D > d) \propto d^{-2}` by default:
      the median is about :math:`0.7` times the mean and the largest
      degrees many times the median), scaled so that they sum to
      :obj:`num_interactions` and capped at twice the mean or the items of
      two-and-a-half topics over :math:`1 - \text{noise}`, whichever is
      larger.
    * Every user likes 2 or 3 distinct topics (uniformly, or skewed by
      :obj:`topic_exponent`), and draws each of their items from one of
      them (uniformly) with probability
      ``1 - noise``, and uniformly from the whole catalogue otherwise.
      Repeated (user, item) draws are replaced by fresh draws for up to
      :obj:`TOP_UP_ROUNDS` rounds, then for :obj:`UNIFORM_ROUNDS` rounds by
      draws from the whole catalogue (what a heavy user still lacks when
      their topics are nearly exhausted), so that the pairs are distinct and
      (up to a few per mille) :obj:`num_interactions`.

    Users are generated in chunks of about :obj:`CHUNK_ROWS` draws with
    ``int32`` codes; the same arguments give the same interactions.

    Args:
        num_users (int): :math:`U`. (default: ``600``)
        num_items (int): :math:`I`. (default: ``360``)
        num_interactions (int): Distinct (user, item) pairs to draw, at least
            :obj:`num_users` and at most half of :math:`U \cdot I`.
            (default: ``18000``)
        num_topics (int, optional): The number of topics (default:
            :func:`default_topics`, ``12`` for 360 items).
        topics_per_user (tuple): The fewest and most topics a user likes.
        noise (float): The share of draws from the whole catalogue.
        degree_exponent (float): The Pareto tail exponent of user degrees.
        topic_exponent (float): Users pick topic :math:`t` with probability
            proportional to :math:`(t + 1)^{-a}` for this :math:`a`
            (default: ``0``, uniformly: a skew makes popular topics' items
            popular overall, and the most-popular floor much harder to beat
            on the small default graph).
        seed (int): Seeds every draw.

    Returns:
        Interactions: sorted by user, then item, without duplicates; user ids
        read ``u<k>`` and item ids ``t<topic>-i<rank>``.
    """
    num_users, num_items = int(num_users), int(num_items)
    num_interactions = int(num_interactions)
    if num_users < 1 or num_items < 1:
        raise ValueError(f'the synthetic data set needs at least one user '
                         f'and one item, got {num_users} users and '
                         f'{num_items} items')
    if not num_users <= num_interactions <= num_users * num_items // 2:
        raise ValueError(
            f'the synthetic data set needs between one interaction per user '
            f'and half of all user-item pairs: {num_users} users x '
            f'{num_items} items allow {num_users} to '
            f'{num_users * num_items // 2} interactions, got '
            f'{num_interactions}')
    if not 0 <= noise <= 1:
        raise ValueError(f'noise must be in [0, 1], got {noise}')
    num_topics = (default_topics(num_items) if num_topics is None else
                  int(num_topics))
    if not 1 <= num_topics <= num_items:
        raise ValueError(f'num_topics must be between 1 and num_items '
                         f'({num_items}), got {num_topics}')
    low, high = (min(int(t), num_topics) for t in topics_per_user)
    rng = np.random.default_rng(seed)

    # Topic t holds items start[t] .. start[t + 1] - 1.
    start = (np.arange(num_topics + 1, dtype=np.int64) * num_items +
             num_topics - 1) // num_topics
    size = np.diff(start)
    log_size = np.log(size + 1.0)
    topic_cdf = np.cumsum(np.arange(1, num_topics + 1) ** -topic_exponent)
    topic_cdf /= topic_cdf[-1]

    mean = num_interactions / num_users
    reach = (low + high) / 2 * num_items / num_topics / max(1 - noise, 1e-9)
    cap = int(min(num_items, max(math.ceil(2 * mean), int(reach), 1)))
    degree = _degrees(rng, num_users, num_interactions, cap, degree_exponent)

    user_out = np.empty(int(degree.sum()), dtype=np.int32)
    item_out = np.empty_like(user_out)
    filled = 0
    bounds = np.searchsorted(np.cumsum(degree, dtype=np.int64),
                             np.arange(CHUNK_ROWS, int(degree.sum()),
                                       CHUNK_ROWS), side='right')
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, num_users]):
        if hi <= lo:
            continue
        n = hi - lo
        count = rng.integers(low, high, size=n, endpoint=True)
        topics = _distinct_topics(rng, n, topic_cdf, high, count)
        want = degree[lo:hi].astype(np.int64)
        key = np.empty(0, dtype=np.int64)  # (user - lo) * I + item, sorted.
        need = want
        for round_ in range(TOP_UP_ROUNDS + UNIFORM_ROUNDS):
            rows = np.repeat(np.arange(n, dtype=np.int32), need)
            if rows.size == 0:
                break
            share = noise if round_ < TOP_UP_ROUNDS else 1.0
            pick = (rng.random(rows.size, dtype=np.float32) *
                    count[rows]).astype(np.int64)
            topic = topics[rows, pick]
            rank = np.exp(rng.random(rows.size) * log_size[topic])
            rank = np.minimum(rank.astype(np.int64) - 1, size[topic] - 1)
            item = start[topic] + rank
            uniform = rng.random(rows.size, dtype=np.float32) < share
            item[uniform] = rng.integers(0, num_items,
                                         int(uniform.sum()))
            key = _sorted_unique(np.concatenate(
                [key, rows.astype(np.int64) * num_items + item]))
            need = want - np.bincount(key // num_items, minlength=n)
        user = (key // num_items).astype(np.int32) + np.int32(lo)
        user_out[filled:filled + key.size] = user
        item_out[filled:filled + key.size] = key % num_items
        filled += key.size

    width = len(str(max(num_topics, int(size.max())) - 1))
    topic_of = np.repeat(np.arange(num_topics), size)
    rank_of = np.arange(num_items) - start[topic_of]
    item_ids = np.char.add(
        np.char.add('t', topic_of.astype(f'U{width}')),
        np.char.add('-i', rank_of.astype(f'U{width}')))
    user_ids = np.char.add('u', np.arange(num_users).astype(
        f'U{len(str(num_users))}'))
    return Interactions(user=user_out[:filled].copy(),
                        item=item_out[:filled].copy(),
                        user_ids=user_ids, item_ids=item_ids)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    r"""The distinct :obj:`values`, sorted (:func:`numpy.unique` by a sort,
    which numpy 2's hash-based default is far slower than on ``10^6`` keys)."""
    values = np.sort(values)
    keep = np.empty(values.size, dtype=bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _degrees(rng: np.random.Generator, num_users: int, total: int, cap: int,
             exponent: float) -> np.ndarray:
    r"""``[U]`` int32 Pareto degrees in ``[1, cap]`` summing to
    :obj:`total`: the Pareto draws times a scale found by bisection, rounded
    down, then one more for randomly chosen users until the sum is
    exact."""
    weight = (1.0 - rng.random(num_users)) ** (-1.0 / exponent)

    def degrees(scale: float) -> np.ndarray:
        return np.clip(np.floor(scale * weight), 1, cap)

    low, high = 0.0, float(cap)
    for _ in range(60):
        mid = 0.5 * (low + high)
        if degrees(mid).sum() <= total:
            low = mid
        else:
            high = mid
    degree = degrees(low).astype(np.int32)
    missing = total - int(degree.sum())  # 0 <= missing < U, by the bisection
    if missing > 0:
        room = np.flatnonzero(degree < cap)
        degree[rng.choice(room, min(missing, room.size), replace=False)] += 1
    return degree


def _distinct_topics(rng: np.random.Generator, n: int, cdf: np.ndarray,
                     most: int, count: np.ndarray) -> np.ndarray:
    r"""``[n, most]`` topics drawn from the cumulative distribution
    :obj:`cdf`; the first :obj:`count` of each row are distinct (the others
    are unused)."""
    def draw(size):
        return np.minimum(np.searchsorted(cdf, rng.random(size), 'right'),
                          len(cdf) - 1)

    topics = draw((n, most))
    for column in range(1, most):
        while True:
            clash = (topics[:, :column] == topics[:, column:column + 1]).any(1)
            clash &= column < count
            if not clash.any():
                break
            topics[clash, column] = draw(int(clash.sum()))
    return topics
