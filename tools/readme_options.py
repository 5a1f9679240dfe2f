"""Rewrites the option table of README.md from `warmstart.Options`.

Run from the repository root after adding or changing an option:

  .venv/bin/python tools/readme_options.py

`tests/readme_test.py` fails while the README's table differs from the
declaration.
"""

import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

from warmstart import _options  # pylint: disable=g-import-not-at-top,wrong-import-position

_BEGIN = '<!-- options:begin'
_END = '<!-- options:end -->'


def main() -> None:
  path = _ROOT / 'README.md'
  text = path.read_text(encoding='utf-8')
  start = text.index('\n', text.index(_BEGIN)) + 1
  end = text.index(_END)
  path.write_text(text[:start] + _options.markdown_table() + '\n' + text[end:],
                  encoding='utf-8')


if __name__ == '__main__':
  main()
