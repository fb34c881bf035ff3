r"""A generated data set with planted multi-interest users."""
import numpy as np

from hlr_graph.data.interactions import Interactions


def multi_interest_interactions(
    num_users: int = 600,
    num_topics: int = 12,
    items_per_topic: int = 30,
    topics_per_user: tuple = (2, 3),
    interactions_per_user: tuple = (15, 45),
    noise: float = 0.1,
    seed: int = 0,
) -> Interactions:
    r"""Users who like several unrelated topics of items: the case where one
    user vector cannot sit close to all liked items (paper section 2.3).

    Items fall into :obj:`num_topics` topics with a Zipf popularity inside
    each. Every user picks 2 or 3 topics and draws between 15 and 45 distinct
    items, each from one of their topics with probability ``1 - noise`` and
    uniformly from the catalogue otherwise. Item ids read ``t<topic>-i<k>``.
    """
    rng = np.random.default_rng(seed)
    num_items = num_topics * items_per_topic
    topic_of = np.repeat(np.arange(num_topics), items_per_topic)
    zipf = 1.0 / np.arange(1, items_per_topic + 1)
    users, items = [], []
    for user in range(num_users):
        topics = rng.choice(num_topics, rng.integers(*topics_per_user,
                                                     endpoint=True),
                            replace=False)
        size = int(rng.integers(*interactions_per_user, endpoint=True))
        weight = np.full(num_items, noise / num_items)
        for topic in topics:
            weight[topic_of == topic] += (1 - noise) * zipf / zipf.sum() / len(
                topics)
        chosen = rng.choice(num_items, size, replace=False,
                            p=weight / weight.sum())
        users.append(np.full(size, user))
        items.append(chosen)
    item_ids = np.array([f't{t}-i{k}' for t in range(num_topics)
                         for k in range(items_per_topic)])
    return Interactions(
        user=np.concatenate(users).astype(np.int64),
        item=np.concatenate(items).astype(np.int64),
        user_ids=np.array([f'u{u}' for u in range(num_users)]),
        item_ids=item_ids,
    )
