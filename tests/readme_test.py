"""Keeps the docs true to the code: the option table, flags and CLI options.

The option table of docs/options.md is generated from `warmstart.Options`
(`markdown_table`, by tools/readme_options.py); every `--warm_start_*` flag
that README.md or a page of docs/ names must be defined by
`warmstart.flags.define_flags`, and every `python -m warmstart COMMAND ...`
line must use options that command takes.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re

from absl import flags
from absl.testing import absltest

from warmstart import _cli
from warmstart import _options
from warmstart import flags as ws_flags

_BEGIN = '<!-- options:begin'
_END = '<!-- options:end -->'
#: Where the generated option table lives, and the pages of flags and CLI.
_OPTIONS_PAGE = 'docs/options.md'
_FLAGS_PAGE = 'docs/guides/flags.md'
_CLI_PAGE = 'docs/guides/cli.md'


def _root() -> pathlib.Path:
  srcdir = os.environ.get('TEST_SRCDIR')
  if srcdir:
    root = pathlib.Path(srcdir) / os.environ.get('TEST_WORKSPACE', 'warmstart')
    if (root / _OPTIONS_PAGE).is_file():
      return root
  return pathlib.Path(__file__).resolve().parent.parent


def _read(page: str) -> str:
  return (_root() / page).read_text(encoding='utf-8')


def _pages() -> dict[str, str]:
  """README.md and every page of docs/: {path: text}."""
  root = _root()
  paths = ['README.md'] + sorted(p.relative_to(root).as_posix()
                                 for p in (root / 'docs').rglob('*.md'))
  return {path: _read(path) for path in paths}


def escaped_table() -> str:
  """`_options.markdown_table()` with `<` and `>` outside code spans as HTML
  entities: a bare `<tensor>` is an HTML tag to Markdown, shown as nothing.
  (tools/readme_options.py writes the same.)"""
  parts = _options.markdown_table().split('`')
  parts[::2] = [p.replace('<', '&lt;').replace('>', '&gt;')
                for p in parts[::2]]
  return '`'.join(parts)


def _options_of(parser: argparse.ArgumentParser) -> set[str]:
  return {s for action in parser._actions for s in action.option_strings}  # pylint: disable=protected-access


def _subparsers() -> dict[str, argparse.ArgumentParser]:
  parser = _cli._parser()  # pylint: disable=protected-access
  for action in parser._actions:  # pylint: disable=protected-access
    if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
      return dict(action.choices)
  raise AssertionError('The CLI has no commands.')


class OptionTableTest(absltest.TestCase):

  def test_option_table_is_generated_from_the_declaration(self):
    text = _read(_OPTIONS_PAGE)
    self.assertIn(_BEGIN, text)
    start = text.index('\n', text.index(_BEGIN)) + 1
    table = text[start:text.index(_END)].strip()
    self.assertEqual(
        escaped_table(), table,
        '%s: the option table is stale: run tools/readme_options.py.' %
        _OPTIONS_PAGE)

  def test_the_table_is_the_only_one(self):
    for path, text in _pages().items():
      if path != _OPTIONS_PAGE:
        self.assertNotRegex(text, '(?m)^' + re.escape(_BEGIN), path)

  def test_every_option_is_in_the_table(self):
    text = _read(_OPTIONS_PAGE)
    for declaration in _options.DECLARATIONS:
      if declaration.deprecated:
        continue  # Aliases that keep working, out of the table.
      self.assertIn('`%s`' % declaration.name, text)
      self.assertIn('`--%s`' % declaration.flag, text)

  def test_no_html_tag_hides_text(self):
    self.assertNotRegex(escaped_table(), r'(?<!`)<[a-z]+>')


class FlagsTest(absltest.TestCase):

  def test_the_flags_page_names_the_flags(self):
    named = set(re.findall(r'--(warm_start_[a-z_]+)', _read(_FLAGS_PAGE)))
    for name in ('warm_start_from', 'warm_start_map', 'warm_start_vars',
                 'warm_start_exclude'):
      self.assertIn(name, named)

  def test_flags_the_docs_name_are_defined(self):
    flag_values = flags.FlagValues()
    ws_flags.define_flags(flag_values)
    for path, text in _pages().items():
      named = set(re.findall(r'--(warm_start_[a-z_]+)', text))
      named.discard('warm_start_')  # The `--warm_start_<option>` pattern.
      for name in sorted(named):
        self.assertIn(name, flag_values, '--%s is in %s' % (name, path))


class CommandLineTest(absltest.TestCase):

  def test_cli_options_the_docs_name_exist(self):
    commands = _subparsers()
    seen = 0
    for path, text in _pages().items():
      # Each `python -m warmstart COMMAND ...` line (with continuations).
      for match in re.finditer(
          r'python -m warmstart (\w+)((?:[^\n]*\\\n)*[^\n]*)', text):
        command, rest = match.group(1), match.group(2)
        if command == 'COMMAND':
          continue
        seen += 1
        self.assertIn(command, commands, path)
        known = _options_of(commands[command])
        for option in re.findall(r'(?<![\w-])(--[a-z_]+)', rest):
          self.assertIn(option, known, '%s: %s %s' % (path, command, option))
    self.assertGreater(seen, 5)

  def test_the_cli_page_prose_names_options_that_exist(self):
    commands = _subparsers()
    section = _read(_CLI_PAGE)
    prose = section[section.index('`plan` takes'):]
    prose = prose[:prose.index('Exit status')]
    plan_part, merge_part = prose.split('`merge` takes')
    for option in re.findall(r'`(--[a-z_]+)`', plan_part):
      self.assertIn(option, _options_of(commands['plan']), option)
    for option in re.findall(r'`(--[a-z_]+)`', merge_part):
      self.assertIn(option, _options_of(commands['merge']), option)

  def test_plan_takes_every_option(self):
    plan = _options_of(_subparsers()['plan'])
    for declaration in _options.DECLARATIONS:
      self.assertIn('--' + declaration.name, plan)
      self.assertIn('--' + declaration.flag, plan)

  def test_merge_takes_the_options_that_apply(self):
    merge = _options_of(_subparsers()['merge'])
    for declaration in _options.DECLARATIONS:
      if declaration.merge:
        self.assertIn('--' + declaration.name, merge)
      else:
        self.assertNotIn('--' + declaration.name, merge)


if __name__ == '__main__':
  absltest.main()
