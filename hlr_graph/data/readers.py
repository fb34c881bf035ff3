r"""Readers of the raw interaction formats.

Each reader returns :class:`~hlr_graph.data.interactions.Interactions` with the
original ids kept, and raises :class:`DataFormatError` naming the file and line
of the first row it cannot read.
"""
import codecs
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
    code_dtype,
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
        dtype = code_dtype(len(ids))
        codes = np.frombuffer(codes, dtype=np.int64).astype(dtype)
        if len(ids) and all(_is_int(t) for t in ids):
            order = np.argsort([int(t) for t in ids], kind='stable')
            rank = np.empty(len(order), dtype=dtype)
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
    fast: bool = True,
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
        fast (bool): Read a plain or gzip file with
            :func:`read_table_chunked` (vectorised, in chunks), which gives
            the same result and hands anything unusual back to the
            line-by-line parser; :obj:`False` always takes the latter.
            (default: :obj:`True`)
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
        if fast and member is None:
            data = read_table_chunked(path, sep, user_col, item_col,
                                      rating_col, header, encoding)
            if data is not None:
                return data
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


# Chunked reading ############################################################

CHUNK_BYTES = 1 << 23
r"""Bytes :func:`read_table_chunked` parses at once (8 MiB)."""

_MAX_WIDTH = 128  # Longest id or rating field of the vectorised path.
_MAX_DIGITS = 15  # Ratings with more significant digits go line by line.
_POWERS_OF_TEN = np.array([float(10 ** k) for k in range(_MAX_DIGITS + 1)])


class _Unusual(Exception):
    r"""Something the vectorised reader leaves to the line-by-line one."""


def read_table_chunked(
    path: str,
    sep: Optional[str],
    user_col: int,
    item_col: int,
    rating_col: Optional[int],
    header: bool,
    encoding: str = 'utf-8',
    chunk_bytes: int = CHUNK_BYTES,
) -> Optional[Interactions]:
    r"""Reads a plain (or gzip) delimited file in chunks of
    :obj:`chunk_bytes` with vectorised :mod:`numpy` operations, with the
    columns settled already (indices, as :func:`read_table` settles them),
    and returns exactly what :func:`read_table`'s line-by-line parser
    returns, or :obj:`None` for the files it leaves to that parser.

    The fast case is the common one: ASCII text, a given separator (not
    :obj:`None`), ``\n`` or ``\r\n`` line ends, ids without surrounding
    whitespace or quotes, ratings written as plain decimals (``4``,
    ``-1.5``, ``.5``) of at most 15 digits, and blank lines anywhere. Ids
    that are all integers written plainly (``0``, ``-3``, ``42``) are parsed
    as numbers and ordered by value; other ids are kept as byte strings and
    ordered by first appearance, as the line-by-line parser orders them.
    Anything else (a quote, a non-ASCII or NUL byte, a lone ``\r``,
    whitespace at either end of a field, a short or malformed line, a
    rating such as ``1e3``, integer ids written as ``007`` among integers)
    returns :obj:`None`, and :func:`read_table` reads the file line by line
    (which names the line of an error).

    Memory: one chunk of temporaries, plus ``4`` bytes per row and id
    column (``int32`` codes) and ``8`` per rating.

    Args:
        path (str): The file (``.gz``: gzip-compressed).
        sep (str, optional): The separator; :obj:`None` (any whitespace)
            returns :obj:`None`.
        user_col, item_col (int): 0-based column indices.
        rating_col (int, optional): The rating column, :obj:`None` for
            implicit data.
        header (bool): Whether the first line is a header (skipped).
        encoding (str): The file's encoding; ASCII-compatible ones only.
        chunk_bytes (int): Bytes parsed at once.
    """
    if not sep or not sep.isascii() or '\r' in sep or '\n' in sep or \
            codecs.lookup(encoding).name not in ('utf-8', 'ascii'):
        return None
    columns = [user_col, item_col] + ([rating_col] if rating_col is not None
                                      else [])
    ids = [_IdColumn(), _IdColumn()]
    ratings: List[np.ndarray] = []
    opener = gzip.open if path.endswith('.gz') else open
    rows = 0
    try:
        with _readable(path, encoding), opener(path, 'rb') as f:
            for chunk in _byte_chunks(f, header, chunk_bytes):
                chunk, fields = _split_fields(chunk, sep.encode(), columns)
                if fields is None:
                    continue
                for column, (start, length) in zip(ids, fields[:2]):
                    column.add(chunk, start, length, rows)
                if rating_col is not None:
                    ratings.append(_parse_decimals(chunk, *fields[2]))
                rows += len(fields[0][0])
        if rows == 0:
            return None
        (user, user_ids), (item, item_ids) = (c.finish() for c in ids)
    except _Unusual:
        return None
    rating = np.concatenate(ratings) if rating_col is not None else None
    return Interactions(user, item, user_ids, item_ids, rating)


