r"""The vectorised, chunked reader gives exactly what the line-by-line parser
gives, and hands every unusual file back to it."""
import gzip
import os.path as osp

import numpy as np
import pytest

from hlr_graph.data import DataFormatError, Interactions
from hlr_graph.data.readers import (
    _fields,
    _layout,
    detect_columns,
    read_table,
    read_table_chunked,
)


def assert_same(a: Interactions, b: Interactions):
    for key in ('user', 'item', 'user_ids', 'item_ids', 'rating', 'fold'):
        x, y = getattr(a, key), getattr(b, key)
        if x is None or y is None:
            assert x is None and y is None, key
            continue
        assert x.dtype == y.dtype, (key, x.dtype, y.dtype)
        assert np.array_equal(x, y), key
        if x.dtype.kind == 'f':  # -0.0 and 0.0 too.
            assert np.array_equal(np.signbit(x), np.signbit(y)), key


def chunked(path, chunk_bytes=1 << 23, **given):
    r"""read_table_chunked with the columns read_table settles."""
    options = detect_columns(str(path), **given)
    with open(path, 'rb') as f:
        first = f.readline().decode('utf-8').lstrip('\ufeff')
    header, index = _layout(_fields(first, options['sep']), str(path),
                            options['user_col'], options['item_col'],
                            options['rating_col'], options['header'])
    return read_table_chunked(str(path), options['sep'], index['user'],
                              index['item'], index['rating'], header,
                              chunk_bytes=chunk_bytes)


def exact(path, **given):
    options = detect_columns(str(path), **given)
    return read_table(str(path), **options, fast=False), options


@pytest.mark.parametrize('name', [
    'ml-100k/u.data', 'ml-latest-small/ratings.csv',
    'lastfm_hetrec2011/user_artists.dat', 'yelp_hin/user_business.dat'])
@pytest.mark.parametrize('chunk_bytes', [1 << 23, 4096])
def test_real_files_read_the_same(name, chunk_bytes, data_root):
    path = osp.join(data_root, name)
    want, options = exact(path)
    got = chunked(path, chunk_bytes)
    assert got is not None  # The fast path took it.
    assert_same(got, want)
    assert_same(read_table(path, **options), want)


CASES = {
    # name: (file body, whether the vectorised path takes it)
    'header, blank lines, CRLF': (
        'user,item,rating\r\n1,10,4\r\n\r\n2,10,3.5\r\n\n1,11,5\r\n', True),
    'no final newline, extra columns': (
        '3\t7\t4\t99\textra\n1\t7\t2\n2\t8\t5', True),
    'string ids in order of appearance': (
        'zed,b,1\nann,a,2\nzed,a,3\n', True),
    'inner spaces in ids': ('John Smith;x y;4\nAnn;x y;5\n', True),
    'negative ids and ratings, -0.0, .5 and 3.': (
        '-5,-7,-0\n3,-7,.5\n-5,2,3.\n0,0,-1.25\n', True),
    'long and exact ratings': (
        '1,1,0.1\n1,2,123456789012.345\n2,1,0.30000000000000\n', True),
    'double-colon separator': ('1::1193::5::978300760\n1::661::3::0\n',
                               True),
    'ints then a string id': ('1,1,1\n2,2,2\n10,3,3\nx7,4,4\n', True),
    'utf-8 byte-order mark, no header': ('\ufeff1,2,3\n2,2,4\n', True),
    'quoted fields fall back': ('"1","2",3\n"2","2",4\n', False),
    'zero-padded integer ids fall back': ('007,1,3\n7,2,4\n10,1,2\n',
                                          False),
    'minus zero id falls back': ('-0,1,3\n0,2,4\n', False),
    'exponent rating falls back': ('1,2,1e3\n2,2,4\n', False),
    'plus-signed rating falls back': ('1,2,+4\n2,2,4\n', False),
    'space around a field falls back': ('1, 2,4\n2,2,4\n', False),
    'lone carriage return falls back': ('1,2,4\r2,2,4\n3,3,3\n', False),
    'non-ascii id falls back': ('Zoë,2,4\nAnn,2,4\n', False),
    'whitespace-only line falls back': ('1,2,4\n   \n2,2,4\n', False),
    'sixteen-digit rating falls back': ('1,2,1.234567890123456\n', False),
}


@pytest.mark.parametrize('case', list(CASES))
@pytest.mark.parametrize('chunk_bytes', [1 << 23, 8])
def test_edge_cases_read_the_same(case, chunk_bytes, tmp_path):
    body, fast = CASES[case]
    path = tmp_path / 'data.csv'
    path.write_bytes(body.encode('utf-8'))
    want, options = exact(path)
    got = chunked(path, chunk_bytes)
    assert (got is not None) == fast
    if got is not None:
        assert_same(got, want)
    assert_same(read_table(str(path), **options), want)


def test_string_ids_keep_first_appearance_across_chunks(tmp_path):
    path = tmp_path / 'data.tsv'
    path.write_text('b\t1\na\t1\n3\t2\nb\t2\n1\t3\n')
    got = chunked(path, chunk_bytes=4)  # One line per chunk.
    assert list(got.user_ids) == ['b', 'a', '3', '1']
    assert list(got.user) == [0, 1, 2, 0, 3]
    assert_same(got, exact(path)[0])


def test_integer_ids_are_ordered_by_value(tmp_path):
    path = tmp_path / 'data.tsv'
    path.write_text('10\t5\n9\t-3\n100\t5\n')
    got = chunked(path)
    assert list(got.user_ids) == ['9', '10', '100']
    assert list(got.user) == [1, 0, 2] and got.user.dtype == np.int32
    assert list(got.item_ids) == ['-3', '5']


def test_gzip_file(tmp_path):
    path = tmp_path / 'data.csv.gz'
    with gzip.open(path, 'wt') as f:
        f.write('user,item\nu1,i1\nu2,i1\n')
    options = detect_columns(str(path))
    want = read_table(str(path), **options, fast=False)
    got = read_table_chunked(str(path), ',', 0, 1, None, True)
    assert got is not None and got.rating is None
    assert_same(got, want)


def test_malformed_line_is_reported_by_the_exact_parser(tmp_path):
    path = tmp_path / 'data.tsv'
    path.write_text('1\t2\t5\n1\t3\t4\n1 4 5\n')
    assert chunked(path) is None
    with pytest.raises(DataFormatError, match=r'data.tsv:3: expected at '):
        read_table(str(path), sep='\t', rating_col=2)


def test_random_files_read_the_same(tmp_path):
    rng = np.random.default_rng(0)
    tokens = ['1', '2', '10', '-4', 'a', 'b c', 'x1', '07', '0']
    ratings = ['1', '4.5', '.5', '2.', '-3', '0.25', '10']
    taken = 0
    for trial in range(40):
        ids = tokens if trial % 2 else tokens[:4]  # All-integer half.
        lines = [f'{rng.choice(ids)},{rng.choice(ids)},{rng.choice(ratings)}'
                 for _ in range(rng.integers(1, 30))]
        lines.insert(int(rng.integers(1, len(lines) + 1)), '')
        path = tmp_path / f'{trial}.csv'
        path.write_text('\n'.join(lines) + '\n')
        want, _ = exact(path, sep=',', rating_col=2, header=False)
        got = chunked(path, int(rng.integers(1, 64)), sep=',', rating_col=2,
                      header=False)
        if got is not None:
            taken += 1
            assert_same(got, want)
    assert taken >= 10
