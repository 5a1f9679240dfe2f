"""Keeps README.md true: its option table, flags and CLI options.

The option table is generated from `warmstart.Options` (`markdown_table`);
every `--flag` the README's flag and command-line sections name must be
defined by `warmstart.flags.define_flags` or accepted by the CLI command it is
shown with.
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


def _readme() -> str:
  srcdir = os.environ.get('TEST_SRCDIR')
  candidates = []
  if srcdir:
    candidates.append(pathlib.Path(srcdir) /
                      os.environ.get('TEST_WORKSPACE', 'warmstart') /
                      'README.md')
  candidates.append(pathlib.Path(__file__).resolve().parent.parent /
                    'README.md')
  for path in candidates:
    if path.is_file():
      return path.read_text(encoding='utf-8')
  raise FileNotFoundError('README.md not found in %s' % candidates)


def _section(text: str, heading: str) -> str:
  """The text of the section under `heading`, up to the next heading."""
  start = text.index(heading)
  # '## ' or '### ': a shell comment in a code block is '# '.
  match = re.compile(r'^#{2,3} ', re.MULTILINE).search(text,
                                                       start + len(heading))
  return text[start:match.start() if match else len(text)]


def _options_of(parser: argparse.ArgumentParser) -> set[str]:
  return {s for action in parser._actions for s in action.option_strings}  # pylint: disable=protected-access


def _subparsers() -> dict[str, argparse.ArgumentParser]:
  parser = _cli._parser()  # pylint: disable=protected-access
  for action in parser._actions:  # pylint: disable=protected-access
    if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
      return dict(action.choices)
  raise AssertionError('The CLI has no commands.')


class ReadmeTest(absltest.TestCase):

  def test_option_table_is_generated_from_the_declaration(self):
    text = _readme()
    self.assertIn(_BEGIN, text)
    start = text.index('\n', text.index(_BEGIN)) + 1
    table = text[start:text.index(_END)].strip()
    self.assertEqual(
        _options.markdown_table(), table,
        'The README option table is stale: run tools/readme_options.py.')

  def test_every_option_is_in_the_table(self):
    text = _readme()
    for declaration in _options.DECLARATIONS:
      self.assertIn('`%s`' % declaration.name, text)
      self.assertIn('`--%s`' % declaration.flag, text)

  def test_flags_the_readme_names_are_defined(self):
    flag_values = flags.FlagValues()
    ws_flags.define_flags(flag_values)
    section = _section(_readme(), '### absl flags')
    named = set(re.findall(r'--(warm_start_[a-z_]+)', section))
    self.assertTrue(named)
    named.discard('warm_start_')  # The `--warm_start_<option>` pattern.
    for name in sorted(named):
      self.assertIn(name, flag_values, '--%s is in the README' % name)

  def test_cli_options_the_readme_names_exist(self):
    commands = _subparsers()
    section = _section(_readme(), '### Command line')
    # Each `python -m warmstart COMMAND ...` line (with continuations).
    for match in re.finditer(
        r'python -m warmstart (\w+)((?:[^\n]*\\\n)*[^\n]*)', section):
      command, rest = match.group(1), match.group(2)
      self.assertIn(command, commands)
      known = _options_of(commands[command])
      for option in re.findall(r'(?<![\w-])(--[a-z_]+)', rest):
        self.assertIn(option, known,
                      'README: %s %s' % (command, option))
    # The prose names options of plan and merge.
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