def _byte_chunks(f, header: bool, size: int) -> Iterator[bytes]:
    r"""Whole lines of a binary file, about :obj:`size` bytes at a time,
    each chunk ending in ``\n``; without the header line and the UTF-8
    byte-order mark."""
    if header:
        f.readline()
    rest = b''
    first = not header
    while True:
        block = f.read(size)
        if first:
            block = block[3:] if block.startswith(codecs.BOM_UTF8) else block
            first = False
        if not block:
            if rest:
                yield rest + b'\n'
            return
        block = rest + block
        end = block.rfind(b'\n')
        if end < 0:
            rest = block
            continue
        rest = block[end + 1:]
        yield block[:end + 1]


def _split_fields(chunk: bytes, sep: bytes, columns: List[int]
                  ) -> Tuple[bytes, Optional[List[Tuple[np.ndarray,
                                                       np.ndarray]]]]:
    r"""The chunk (with a multi-byte separator made one ``NUL`` byte) and
    the ``[(start, length)]`` ``int64`` byte offsets into it of each of
    :obj:`columns` in every non-blank line, or :obj:`None` when every line
    is blank. Raises :class:`_Unusual` for what the line-by-line parser must
    read."""
    if b'\x00' in chunk:
        raise _Unusual
    if len(sep) > 1:  # str.split and bytes.replace agree, left to right.
        chunk = chunk.replace(sep, b'\x00')
        sep = b'\x00'
    if b'"' in chunk:
        raise _Unusual
    a = np.frombuffer(chunk, dtype=np.uint8)
    if (a >= 0x80).any():
        raise _Unusual
    newline = np.flatnonzero(a == 0x0A)
    start = np.empty_like(newline)
    start[:1] = 0
    start[1:] = newline[:-1] + 1
    end = newline.copy()
    carriage = np.flatnonzero(a == 0x0D)
    if carriage.size:
        if (a[carriage + 1] != 0x0A).any():  # A lone \r ends a line too.
            raise _Unusual
        end[np.searchsorted(newline, carriage)] -= 1
    blank = end == start
    seps = np.flatnonzero(a == sep[0])
    line = np.searchsorted(newline, seps)
    count = np.bincount(line, minlength=len(newline))
    width = max(columns) + 1
    if (count[~blank] < width - 1).any():
        raise _Unusual  # A short line: an error, or blank with spaces.
    keep = np.flatnonzero(~blank)
    if keep.size == 0:
        return chunk, None
    first_sep = (np.cumsum(count) - count)[keep]
    out = []
    for column in columns:
        lo = start[keep] if column == 0 else seps[first_sep + column - 1] + 1
        last = column >= count[keep]
        hi = np.where(last, end[keep],
                      seps[np.minimum(first_sep + column, len(seps) - 1)]
                      if len(seps) else 0)
        length = hi - lo
        if (length <= 0).any() or (length > _MAX_WIDTH).any():
            raise _Unusual
        out.append((lo, length))
    return chunk, out


def _field_bytes(chunk: bytes, start: np.ndarray, length: np.ndarray
                 ) -> Tuple[np.ndarray, np.ndarray]:
    r"""``[n, w]`` ``uint8`` bytes of each field, zero-padded, and the mask
    of the bytes inside it (``w``: the longest field)."""
    a = np.frombuffer(chunk, dtype=np.uint8)
    width = int(length.max())
    out = np.zeros((len(start), width), dtype=np.uint8)
    inside = np.arange(width) < length[:, None]
    for j in range(width):  # One column of bytes at a time: n bytes each.
        rows = inside[:, j]
        out[rows, j] = a[start[rows] + j]
    last = out[np.arange(len(out)), length - 1]
    if (out[:, 0] <= 0x20).any() or (last <= 0x20).any():
        raise _Unusual  # Whitespace around a field, which str.strip drops.
    return out, inside


