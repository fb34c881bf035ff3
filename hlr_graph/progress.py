r"""Progress reports that stay readable in a log: a :mod:`tqdm` bar on a
terminal, plain timestamped lines when the stream is a file or a pipe."""
import sys
import time
from typing import Iterable, Iterator, Optional, TextIO, TypeVar

from tqdm import tqdm

T = TypeVar('T')


class Progress:
    r"""Counts work done towards :obj:`total` and shows it.

    On a terminal it draws a :class:`tqdm.tqdm` bar that disappears when
    done. Elsewhere (a log file, a pipe, CI) a bar's carriage returns would
    leave one long garbled line, so it writes a plain line such as
    ``ranking: 40% (12,000/30,000 users) 8.1s`` at most every
    :obj:`interval` seconds, and none for work that ends sooner.

    Args:
        total (int, optional): The amount of work, when known.
        desc (str): What is being done.
        unit (str): What is counted. (default: ``'it'``)
        enabled (bool): Show anything at all. (default: :obj:`True`)
        interval (float): Seconds between plain lines. (default: ``30``)
        file (TextIO, optional): The stream (default: :obj:`sys.stderr`).
    """
    def __init__(self, total: Optional[int] = None, desc: str = '',
                 unit: str = 'it', enabled: bool = True,
                 interval: float = 30.0, file: Optional[TextIO] = None):
        self.total, self.desc, self.unit = total, desc, unit
        self.enabled, self.interval = enabled, interval
        self.file = file or sys.stderr
        self.count, self.start = 0, time.perf_counter()
        self._last = self.start
        self._bar = None
        if enabled and _is_terminal(self.file):
            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=False,
                             mininterval=1.0, file=self.file)

    def update(self, n: int = 1, **postfix):
        r"""Adds :obj:`n` to the count; :obj:`postfix` (such as
        ``loss='0.41'``) is shown beside it."""
        self.count += n
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(n)
        elif self.enabled:
            now = time.perf_counter()
            if now - self._last >= self.interval:
                self._last = now
                self.file.write(self._line(now, postfix) + '\n')
                self.file.flush()

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _line(self, now: float, postfix) -> str:
        done = f'{self.count:,}'
        if self.total:
            done = (f'{100 * self.count / self.total:.0f}% ({done}/'
                    f'{self.total:,} {self.unit})')
        else:
            done = f'{done} {self.unit}'
        extra = ''.join(f' {k} {v}' for k, v in postfix.items())
        return f'{self.desc}: {done}{extra} {now - self.start:.1f}s'

    def __enter__(self) -> 'Progress':
        return self

    def __exit__(self, *exc):
        self.close()


def track(iterable: Iterable[T], desc: str = '', unit: str = 'it',
          enabled: bool = True, total: Optional[int] = None
          ) -> Iterator[T]:
    r"""Yields :obj:`iterable`'s items while a :class:`Progress` counts
    them (its length is the total when it has one)."""
    if total is None and hasattr(iterable, '__len__'):
        total = len(iterable)
    with Progress(total, desc, unit, enabled) as bar:
        for item in iterable:
            yield item
            bar.update()


def write(message: str, enabled: bool = True, file: Optional[TextIO] = None):
    r"""Prints a line of its own without breaking a bar being drawn."""
    if enabled:
        tqdm.write(message, file=file or sys.stdout)


def _is_terminal(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):
        return False
