r"""Readers of the raw interaction formats.

Each reader returns :class:`~hlr_graph.data.interactions.Interactions` with the
original ids kept, and raises :class:`DataFormatError` naming the file and line
of the first row it cannot read.
"""
import csv
import glob
import gzip
import io
import json
import os.path as osp
import re
import tarfile
import zipfile
from array import array
from contextlib import contextmanager
from typing import (
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    TextIO,
    Tuple,
    Union,
)

import numpy as np

from hlr_graph.data.interactions import (
    TEST,
    TRAIN,
    DataFormatError,
    Interactions,
)

Column = Union[int, str]


class _Vocabulary:
    r"""Assigns codes 0, 1, ... to ids in order of first appearance."""
    def __init__(self):
        self.index: Dict[str, int] = {}

    def __call__(self, token: str) -> int:
        return self.index.setdefault(token, len(self.index))

    def finish(self, codes: array) -> Tuple[np.ndarray, np.ndarray]:
        r"""Returns ``(codes, ids)`` with ids in numeric order when every id is
        an integer, so that integer-id files keep their own order."""
        ids = np.array(list(self.index), dtype=object)
        codes = np.frombuffer(codes, dtype=np.int64).copy()
        if len(ids) and all(_is_int(t) for t in ids):
            order = np.argsort([int(t) for t in ids], kind='stable')
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            ids, codes = ids[order], rank[codes]
        return codes, ids.astype(str)


def _is_int(token: str) -> bool:
    return token.lstrip('-').isdigit()


@contextmanager
def open_text(path: str, member: Optional[str] = None,
              encoding: str = 'utf-8') -> Iterator[TextIO]:
    r"""Opens a text file (gzip-compressed when its name ends in ``.gz``),
    or the file :obj:`member` inside a ``.zip`` or ``.tar(.gz)`` archive at
    :obj:`path`, for reading."""
    if member is None and path.endswith('.gz'):
        with gzip.open(path, 'rt', encoding=encoding, newline='') as f:
            yield f
    elif member is None:
        with open(path, encoding=encoding, newline='') as f:
            yield f
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive, archive.open(member) as raw:
            yield io.TextIOWrapper(raw, encoding=encoding, newline='')
    else:
        with tarfile.open(path) as archive:
            raw = archive.extractfile(member)
            if raw is None:
                raise DataFormatError(path, f"'{member}' is not a file")
            yield io.TextIOWrapper(raw, encoding=encoding, newline='')


