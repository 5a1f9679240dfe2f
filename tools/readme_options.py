"""Rewrites the option table of docs/options.md from `warmstart.Options`.

Run from the repository root after adding or changing an option:

  .venv/bin/python tools/readme_options.py

The table sits between `<!-- options:begin` and `<!-- options:end -->` (the
name is older than the page: the table lived in README.md until the docs
site). `tests/readme_test.py` fails while the page's table differs from the
declaration.
"""

import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

from tests import readme_test  # pylint: disable=g-import-not-at-top,wrong-import-position

_BEGIN = '<!-- options:begin'
_END = '<!-- options:end -->'
_PAGE = _ROOT / 'docs' / 'options.md'


def main() -> None:
  text = _PAGE.read_text(encoding='utf-8')
  start = text.index('\n', text.index(_BEGIN)) + 1
  end = text.index(_END)
  # The test's own rendering: `<` and `>` as entities outside code spans.
  _PAGE.write_text(
      text[:start] + readme_test.escaped_table() + '\n' + text[end:],
      encoding='utf-8')


if __name__ == '__main__':
  main()
