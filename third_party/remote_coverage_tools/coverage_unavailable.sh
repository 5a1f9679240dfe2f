#!/bin/sh
# Offline stand-in for Bazel's remote coverage tools: see third_party/README.md.
echo "coverage is unavailable offline: @remote_coverage_tools is a stub" \
  "(third_party/remote_coverage_tools): bazel coverage is not supported here." >&2
exit 1
