"""`python -m warmstart` and the `warmstart` console script.

Usage:

  python -m warmstart inspect PATH [--json]
  python -m warmstart plan --from SRC [--map ...] (--model M:F | --target P)
  python -m warmstart merge SRC... --output DST [--map ...] [--overwrite]
      [--dry_run]

Every command takes `--json` (results, and errors, as JSON on stdout) and
`--verbose` (an error's traceback too). `python -m warmstart COMMAND --help`
describes each command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Optional

from warmstart import _cli


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Runs the command line; returns the exit status (0, 1 failure, 2 usage).

  Args:
    argv: The arguments after the program name (`sys.argv[1:]` when None).
  """
  return _cli.main(argv)


if __name__ == '__main__':
  sys.exit(main())