def archive_members(path: str) -> List[str]:
    r"""The file names inside a ``.zip`` or ``.tar(.gz)`` archive."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    with tarfile.open(path) as archive:
        return [m.name for m in archive.getmembers() if m.isfile()]


# Columns #####################################################################

COLUMN_NAMES: Dict[str, Tuple[str, ...]] = {
    'user': ('user', 'userid', 'uid', 'users', 'username', 'customer',
             'customerid', 'reviewer', 'reviewerid', 'visitorid', 'memberid',
             'listenerid', 'profileid'),
    'item': ('item', 'itemid', 'iid', 'items', 'movie', 'movieid',
             'business', 'businessid', 'artist', 'artistid', 'song', 'songid',
             'track', 'trackid', 'product', 'productid', 'asin', 'book',
             'bookid', 'isbn', 'poi', 'poiid', 'venue', 'venueid', 'place',
             'placeid', 'locationid', 'anime', 'animeid', 'recipe',
             'recipeid', 'game', 'gameid'),
    'rating': ('rating', 'ratings', 'score', 'stars', 'star', 'weight',
               'plays', 'playcount', 'count', 'listencount', 'clicks'),
    'timestamp': ('timestamp', 'time', 'ts', 'date', 'datetime', 'unixtime',
                  'unixreviewtime', 'reviewtime', 'checkintime', 'createdat'),
}
r"""The header names of each column role, case-insensitive and compared with
every character other than letters and digits removed (``userId``,
``user_id`` and ``USER-ID`` all read ``userid``)."""

_ROLE_OF = {alias: role for role, names in COLUMN_NAMES.items()
            for alias in names}
_FLAGS = {'user': '--user-col', 'item': '--item-col',
          'rating': '--rating-col'}


def column_role(name: str) -> Optional[str]:
    r"""The role (``'user'``, ``'item'``, ``'rating'`` or ``'timestamp'``)
    that a header field names, or :obj:`None` (see :obj:`COLUMN_NAMES`)."""
    return _ROLE_OF.get(re.sub(r'[^0-9a-z]', '', name.lower()))


def sniff_separator(line: str) -> Optional[str]:
    r"""The separator of a line: tab, ``'::'``, comma or semicolon, the first
    found in that order; :obj:`None` (any whitespace) otherwise."""
    for sep in ('\t', '::', ',', ';'):
        if sep in line:
            return sep
    return None


def _fields(line: str, sep: Optional[str]) -> List[str]:
    return [t.strip() for t in line.rstrip('\r\n').split(sep)]


def _looks_like_header(fields: List[str], rating: Optional[Column]) -> bool:
    r"""A first line is a header when it names a known column and holds no
    number, or when its rating field (the given one, else the third) is not
    a number."""
    if any(column_role(f) for f in fields) and \
            not any(_is_number(f) for f in fields):
        return True
    if rating is None:
        rating = 2 if len(fields) > 2 else None
    return (isinstance(rating, int) and 0 <= rating < len(fields)
            and not _is_number(fields[rating]))


def _layout(fields: List[str], name: str, user_col: Optional[Column],
            item_col: Optional[Column], rating_col: Optional[Column],
            header: Union[bool, str]) -> Tuple[bool, Dict[str, Optional[int]]]:
    r"""Decides whether the first line (:obj:`fields`) is a header and where
    the user, item and rating columns are. Returns ``(header, {'user': i,
    'item': j, 'rating': k or None})``; see :func:`read_table` for the
    rules."""
    given = {'user': user_col, 'item': item_col, 'rating': rating_col}
    for role, column in given.items():
        if isinstance(column, bool) or not (
                column is None or isinstance(column, str)
                or (isinstance(column, (int, np.integer)) and (
                    column >= 0 or (role == 'rating' and column == -1)))):
            raise DataFormatError(
                name, f'{_FLAGS[role]} must be a column name or a 0-based '
                f'index{", or -1 for none" if role == "rating" else ""}, '
                f'got {column!r}')
    named = any(isinstance(c, str) for c in given.values())
    if header == 'auto':
        header = named or _looks_like_header(fields, rating_col)
    elif named and not header:
        raise DataFormatError(name, 'columns given by name need a header')

    index: Dict[str, Optional[int]] = {}
    if not header:
        index['user'] = 0 if user_col is None else int(user_col)
        index['item'] = 1 if item_col is None else int(item_col)
        index['rating'] = (2 if len(fields) > 2 else None) \
            if rating_col is None else None if rating_col == -1 \
            else int(rating_col)
    else:
        header_names = [f.strip('"') for f in fields]
        roles = [column_role(f) for f in header_names]
        for role, column in given.items():  # Given columns first.
            if isinstance(column, str):
                index[role] = _named(header_names, column, role, name)
            elif column is not None:
                index[role] = None if column == -1 else int(column)
                _check_position(header_names, roles, index[role], role, name)
        taken = set(index.values())
        for role, column in given.items():  # Then the others by name.
            if column is not None:
                continue
            found = [i for i, r in enumerate(roles)
                     if r == role and i not in taken]
            if len(found) == 1 or (role == 'rating' and not found):
                index[role] = found[0] if found else None
                continue
            what = ('none' if not found else ' and '.join(
                repr(header_names[i]) for i in found))
            flags = ('--rating-col (a name, an index, or -1 for none)'
                     if role == 'rating' else
                     '--user-col and --item-col (names or 0-based indices)')
            raise DataFormatError(
                name, f'cannot tell the {role} column from the header '
                f'{header_names} (candidates: {what}); pass {flags}', line=1)
    if index['user'] == index['item']:
        raise DataFormatError(name, f'the user and the item column are the '
                              f'same column ({index["user"]})')
    return bool(header), index


def _named(header: List[str], column: str, role: str, path: str) -> int:
    if column in header:
        return header.index(column)
    folded = [h.lower() for h in header]
    if folded.count(column.lower()) == 1:
        return folded.index(column.lower())
    raise DataFormatError(
        path, f"no {role} column named '{column}' in the header {header}",
        line=1)


def _check_position(header: List[str], roles: List[Optional[str]],
                    column: Optional[int], role: str, path: str):
    r"""Refuses a column index whose header names another role, such as
    ``--user-col 0`` on a header ``item,user``."""
    if column is None:
        return
    if column >= len(header):
        raise DataFormatError(
            path, f'{_FLAGS[role]} {column} is out of range: the header '
            f'{header} has {len(header)} columns', line=1)
    if roles[column] not in (None, role):
        raise DataFormatError(
            path, f"{_FLAGS[role]} {column} is the column "
            f"'{header[column]}', named as the {roles[column]} column; give "
            f'the {role} column by its name in the header {header}', line=1)


def detect_columns(
    path: str,
    sep: Optional[str] = None,
    user_col: Optional[Column] = None,
    item_col: Optional[Column] = None,
    rating_col: Optional[Column] = None,
    header: Union[bool, str] = 'auto',
    encoding: str = 'utf-8',
) -> Dict:
    r"""Reads the first line of a delimited file and settles how
    :func:`read_table` reads it, by the rules given there.

    Returns:
        dict: ``{'sep', 'user_col', 'item_col', 'rating_col', 'header'}``,
        the canonical arguments of :func:`read_table` for this file: the
        separator found, :obj:`header` as a :obj:`bool`, the columns by
        their header name when there is a header and by 0-based index
        otherwise, and ``rating_col=-1`` for implicit data. Passing them
        back reads the file the same way.
    """
    with _readable(path, encoding), open_text(path, encoding=encoding) as f:
        first = f.readline().lstrip('\ufeff')
    if not first.strip():
        raise DataFormatError(path, 'the file is empty')
    if sep is None:
        sep = sniff_separator(first)
    fields = _fields(first, sep)
    header, index = _layout(fields, path, user_col, item_col, rating_col,
                            header)

    def canonical(i):
        if i is None:
            return -1
        return fields[i].strip('"') if header else i

    return dict(sep=sep, user_col=canonical(index['user']),
                item_col=canonical(index['item']),
                rating_col=canonical(index['rating']), header=header)


def read_table(
    path: str,
    sep: Optional[str] = '\t',
    user_col: Optional[Column] = None,
    item_col: Optional[Column] = None,
    rating_col: Optional[Column] = None,
    header: Union[bool, str] = False,
    encoding: str = 'utf-8',
    member: Optional[str] = None,
) -> Interactions:
    r"""Reads a delimited interaction file, one ``user, item[, rating, ...]``
    row per line.

    Columns are found by name when the file has a header and by position
    only when it has none:

    * With a header, a column given by name is looked up in it (exactly,
      else case-insensitively), a column given by index is taken as is but
      refused when its header names another role (``user_col=0`` on
      ``item,user``), and a column not given is the one header field named
      like its role (:obj:`COLUMN_NAMES`: ``user``, ``userId``, ``user_id``,
      ``uid``, ...; ``item``, ``movieId``, ``business_id``, ``artistID``,
      ``song``, ...; ``rating``, ``stars``, ``weight``, ``plays``,
      ``count``, ...). No such field, or two, for the user or the item (or
      two for the rating) is a :class:`DataFormatError` that lists the
      header; no rating field means implicit data.
    * Without a header, the user and item are columns ``0`` and ``1`` and
      the rating the third column when there is one.

    Args:
        path (str): The file (or the archive holding :obj:`member`).
        sep (str, optional): The field separator (may be several characters,
            such as ``'::'``); :obj:`None` splits on any whitespace.
        user_col, item_col (int or str, optional): Column indices (from
            ``0``), or header names; :obj:`None` finds them as above.
        rating_col (int or str, optional): The rating or play-count column;
            :obj:`None` finds it as above, ``-1`` reads implicit data.
        header (bool or str): Whether the first line is a header. ``'auto'``
            takes it as one when a column is given by name, when it names a
            known column (:obj:`COLUMN_NAMES`) and holds no number, or when
            its rating field (the given one, else the third) is not a
            number.
        encoding (str): The text encoding.
        member (str, optional): The file inside an archive at :obj:`path`.
    """
    name = f'{path}:{member}' if member else path
    users, items = _Vocabulary(), _Vocabulary()
    user_codes, item_codes, ratings = array('q'), array('q'), array('d')

    with _readable(name, encoding), open_text(path, member, encoding) as f:
        first = f.readline().lstrip('\ufeff')
        if not first.strip():
            raise DataFormatError(name, 'the file is empty')
        header, index = _layout(_fields(first, sep), name, user_col,
                                item_col, rating_col, header)
        user_col, item_col, rating_col = (index['user'], index['item'],
                                          index['rating'])
        start = 2 if header else 1
        lines = f if header else _chain(first, f)
        width = 1 + max(c for c in (user_col, item_col, rating_col)
                        if c is not None)

        for lineno, line in enumerate(lines, start=start):
            parts = line.rstrip('\r\n').split(sep)
            if len(parts) < width:
                if not line.strip():
                    continue
                raise DataFormatError(
                    name, f'expected at least {width} fields separated by '
                    f'{sep!r}, found {len(parts)}: {line.strip()!r}', lineno)
            user, item = parts[user_col].strip(), parts[item_col].strip()
            if not user or not item:
                raise DataFormatError(name, f'empty user or item id: '
                                      f'{line.strip()!r}', lineno)
            if rating_col is not None:
                try:
                    ratings.append(float(parts[rating_col]))
                except ValueError:
                    raise DataFormatError(
                        name, f'rating {parts[rating_col].strip()!r} is not '
                        f'a number', lineno) from None
            user_codes.append(users(user))
            item_codes.append(items(item))

    if len(user_codes) == 0:
        raise DataFormatError(name, 'the file holds no interactions')
    user, user_ids = users.finish(user_codes)
    item, item_ids = items.finish(item_codes)
    rating = (np.frombuffer(ratings, dtype=np.float64).copy()
              if rating_col is not None else None)
    return Interactions(user, item, user_ids, item_ids, rating)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _chain(first: str, rest: TextIO) -> Iterator[str]:
    yield first
    yield from rest


@contextmanager
def _readable(name: str, encoding: str) -> Iterator[None]:
    r"""Turns undecodable text and broken compression into a
    :class:`DataFormatError` naming the file."""
    try:
        yield
    except UnicodeDecodeError as e:
        raise DataFormatError(
            name, f'not {encoding} text ({e.reason}, byte '
            f'{bytes([e.object[e.start]])!r}); convert it to {encoding}') \
            from None
    except (gzip.BadGzipFile, EOFError, zipfile.BadZipFile,
            tarfile.TarError) as e:
        raise DataFormatError(name, f'cannot be decompressed: {e}') from None


def read_json_lines(
    path: str,
    user_key: str = 'user_id',
    item_key: str = 'business_id',
    rating_key: str = 'stars',
) -> Interactions:
    r"""Reads JSON-lines reviews, such as the Yelp academic data set's
    ``yelp_academic_dataset_review.json`` (keys ``user_id``, ``business_id``,
    ``stars``)."""
    users, items = _Vocabulary(), _Vocabulary()
    user_codes, item_codes, ratings = array('q'), array('q'), array('d')
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                user, item = record[user_key], record[item_key]
                rating = float(record[rating_key])
            except json.JSONDecodeError as e:
                raise DataFormatError(path, f'invalid JSON: {e.msg}',
                                      lineno) from None
            except KeyError as e:
                raise DataFormatError(path, f'missing key {e}', lineno) \
                    from None
            except (TypeError, ValueError):
                raise DataFormatError(
                    path, f'{rating_key} {record.get(rating_key)!r} is not a '
                    f'number', lineno) from None
            user_codes.append(users(str(user)))
            item_codes.append(items(str(item)))
            ratings.append(rating)
    if len(user_codes) == 0:
        raise DataFormatError(path, 'the file holds no interactions')
    user, user_ids = users.finish(user_codes)
    item, item_ids = items.finish(item_codes)
    return Interactions(user, item, user_ids, item_ids,
                        np.frombuffer(ratings, dtype=np.float64).copy())


def find_lightgcn_files(folder: str) -> Tuple[Optional[str], str, str]:
    r"""Locates ``train.txt`` and ``test.txt`` of a LightGCN-format data set
    in :obj:`folder`, directly, one folder down, or inside a ``.zip`` /
    ``.tar(.gz)`` archive there. Returns ``(archive, train, test)``, where
    :obj:`archive` is :obj:`None` for plain files and :obj:`train` /
    :obj:`test` are then paths, else member names. Raises
    :class:`FileNotFoundError` when they are absent."""
    for train in sorted(glob.glob(osp.join(folder, 'train.txt')) +
                        glob.glob(osp.join(folder, '*', 'train.txt'))):
        test = osp.join(osp.dirname(train), 'test.txt')
        if osp.exists(test):
            return None, train, test
    for archive in sorted(glob.glob(osp.join(folder, '*'))):
        if not archive.endswith(('.zip', '.tar', '.tar.gz', '.tgz')):
            continue
        names = archive_members(archive)
        for train in names:
            if osp.basename(train) == 'train.txt':
                test = osp.join(osp.dirname(train), 'test.txt')
                if test in names:
                    return archive, train, test
    raise FileNotFoundError(f'no train.txt and test.txt in {folder}')


def read_lightgcn(
    train: str,
    test: str,
    archive: Optional[str] = None,
    user_list: Optional[str] = None,
    item_list: Optional[str] = None,
) -> Interactions:
    r"""Reads a LightGCN-format split (Yelp2018, Gowalla, Amazon-book): one
    line per user, ``uid iid iid ...`` separated by whitespace, ``0``-based
    ids; a line may hold the user alone.

    Args:
        train, test (str): The two files, or their member names inside
            :obj:`archive`.
        archive (str, optional): A ``.zip`` or ``.tar(.gz)`` holding them.
        user_list, item_list (str, optional): ``user_list.txt`` /
            ``item_list.txt`` (header ``org_id remap_id``), which give the
            original ids for display.
    """
    user_codes, item_codes, fold = array('q'), array('q'), array('b')
    for name, code in ((train, TRAIN), (test, TEST)):
        label = f'{archive}:{name}' if archive else name
        with open_text(archive or name, name if archive else None) as f:
            for lineno, line in enumerate(f, start=1):
                tokens = line.split()
                if not tokens:
                    continue
                try:
                    ids = [int(t) for t in tokens]
                except ValueError:
                    bad = next(t for t in tokens if not _is_int(t))
                    raise DataFormatError(label, f'id {bad!r} is not an '
                                          f'integer', lineno) from None
                if min(ids) < 0:
                    raise DataFormatError(label, 'ids must be >= 0', lineno)
                user_codes.extend([ids[0]] * (len(ids) - 1))
                item_codes.extend(ids[1:])
                fold.extend([code] * (len(ids) - 1))
    if len(user_codes) == 0:
        raise DataFormatError(archive or train, 'no interactions in '
                              f'{train} and {test}')
    user = np.frombuffer(user_codes, dtype=np.int64).copy()
    item = np.frombuffer(item_codes, dtype=np.int64).copy()
    user_ids = _remap_ids(user_list, int(user.max()) + 1)
    item_ids = _remap_ids(item_list, int(item.max()) + 1)
    return Interactions(user, item, user_ids, item_ids,
                        fold=np.frombuffer(fold, dtype=np.int8).copy())


def _remap_ids(path: Optional[str], size: int) -> np.ndarray:
    r"""Original ids from a LightGCN ``org_id remap_id`` list; the remapped
    ids themselves where there is no list."""
    ids = np.arange(size).astype(str).astype(object)
    if path is not None and osp.exists(path):
        with open_text(path) as f:
            next(f, None)
            for lineno, line in enumerate(f, start=2):
                tokens = line.split()
                if len(tokens) < 2 or not _is_int(tokens[-1]):
                    raise DataFormatError(
                        path, 'expected "org_id remap_id"', lineno)
                remap = int(tokens[-1])
                if remap >= len(ids):
                    ids = np.concatenate(
                        [ids, np.arange(len(ids), remap + 1).astype(str)])
                ids[remap] = ' '.join(tokens[:-1])
    return ids.astype(str)


def read_names(path: str, sep: str, id_col: int, name_col: int,
               header: bool = False, encoding: str = 'utf-8',
               quoted: bool = False) -> Dict[str, str]:
    r"""Reads an id -> display name table (movie titles, artist names).
    Quoted CSV files (``movies.csv``) set :obj:`quoted`."""
    with open_text(path, encoding=encoding) as f:
        rows: Sequence = (csv.reader(f) if quoted else
                          (line.rstrip('\r\n').split(sep) for line in f))
        names = {}
        for lineno, row in enumerate(rows, start=1):
            if (header and lineno == 1) or not row or row == ['']:
                continue
            if len(row) <= max(id_col, name_col):
                raise DataFormatError(path, f'expected at least '
                                      f'{max(id_col, name_col) + 1} fields',
                                      lineno)
            names[row[id_col].strip()] = row[name_col].strip()
    return names