class _IdColumn:
    r"""The ids of one column over the chunks: each chunk's distinct ids
    (``int64`` while every id is a plain integer, else bytes), their first
    rows, and the chunk's codes into them."""
    def __init__(self):
        self.distinct: List[np.ndarray] = []
        self.first: List[np.ndarray] = []
        self.codes: List[np.ndarray] = []
        self.integers = True  # Every id so far a plain integer.
        self.int_like = True  # Every id so far an integer to _is_int.

    def add(self, chunk: bytes, start: np.ndarray, length: np.ndarray,
            offset: int):
        tokens, inside = _field_bytes(chunk, start, length)
        digit = (tokens >= 0x30) & (tokens <= 0x39)
        dash = tokens == 0x2D
        dashes = np.argmin(dash | ~inside, axis=1)  # The leading '-' run.
        past = inside & (np.arange(tokens.shape[1]) >= dashes[:, None])
        int_like = past.any(1) & ~(past & ~digit).any(1)
        plain = (int_like & (dashes <= 1) & (length - dashes <= 18) & ~(
            (tokens[np.arange(len(tokens)), dashes] == 0x30)
            & ((length - dashes > 1) | (dashes == 1))))
        self.int_like &= bool(int_like.all())
        if self.integers and plain.all():
            values = np.zeros(len(tokens), dtype=np.int64)
            for j in range(tokens.shape[1]):
                step = digit[:, j]
                values[step] = values[step] * 10 + (tokens[step, j] - 0x30)
            values[dashes == 1] *= -1
        else:
            self._to_bytes()
            values = np.ascontiguousarray(tokens).view(
                f'S{tokens.shape[1]}').ravel()
        distinct, first, codes = np.unique(values, return_index=True,
                                           return_inverse=True)
        self.distinct.append(distinct)
        self.first.append(first + offset)
        self.codes.append(codes.astype(np.int32))

    def _to_bytes(self):
        if self.integers:
            self.integers = False
            self.distinct = [d.astype(f'S{_digits(d)}')
                             for d in self.distinct]

    def finish(self) -> Tuple[np.ndarray, np.ndarray]:
        r"""``(codes, ids)`` as :meth:`_Vocabulary.finish` gives them."""
        if not self.integers and self.int_like:
            raise _Unusual  # Integers such as '007': ordered by value.
        values = np.concatenate(self.distinct)
        first = np.concatenate(self.first)
        order = np.lexsort((first, values))
        values, first = values[order], first[order]
        new = np.empty(len(values), dtype=bool)
        new[:1] = True
        np.not_equal(values[1:], values[:-1], out=new[1:])
        values, first = values[new], first[new]
        dtype = code_dtype(len(values))
        if self.integers:
            rank = np.arange(len(values), dtype=dtype)  # By value.
            ids = values.astype(f'U{_digits(values)}')
        else:
            appearance = np.argsort(first, kind='stable')
            rank = np.empty(len(values), dtype=dtype)
            rank[appearance] = np.arange(len(values))
            ids = values[appearance].astype(
                f'U{values.dtype.itemsize}')
        codes = np.empty(sum(len(c) for c in self.codes), dtype=dtype)
        filled = 0
        for distinct, local in zip(self.distinct, self.codes):
            where = rank[np.searchsorted(values, distinct)]
            codes[filled:filled + len(local)] = where[local]
            filled += len(local)
        self.distinct = self.codes = []
        return codes, ids


def _digits(values: np.ndarray) -> int:
    r"""The longest decimal text of the integers :obj:`values`."""
    return max(len(str(values.min())), len(str(values.max()))) \
        if len(values) else 1


def _parse_decimals(chunk: bytes, start: np.ndarray,
                    length: np.ndarray) -> np.ndarray:
    r"""``[n]`` float64 values of plain decimal fields (``-12.50``,
    ``.5``, ``3.``), exactly as :func:`float` reads them: the integer of at
    most 15 digits divided by a power of ten, both exact doubles, so that
    IEEE division rounds as :func:`float` does."""
    tokens, inside = _field_bytes(chunk, start, length)
    digit = (tokens >= 0x30) & (tokens <= 0x39)
    minus = tokens[:, 0] == 0x2D
    point = tokens == 0x2E
    body = inside.copy()
    body[:, 0] &= ~minus
    if ((body & ~digit & ~point).any() or (point.sum(1) > 1).any()
            or not (body & digit).any(1).all()
            or (digit.sum(1) > _MAX_DIGITS).any()):
        raise _Unusual
    mantissa = np.zeros(len(tokens), dtype=np.int64)
    decimals = np.zeros(len(tokens), dtype=np.int64)
    after = np.zeros(len(tokens), dtype=bool)
    for j in range(tokens.shape[1]):
        step = digit[:, j]
        mantissa[step] = mantissa[step] * 10 + (tokens[step, j] - 0x30)
        decimals += step & after
        after |= point[:, j]
    value = mantissa / _POWERS_OF_TEN[decimals]
    value[minus] = -value[minus]
    return value


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
