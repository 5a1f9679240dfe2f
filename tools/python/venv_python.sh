#!/bin/sh
# Python interpreter for Bazel: runs the project's venv (<root>/.venv).
#
# Bazel's py_runtime points here (tools/python/BUILD). Inside runfiles and the
# sandbox this file is a symlink back into the source tree, so resolve it first:
# the workspace root is two levels above the real file. No absolute paths, so
# any clone location works.
set -eu
self="$(readlink -f "$0")"
root="$(dirname "$(dirname "$(dirname "$self")")")"
python="$root/.venv/bin/python3"
if [ ! -x "$python" ]; then
  echo "warmstart: no Python venv at $root/.venv (Bazel runs tests with it)." >&2
  echo "warmstart: create it first: (cd $root && make venv)" >&2
  exit 127
fi
exec "$python" "$@"
