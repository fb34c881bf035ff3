import json

import pytest

from hlr_graph.data import DataFormatError, InteractionFile
from hlr_graph.data.__main__ import main as data_main
from hlr_graph.data.readers import column_role, detect_columns, read_table

# 3 users (u1..u3) and 3 items (i1..i3), 5 rows.
ROWS = [('u1', 'i1', '5'), ('u1', 'i2', '4'), ('u2', 'i2', '5'),
        ('u3', 'i3', '1'), ('u3', 'i1', '4')]


def write(path, header, order, sep=','):
    r"""Writes :obj:`ROWS` with their (user, item, rating) fields in the
    order :obj:`order` (indices into a row) under :obj:`header`."""
    lines = [sep.join(header)] if header else []
    lines += [sep.join(row[i] for i in order) for row in ROWS]
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def pairs(ds):
    data = ds[0]
    edges = data['user', 'interacts', 'item']
    index = [edges[k] for k in ('edge_index', 'val_edge_label_index',
                                'test_edge_label_index')]
    users, items = data['user'].raw_id, data['item'].raw_id
    return sorted((users[u], items[i]) for e in index
                  for u, i in e.t().tolist())


def test_two_column_header_is_not_an_interaction(tmp_path, capsys):
    path = write(tmp_path / 'implicit.csv', ['user', 'item'], [0, 1])
    ds = InteractionFile(path, k_core=0)
    assert (ds.stats['users'], ds.stats['items'],
            ds.stats['interactions']) == (3, 3, 5)
    assert ds.stats['raw'] == {'users': 3, 'items': 3, 'interactions': 5}
    assert ('user', 'item') not in pairs(ds)
    assert data_main(['stats', '--json', '--dataset', path, '--k-core',
                      '0']) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats['users'], stats['items'], stats['interactions']) == \
        (3, 3, 5)


def test_header_item_user_rating_is_read_by_name(tmp_path):
    path = write(tmp_path / 'swapped.csv', ['item', 'user', 'rating'],
                 [1, 0, 2])
    ds = InteractionFile(path, k_core=0, threshold=4)
    assert ds[0]['user'].raw_id == ['u1', 'u2', 'u3']
    assert pairs(ds) == [('u1', 'i1'), ('u1', 'i2'), ('u2', 'i2'),
                         ('u3', 'i1')]  # u3-i3 is rated 1.


@pytest.mark.parametrize('header, order, sep', [
    (['movieId', 'timestamp', 'rating', 'userId'], [1, None, 2, 0], ','),
    (['business_id', 'stars', 'user_id'], [1, 2, 0], '\t'),
    (['artistID', 'userID', 'weight'], [1, 0, 2], '\t'),
    (['song', 'plays', 'uid'], [1, 2, 0], ','),
    (['Item_ID', 'USER-ID', 'Count'], [1, 0, 2], ';'),
    (['"itemId"', '"userId"', '"rating"'], [1, 0, 2], ','),
])
def test_header_aliases(tmp_path, header, order, sep):
    # order[k]: the field of a row (0 user, 1 item, 2 rating; None: a
    # timestamp) under header column k.
    lines = [sep.join(header)] + [
        sep.join('1700000000' if k is None else row[k] for k in order)
        for row in ROWS]
    path = tmp_path / 'data.txt'
    path.write_text('\n'.join(lines) + '\n')
    ds = InteractionFile(str(path), k_core=0, threshold=4)
    assert pairs(ds) == [('u1', 'i1'), ('u1', 'i2'), ('u2', 'i2'),
                         ('u3', 'i1')]


@pytest.mark.parametrize('header, message', [
    (['a', 'b', 'c'], r"cannot tell the user column from the header "
     r"\['a', 'b', 'c'\] \(candidates: none\); pass --user-col and "
     r"--item-col"),
    (['user_id', 'userId', 'item'], r"cannot tell the user column from the "
     r"header \['user_id', 'userId', 'item'\] \(candidates: 'user_id' and "
     r"'userId'\); pass --user-col and --item-col"),
    (['user', 'item', 'rating', 'stars'], r"cannot tell the rating column "
     r".*'rating' and 'stars'.*pass --rating-col"),
])
def test_ambiguous_header_lists_columns(tmp_path, header, message):
    path = tmp_path / 'odd.csv'
    path.write_text(','.join(header) + '\n' + ''.join(
        f'u{k},i{k},{k},{k}\n' for k in range(4)))
    with pytest.raises(DataFormatError, match=r'odd\.csv:1: ' + message):
        InteractionFile(str(path), k_core=0)


def test_ambiguous_header_is_one_line(tmp_path):
    path = tmp_path / 'odd.csv'
    path.write_text('who,what,score\n1,2,5\n')
    with pytest.raises(DataFormatError) as info:
        InteractionFile(str(path))
    assert '\n' not in str(info.value)
    assert "['who', 'what', 'score']" in str(info.value)


def test_explicit_columns_win(tmp_path):
    path = tmp_path / 'shop.csv'
    path.write_text('user,item,rating,seller\n' + ''.join(
        f'u{k % 3},i{k},5,s{k % 2}\n' for k in range(6)))
    by_seller = InteractionFile(str(path), user_col='seller', k_core=0)
    assert by_seller[0]['user'].raw_id == ['s0', 's1']
    by_index = InteractionFile(str(path), user_col=3, item_col=1, k_core=0)
    assert by_index.options['file_options']['user_col'] == 'seller'
    assert pairs(by_index) == pairs(by_seller)


def test_index_that_contradicts_the_header_is_refused(tmp_path):
    path = write(tmp_path / 'swapped.csv', ['item', 'user', 'rating'],
                 [1, 0, 2])
    with pytest.raises(DataFormatError, match=r"--user-col 0 is the column "
                       r"'item', named as the item column; give the user "
                       r"column by its name in the header \['item', 'user', "
                       r"'rating'\]"):
        InteractionFile(path, user_col=0, item_col=1)


def test_no_header_is_read_by_position(tmp_path):
    path = write(tmp_path / 'plain.tsv', None, [0, 1, 2], sep='\t')
    assert detect_columns(path) == dict(sep='\t', user_col=0, item_col=1,
                                        rating_col=2, header=False)
    ds = InteractionFile(path, k_core=0, threshold=4)
    assert len(pairs(ds)) == 4


def test_a_data_line_naming_a_known_column_is_data(tmp_path):
    path = tmp_path / 'songs.csv'
    path.write_text('alice,song,5\nbob,track,4\n')
    assert detect_columns(str(path))['header'] is False
    assert len(read_table(str(path), sep=',')) == 2


def test_column_roles():
    assert [column_role(n) for n in ('userId', 'user_id', 'USERID', 'uid',
                                     'movieId', 'business_id', 'artistID',
                                     'song', 'stars', 'weight', 'plays',
                                     'count', 'timestamp', 'time', 'genre')
            ] == ['user'] * 4 + ['item'] * 4 + ['rating'] * 4 + \
        ['timestamp'] * 2 + [None]


def test_utf8_bom_and_gzip(tmp_path):
    import gzip
    path = tmp_path / 'excel.csv.gz'
    with gzip.open(path, 'wt', encoding='utf-8') as f:
        f.write('\ufeffitem,user\ni1,u1\ni2,u1\ni1,u2\n')
    ds = InteractionFile(str(path), k_core=0)
    assert ds[0]['user'].raw_id == ['u1', 'u2']
