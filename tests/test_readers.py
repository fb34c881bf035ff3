import json
import os.path as osp
import tarfile
import urllib.error
import zipfile

import numpy as np
import pytest

from hlr_graph.data import (
    AmazonRatings,
    DataFormatError,
    Echonest,
    InteractionFile,
    MissingDataError,
    MovieLens1M,
    MovieLens100K,
    YelpReviews,
)
from hlr_graph.data.interactions import TEST, TRAIN
from hlr_graph.data.readers import (
    find_lightgcn_files,
    read_json_lines,
    read_lightgcn,
    read_names,
    read_table,
)


def pairs(data):
    return sorted(zip(data.user_ids[data.user], data.item_ids[data.item]))


# Real files ##################################################################


def test_movielens_100k_u_data(data_root):
    data = read_table(osp.join(data_root, 'ml-100k', 'u.data'), sep='\t',
                      rating_col=2)
    assert data.counts() == {'users': 943, 'items': 1682,
                             'interactions': 100_000}
    assert set(np.unique(data.rating)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    # First line of u.data is "196  242  3  881250949":
    assert (data.user_ids[data.user[0]], data.item_ids[data.item[0]],
            data.rating[0]) == ('196', '242', 3.0)
    assert list(data.user_ids[:3]) == ['1', '2', '3']  # Numeric id order.


def test_movielens_titles(data_root):
    names = read_names(osp.join(data_root, 'ml-100k', 'u.item'), sep='|',
                       id_col=0, name_col=1, encoding='latin-1')
    assert names['1'] == 'Toy Story (1995)' and len(names) == 1682


def test_movielens_latest_ratings_csv(data_root):
    data = read_table(osp.join(data_root, 'ml-latest-small', 'ratings.csv'),
                      sep=',', user_col='userId', item_col='movieId',
                      rating_col='rating', header=True)
    assert data.counts() == {'users': 610, 'items': 9724,
                             'interactions': 100_836}
    assert data.rating.min() == 0.5 and data.rating.max() == 5.0
    names = read_names(osp.join(data_root, 'ml-latest-small', 'movies.csv'),
                       sep=',', id_col=0, name_col=1, header=True,
                       quoted=True)
    assert names['1'] == 'Toy Story (1995)'
    assert names['11'] == 'American President, The (1995)'  # Quoted comma.


def test_lastfm_play_counts_crlf(data_root):
    data = read_table(osp.join(data_root, 'lastfm_hetrec2011',
                               'user_artists.dat'), sep='\t', rating_col=2,
                      header=True)
    assert data.counts() == {'users': 1892, 'items': 17632,
                             'interactions': 92_834}
    assert data.rating.dtype == np.float64 and data.rating.min() >= 1
    assert not any(i.endswith('\r') for i in data.item_ids)


def test_yelp_star_tsv(data_root):
    data = read_table(osp.join(data_root, 'yelp_hin', 'user_business.dat'),
                      sep='\t', rating_col=2)
    assert data.counts() == {'users': 16239, 'items': 14284,
                             'interactions': 198_397}


def test_yelp2018_straight_from_tar_gz(data_root):
    folder = osp.join(data_root, 'yelp2018_lightgcn')
    archive, train, test = find_lightgcn_files(folder)
    assert archive.endswith('yelp2018.tar.gz')
    assert (train, test) == ('yelp2018/train.txt', 'yelp2018/test.txt')
    data = read_lightgcn(train, test, archive,
                         osp.join(folder, 'user_list.txt'),
                         osp.join(folder, 'item_list.txt'))
    assert data.counts() == {'users': 31668, 'items': 38048,
                             'interactions': 1_561_406}
    assert (data.fold == TRAIN).sum() == 1_237_259
    assert (data.fold == TEST).sum() == 324_147
    assert len(data.user_ids[0]) == 22  # Yelp's original user ids.


# Generated files for formats without a shared copy ###########################


def test_movielens_1m_double_colon(tmp_path):
    path = tmp_path / 'ml-1m' / 'ratings.dat'
    path.parent.mkdir()
    path.write_text('1::1193::5::978300760\n1::661::3::978302109\n'
                    '2::1193::4::978298413\n')
    (tmp_path / 'ml-1m' / 'movies.dat').write_bytes(
        '1193::One Flew Over the Cuckoo\'s Nest (1975)::Drama\n'
        '661::Amélie (2001)::Comedy\n'.encode('latin-1'))
    ds = MovieLens1M(root=str(tmp_path), threshold=0, k_core=0)
    assert ds.stats['raw'] == {'users': 2, 'items': 2, 'interactions': 3}
    data = ds[0]
    assert dict(zip(data['item'].raw_id, data['item'].name))['661'] == \
        'Amélie (2001)'


def test_yelp_review_json_lines(tmp_path):
    path = tmp_path / 'review.json'
    rows = [dict(review_id='r1', user_id='uA', business_id='b1', stars=5.0),
            dict(review_id='r2', user_id='uB', business_id='b1', stars=2),
            dict(review_id='r3', user_id='uA', business_id='b2', stars=4)]
    path.write_text('\n'.join(json.dumps(r) for r in rows) + '\n')
    data = read_json_lines(str(path))
    assert pairs(data) == [('uA', 'b1'), ('uA', 'b2'), ('uB', 'b1')]
    assert sorted(data.rating) == [2.0, 4.0, 5.0]


def test_amazon_ratings_no_header(tmp_path):
    folder = tmp_path / 'amazon_ratings'
    folder.mkdir()
    (folder / 'ratings_Books.csv').write_text(
        'A1,0001,5.0,1400000000\nA2,0001,3.0,1400000001\nA1,0002,4.0,1\n')
    ds = AmazonRatings(root=str(tmp_path), k_core=0)
    assert ds.stats['raw']['interactions'] == 3  # The first row is data.
    assert ds.stats['interactions'] == 2  # 3.0 is below the threshold.


def test_echonest_triplets(tmp_path):
    folder = tmp_path / 'echonest'
    folder.mkdir()
    (folder / 'train_triplets.txt').write_text(
        'b80344d0\tSOAKIMP12A8C130995\t1\nb80344d0\tSOAPDEY12A81C210A9\t7\n'
        'c3ab2d33\tSOAPDEY12A81C210A9\t6\n')
    ds = Echonest(root=str(tmp_path), k_core=0)
    assert ds.stats['interactions'] == 2  # Plays >= 6.
    assert ds[0]['item'].raw_id == ['SOAPDEY12A81C210A9']


def test_lightgcn_plain_files_and_zip(tmp_path):
    text = {'train.txt': '0 1 2\n1 2\n2\n', 'test.txt': '0 0\n\n1 1\n'}
    for name, body in text.items():
        (tmp_path / name).write_text(body)
    plain = read_lightgcn(*find_lightgcn_files(str(tmp_path))[1:])
    assert len(plain) == 5 and plain.num_users == 2  # User 2 has no item.

    zipped = tmp_path / 'z'
    zipped.mkdir()
    with zipfile.ZipFile(zipped / 'data.zip', 'w') as archive:
        for name, body in text.items():
            archive.writestr(f'set/{name}', body)
    archive, train, test = find_lightgcn_files(str(zipped))
    assert pairs(read_lightgcn(train, test, archive)) == pairs(plain)


def test_generic_file_with_named_columns(tmp_path):
    path = tmp_path / 'events.csv'
    path.write_text('ts,item,who,score\n1,x,alice,5\n2,y,bob,1\n3,y,alice,4\n')
    ds = InteractionFile(str(path), user_col='who', item_col='item',
                         rating_col='score', threshold=4, k_core=0)
    data = ds[0]
    assert ds.stats['raw']['interactions'] == 3
    assert ds.stats['interactions'] == 2
    assert data['user'].raw_id == ['alice']
    assert sorted(data['item'].raw_id) == ['x', 'y']


def test_generic_tsv_guessed_implicit(tmp_path):
    path = tmp_path / 'clicks.tsv'
    path.write_text('u1\ti1\nu1\ti2\nu2\ti1\n')
    ds = InteractionFile(str(path), k_core=0)
    assert ds.stats['interactions'] == 3
    assert ds.stats['preprocessing']['threshold'] is None  # Implicit data.


# Bad input ###################################################################


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / 'u.data'
    path.write_text('1\t2\t5\t0\n1\t3\t4\t0\n1 4 5 0\n')
    with pytest.raises(DataFormatError, match=r'u\.data:3: expected at least '
                       r'3 fields'):
        read_table(str(path), sep='\t', rating_col=2)


def test_non_numeric_rating_names_file_and_line(tmp_path):
    path = tmp_path / 'ratings.csv'
    path.write_text('userId,movieId,rating,timestamp\n1,2,4.5,0\n1,3,good,0\n')
    with pytest.raises(DataFormatError,
                       match=r"ratings\.csv:3: rating 'good' is not a number"):
        read_table(str(path), sep=',', rating_col='rating', header=True)


def test_bad_lightgcn_id_names_member_and_line(tmp_path):
    with tarfile.open(tmp_path / 'set.tar.gz', 'w:gz') as archive:
        files = {'train.txt': '0 1\n1 x2\n', 'test.txt': '0 2\n'}
        for name, body in files.items():
            path = tmp_path / name
            path.write_text(body)
            archive.add(path, arcname=f'd/{name}')
    with pytest.raises(DataFormatError,
                       match=r"set\.tar\.gz:d/train\.txt:2: id 'x2'"):
        read_lightgcn('d/train.txt', 'd/test.txt',
                      str(tmp_path / 'set.tar.gz'))


def test_bad_json_names_file_and_line(tmp_path):
    path = tmp_path / 'review.json'
    path.write_text('{"user_id": "a", "business_id": "b", "stars": 4}\n'
                    '{"user_id": "a", "stars": 4}\n')
    with pytest.raises(DataFormatError,
                       match=r"review\.json:2: missing key 'business_id'"):
        read_json_lines(str(path))


@pytest.mark.parametrize('body', ['', '\n\n', 'userId,movieId,rating\n'])
def test_empty_file(tmp_path, body):
    path = tmp_path / 'ratings.csv'
    path.write_text(body)
    with pytest.raises(DataFormatError, match=r'ratings\.csv'):
        read_table(str(path), sep=',', rating_col='rating', header='auto')


def test_missing_download_fails_with_placement_message(tmp_path, monkeypatch):
    def offline(url, folder, log=True, filename=None):
        raise urllib.error.URLError('Name or service not known')

    monkeypatch.setattr('hlr_graph.data.dataset.download_url', offline)
    with pytest.raises(MissingDataError) as info:
        MovieLens100K(root=str(tmp_path))
    message = str(info.value)
    assert 'u.data' in message and str(tmp_path / 'ml-100k') in message
    assert 'files.grouplens.org' in message and 'HLR_GRAPH_DATA' in message
    assert not (tmp_path / 'ml-100k').exists()  # Nothing left behind.


@pytest.mark.parametrize('log', [True, False])
def test_the_download_line_follows_the_datasets_log(tmp_path, monkeypatch,
                                                    log):
    # --quiet builds the data set with log=False: then a failed download
    # leaves the error alone, without a 'Downloading ...' line before it.
    asked = []

    def offline(url, folder, log=True, filename=None):
        asked.append(log)
        raise urllib.error.URLError('Name or service not known')

    monkeypatch.setattr('hlr_graph.data.dataset.download_url', offline)
    with pytest.raises(MissingDataError):
        MovieLens100K(root=str(tmp_path), log=log)
    assert asked == [log]


def test_terms_bound_source_fails_at_once(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError('must not try to download')

    monkeypatch.setattr('hlr_graph.data.dataset.download_url', no_network)
    with pytest.raises(MissingDataError,
                       match=r'yelp_academic_dataset_review\.json not found '
                       r'in .*yelp_academic.*yelp\.com/dataset'):
        YelpReviews(root=str(tmp_path))
    assert not (tmp_path / 'yelp_academic').exists()


def test_download_is_atomic(tmp_path, monkeypatch):
    def fake_download(url, folder, log=True, filename=None):
        path = osp.join(folder, url.rpartition('/')[2])
        with zipfile.ZipFile(path, 'w') as archive:
            archive.writestr('ml-100k/u.data', '1\t1\t5\t0\n')
            archive.writestr('ml-100k/u.item', '1|Film (1990)|\n')
        return path

    monkeypatch.setattr('hlr_graph.data.dataset.download_url', fake_download)
    ds = MovieLens100K(root=str(tmp_path), k_core=0)
    assert sorted(p.name for p in (tmp_path / 'ml-100k').iterdir()) == [
        'u.data', 'u.item']
    assert ds[0]['item'].name == ['Film (1990)']


def test_a_mistyped_root_leaves_no_folders(tmp_path, monkeypatch):
    def offline(url, folder, log=True, filename=None):
        raise urllib.error.URLError('Name or service not known')

    monkeypatch.setattr('hlr_graph.data.dataset.download_url', offline)
    for cls in (YelpReviews, MovieLens100K):  # Manual, then a download.
        with pytest.raises(MissingDataError):
            cls(root=str(tmp_path / 'no' / 'such' / 'root'))
        assert list(tmp_path.iterdir()) == []
