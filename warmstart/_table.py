"""Fixed-width text tables, as the plan, inspect and merge print them."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(rows: Sequence[Sequence[str]],
                 right_aligned: Sequence[int] = ()) -> list[str]:
  """Returns the lines of a table: header, a rule of dashes, then the rows.

  Args:
    rows: The header row first; every row has the same number of cells.
    right_aligned: Indices of columns aligned right (numbers).

  Returns:
    One string per line, trailing blanks removed.
  """
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  lines = []
  for row in rows:
    cells = [cell.rjust(w) if i in right_aligned else cell.ljust(w)
             for i, (cell, w) in enumerate(zip(row, widths))]
    lines.append('  '.join(cells).rstrip())
  lines.insert(1, '  '.join('-' * w for w in widths))
  return lines


def format_shape(dims: Sequence[object]) -> str:
  """'[10000,64]'; an unknown dimension (None) is shown as '?'."""
  return '[' + ','.join('?' if d is None else str(d) for d in dims) + ']'


def format_bytes(num_bytes: int) -> str:
  """Returns a size for people: '812 B', '3.1 KiB', '2.0 GiB'."""
  if num_bytes < 1024:
    return '%d B' % num_bytes
  size = float(num_bytes)
  for unit in ('KiB', 'MiB', 'GiB'):
    size /= 1024
    if size < 1024:
      return '%.1f %s' % (size, unit)
  return '%.1f TiB' % (size / 1024)
