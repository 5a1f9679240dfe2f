"""The command line: `python -m warmstart {inspect,plan,merge} ...`.

* `inspect PATH`: the tensors of a checkpoint (prefix, directory or
  SavedModel), with shapes, dtypes and sizes.
* `plan`: a dry run of a warm start against a target model, given by
  `--model MODULE:FUNCTION` (a function that builds the graph) or
  `--target PATH` (the target's meta graph, or its checkpoint's variables).
  It takes the options of `warmstart.flags`, under the same names.
* `merge SRC... --output DST`: one new checkpoint holding the tensors of
  several checkpoints, renamed per source; inputs are never modified.

Exit status: 0 on success, 1 when the warm start would fail or the merge
(or reading a checkpoint) fails, 2 for a usage error. Errors are one line on
stderr, without traceback (`--verbose` adds the traceback); an unknown option
is named with the closest valid one ("Did you mean"). `--json` prints
machine-readable results on stdout, and an error as `ERROR_JSON` describes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import inspect
import json
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any, Callable, Optional

import tensorflow as tf
from absl import flags
from absl import logging

from warmstart import _errors
from warmstart import _inspect
from warmstart import _map_syntax
from warmstart import _merge
from warmstart import _options
from warmstart import _plan
from warmstart import _planning
from warmstart import _settings
from warmstart import _sources
from warmstart import _warm_start

PROG = 'warmstart'

#: What `--json` prints on stdout when a command fails (the one-line error is
#: on stderr too). A failing `plan` prints its plan JSON with this `error`.
ERROR_JSON = (
    'On an error, --json prints {"ok": false, "error": {"type": the '
    'error\'s class (e.g. "CheckpointNotFoundError", "UsageError"), '
    '"message": the one-line message, "exit_status": 1 or 2}} on stdout.')

#: The exit status of each kind of failure.
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(Exception):
  """A bad command line: exit status 2."""


class _Parser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are one line and do not exit."""

  def __init__(self, *args, **kwargs):
    kwargs.setdefault('allow_abbrev', False)  # --ex is no --exclude.
    super().__init__(*args, **kwargs)
    #: {command name: its parser}, for the parser of the whole program.
    self.commands: dict[str, argparse.ArgumentParser] = {}

  def error(self, message: str):
    raise UsageError('%s (see %s --help)' % (message, self.prog))

  def option_names(self, aliases: bool = True) -> list[str]:
    """The option strings this parser takes ('--output', '-o', ...).

    Args:
      aliases: Also each option's other names; else its first long name.
    """
    names = []
    # argparse has no public listing; `_actions` is stable since Python 2.7.
    for action in self._actions:  # pylint: disable=protected-access
      if aliases:
        names.extend(action.option_strings)
      else:
        names.extend([o for o in action.option_strings
                      if o.startswith('--')][:1])
    return names


def _add_options(parser: argparse.ArgumentParser,
                 declarations: Sequence[_options.Declaration]) -> None:
  """One option per declaration: `--NAME` and its flag's name as an alias."""
  for d in declarations:
    names = ('--' + d.name, '--' + d.flag)
    if d.kind == _options.BOOL:
      parser.add_argument(*names, dest=d.name, action='store_true',
                          help=d.help)
    elif d.kind == _options.CHOICE:
      parser.add_argument(*names, dest=d.name, choices=d.choices,
                          default=d.default,
                          help='%s Default: %s.' % (d.help, d.default))
    elif d.kind == _options.PATH:
      parser.add_argument(*names, dest=d.name, default=d.default,
                          metavar='DIR', help=d.help)
    elif d.kind == _options.STEP:
      parser.add_argument(*names, dest=d.name, default=d.default,
                          type=_step, metavar='reset|keep|N',
                          help='%s Default: %s.' % (d.help, d.default))
    else:
      parser.add_argument(*names, dest=d.name, type=_positive_int,
                          default=d.default, metavar='BYTES',
                          help='%s Default: %d.' % (d.help, d.default))


def _step(text: str) -> Any:
  """A `global_step` value: a step number as an int, else the word."""
  return int(text) if text.strip().isdigit() else text


def _positive_int(text: str) -> int:
  try:
    value = int(text)
  except ValueError:
    value = 0
  if value <= 0:
    raise argparse.ArgumentTypeError('must be a positive int, got %r' % text)
  return value


def _add_selection_options(parser: argparse.ArgumentParser) -> None:
  """The selection flags of `warmstart.flags` and every option.

  Each under its flag's name and a short alias (`--from`, `--map`, ...).
  """
  parser.add_argument(
      '--from', '--' + _map_syntax.FROM, dest='sources', action='append',
      required=True, metavar='PATH',
      help='Source checkpoint prefix, checkpoint directory or SavedModel '
      'directory. Repeat for several sources (0, 1, ... in order).')
  parser.add_argument(
      '--map', '--' + _map_syntax.MAP, dest='map', action='append',
      default=[], metavar='ENTRY',
      help='Map entry %s, as an init_from_checkpoint assignment map entry '
      '(scopes end with "/"); per-tensor transforms: %s. Repeatable.' %
      (_map_syntax.MAP_SYNTAX, _map_syntax.TRANSFORM_SYNTAX))
  parser.add_argument(
      '--map_file', '--' + _map_syntax.MAP_FILE, dest='map_file',
      metavar='JSON', help='A JSON list of map entries (strings as --map '
      'takes, or {"key", "value", "source", "ops"} objects), for long maps; '
      'added to the --map entries.')
  parser.add_argument(
      '--vars', '--' + _map_syntax.VARS, dest='vars',
      default=_map_syntax.DEFAULT_VARS, metavar='REGEX',
      help='Regex (re.match) of the variables to warm-start from sources '
      'without map entries (default: every trainable variable).')
  parser.add_argument(
      '--exclude', '--' + _map_syntax.EXCLUDE, dest='exclude',
      action='append', default=[], metavar='REGEX',
      help='Regex (re.match) of variables not to warm-start. Repeatable.')
  _add_options(parser, _options.DECLARATIONS)


def _given_options(args: argparse.Namespace,
                   declarations: Sequence[_options.Declaration]
                  ) -> dict[str, Any]:
  return {d.name: getattr(args, d.name) for d in declarations}


#: The options `merge` takes (those that say how merge applies them).
_MERGE_OPTIONS = tuple(d for d in _options.DECLARATIONS if d.merge)


def _add_verbose(parser: argparse.ArgumentParser, dest: str) -> None:
  parser.add_argument(
      '--verbose', dest=dest, action='store_true',
      help='On an error, also print its traceback on stderr.')


def _command(commands: Any, name: str, run: Callable[[argparse.Namespace],
                                                    int],
             help_text: str, description: str) -> argparse.ArgumentParser:
  """Adds the command `name`, which `run` runs.

  Every command has --json and --verbose.
  """
  parser = commands.add_parser(name, help=help_text, description=description)
  parser.add_argument('--json', action='store_true',
                      help='Print JSON on stdout. %s' % ERROR_JSON)
  _add_verbose(parser, 'verbose')
  parser.set_defaults(run=run)
  return parser


def _parser() -> argparse.ArgumentParser:
  parser = _Parser(
      prog=PROG,
      description='Inspect checkpoints, dry-run warm starts, merge '
      'checkpoints.')
  parser.add_argument('-q', '--quiet', action='store_true',
                      help='Log warnings and errors only (no progress).')
  _add_verbose(parser, 'verbose_before_command')
  commands = parser.add_subparsers(dest='command', metavar='COMMAND',
                                   parser_class=_Parser)
  commands.required = True
  parser.commands = commands.choices

  inspect = _command(
      commands, 'inspect', _run_inspect, 'List the tensors of a checkpoint.',
      'List the tensors of a checkpoint prefix, checkpoint directory (its '
      'latest checkpoint) or SavedModel directory.')
  inspect.add_argument('path', metavar='PATH')
  inspect.add_argument('--match', metavar='REGEX',
                       help='Only tensors whose name this regex matches '
                       'anywhere (re.search).')

  plan = _command(
      commands, 'plan', _run_plan,
      'Dry-run a warm start against a target model.',
      'Print what a warm start would restore from where, what it would skip '
      'and why, and every problem. Exit status 1 when it would fail.')
  _add_selection_options(plan)
  target = plan.add_mutually_exclusive_group(required=True)
  target.add_argument(
      '--model', metavar='MODULE:FUNCTION',
      help='A function (no arguments) that builds the target graph; the '
      'current directory is on the import path.')
  target.add_argument(
      '--target', metavar='PATH',
      help='The target as a .meta graph file, or a checkpoint whose .meta '
      'graph is imported; without one, its variables are made from the '
      'checkpoint\'s shapes and dtypes.')

  merge = _command(
      commands, 'merge', _run_merge,
      'Merge checkpoints into one new checkpoint.',
      'Write one new checkpoint holding the tensors of several checkpoints, '
      'renamed per source. The inputs are never modified; the output appears '
      'atomically.')
  merge.add_argument('sources', nargs='+', metavar='SRC',
                     help='Source checkpoints (0, 1, ... in order).')
  merge.add_argument('--output', '-o', required=True, metavar='DST',
                     help='The output checkpoint prefix.')
  merge.add_argument(
      '--map', action='append', default=[], metavar='ENTRY',
      help='Rename %s: "enc/=teacher/enc/" renames a scope, "/=teacher/" puts '
      'a whole source under a scope, "w=v" one tensor; new tensors from '
      'transforms: %s. SOURCE_INDEX is needed with several sources. '
      'Repeatable.' % (_map_syntax.MAP_SYNTAX.replace(
          'VAR_NAME_OR_SCOPE', 'NEW_NAME_OR_SCOPE'),
                       _map_syntax.TRANSFORM_SYNTAX))
  merge.add_argument(
      '--map_file', metavar='JSON', help='A JSON list of rename entries '
      '(strings as --map takes, or {"key", "value", "source", "ops"} '
      'objects), for long maps; added to the --map entries.')
  merge.add_argument(
      '--exclude', action='append', default=[], metavar='REGEX',
      help='Leave out source tensors whose name this regex matches (re.match). '
      'Repeatable.')
  _add_options(merge, _MERGE_OPTIONS)
  merge.add_argument('--overwrite', action='store_true',
                     help='Replace an existing output checkpoint.')
  merge.add_argument('--dry_run', action='store_true',
                     help='Only check and print what would be merged into '
                     'DST; write nothing.')
  return parser


# --- inspect -----------------------------------------------------------------


def _run_inspect(args: argparse.Namespace) -> int:
  listing = _inspect.describe(args.path, match=args.match)
  print(listing.to_json() if args.json else listing.table())
  return 0


# --- plan --------------------------------------------------------------------


def _import_model(spec: str) -> Callable[[], Any]:
  module_name, sep, function_name = spec.partition(':')
  if not sep or not module_name or not function_name:
    raise UsageError('--model %r: write MODULE:FUNCTION, e.g. '
                     'my_project.model:build_graph.' % spec)
  if '' not in sys.path and os.getcwd() not in sys.path:
    sys.path.insert(0, os.getcwd())
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    raise UsageError('--model %r: cannot import module %r: %s.' %
                     (spec, module_name, e)) from e
  except (Exception, SystemExit) as e:  # pylint: disable=broad-except
    # The user's module failed as it ran (NameError, SyntaxError, ...).
    raise _errors.Error(
        '--model %r: importing module %r failed: %s (--verbose shows the '
        'traceback).' % (spec, module_name, _raised(e))) from e
  function = getattr(module, function_name, None)
  if not callable(function):
    names = [n for n in vars(module) if callable(getattr(module, n))]
    raise UsageError('--model %r: module %r has no function %r.%s' %
                     (spec, module_name, function_name,
                      _errors.did_you_mean(function_name, names)))
  return function


def _variables_from_checkpoint(checkpoint: _sources.Checkpoint) -> None:
  """Creates one zero-initialized variable per tensor (never initialized).

  Like a real graph: `global_step` is the global step; optimizer slots,
  other `<tensor>/<suffix>` auxiliaries and Adam's `beta1_power` are not
  trainable (`_planning.tensor_kind`). A TF2 checkpoint's tensors become
  variables under the names its object graph records (a tensor with no name,
  or whose name others claim too, under its key).
  """
  names = _sources.names_of(checkpoint)
  keys = set(checkpoint.shapes) - {_sources.OBJECT_GRAPH_KEY}
  for key in sorted(keys):
    name, _ = names.output_name(key)
    kind = _planning.tensor_kind(key, keys)
    collections = [tf.compat.v1.GraphKeys.GLOBAL_VARIABLES]
    if kind == _plan.GLOBAL_STEP:
      collections.append(tf.compat.v1.GraphKeys.GLOBAL_STEP)
    trainable = kind == _plan.WEIGHT
    if trainable:
      collections.append(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)
    tf.compat.v1.get_variable(
        name, shape=checkpoint.shapes[key], dtype=checkpoint.dtypes[key],
        initializer=tf.compat.v1.zeros_initializer(), trainable=trainable,
        collections=collections, use_resource=True)


def _build_target(args: argparse.Namespace, graph: tf.Graph) -> str:
  """Builds the target model into `graph`; returns how it was made."""
  with graph.as_default():
    if args.model:
      function = _import_model(args.model)
      try:
        function()
      except (Exception, SystemExit) as e:  # pylint: disable=broad-except
        # The user's code: report it in one line.
        raise _errors.Error('--model %s failed: %s (--verbose shows the '
                            'traceback).' % (args.model, _raised(e))) from e
      return 'the graph of %s' % args.model
    path = args.target
    meta = path if path.endswith('.meta') else None
    if meta is None and _sources.foreign_format(path) is None:
      prefix = _sources.resolve_prefix(path)
      if tf.io.gfile.exists(prefix + '.meta'):
        meta = prefix + '.meta'
    if meta is not None:
      if not tf.io.gfile.exists(meta):
        raise _errors.CheckpointMissingError('No meta graph at %r.' % meta)
      try:
        tf.compat.v1.train.import_meta_graph(meta, clear_devices=True)
      except (tf.errors.OpError, ValueError, KeyError, TypeError) as e:
        raise _errors.Error('Cannot import the meta graph %s: %s: %s' %
                            (meta, type(e).__name__, e)) from e
      return 'the meta graph %s' % meta
    checkpoint = _sources.load(path, getattr(args, 'cache_dir', None))
    try:
      _variables_from_checkpoint(checkpoint)
    except (ValueError, TypeError) as e:  # A name TF takes for no variable.
      raise _errors.Error(
          'Cannot make the target\'s variables from checkpoint %s: %s: %s' %
          (checkpoint.prefix, type(e).__name__, e)) from e
    return 'variables made from checkpoint %s' % checkpoint.prefix


def _raised(error: BaseException) -> str:
  """'NameError: name 'x' is not defined (at mod.py, line 3)', for users."""
  text = '%s: %s' % (type(error).__name__, _message(error))
  if isinstance(error, SyntaxError):
    return text  # Its message names the file and line.
  frames = [f for f in traceback.extract_tb(error.__traceback__)
            if not f.filename.startswith('<') and f.filename != __file__]
  if frames:
    text += ' (at %s, line %s)' % (frames[-1].filename, frames[-1].lineno)
  return text


def _problems_of(error: Exception) -> list[str]:
  """The problems a warmstart error lists (one message, or each of several)."""
  return list(getattr(error, 'problems', ()) or (str(error),))


@contextlib.contextmanager
def _log_level(level: int):
  previous = logging.get_verbosity()
  logging.set_verbosity(level)
  try:
    yield
  finally:
    logging.set_verbosity(previous)


def _lenient(settings: Sequence[_settings.WarmStartSettings]):
  """The settings with every check that can be relaxed relaxed."""
  relaxed = {name: True for name in _options.RELAXING}
  return tuple(dataclasses.replace(s, **relaxed) for s in settings)


def _map_entries(args: argparse.Namespace) -> list[str]:
  """The --map entries, then those of --map_file."""
  entries = list(args.map)
  if args.map_file:
    try:
      entries += _map_syntax.read_map_file(args.map_file)
    except ValueError as e:
      raise UsageError(str(e)) from None
  return entries


def _run_plan(args: argparse.Namespace) -> int:
  settings = _map_syntax.settings_from_strings(
      args.sources, _map_entries(args), args.vars, args.exclude,
      **_given_options(args, _options.DECLARATIONS))
  graph = tf.Graph()
  target = _build_target(args, graph)
  problems: list[str] = []
  error = None
  partial = None
  try:
    plan = _warm_start.make_settings_plan(settings, graph=graph)
  except _errors.Error as e:
    plan = None
    error = e
    problems = _problems_of(e)
    try:  # What would happen with every problem skipped, for reference.
      with _log_level(logging.ERROR):
        partial = _warm_start.make_settings_plan(_lenient(settings), graph)
    except _errors.Error:
      partial = None
  if args.json:
    data = {
        'ok': not problems,
        'target': target,
        'sources': [s.ckpt_to_initialize_from for s in settings],
        'problems': problems,
        'plan': plan.to_dict() if plan else None,
        'plan_with_problems_skipped': partial.to_dict() if partial else None,
    }
    if error is not None:
      data['error'] = _error_dict(error, EXIT_FAILURE)
    print(json.dumps(data, indent=2))
  else:
    print('Target: %s' % target)
    if plan is not None:
      print(plan.table())
    else:
      if partial is not None:
        print('With every problem below skipped, the plan would be:')
        print(partial.table())
      print('The warm start would fail with %d problem%s:' %
            (len(problems), '' if len(problems) == 1 else 's'))
      for problem in problems:
        print('  - ' + problem)
  if problems:
    raise _Failure('the warm start would fail (%d problem%s, listed above)' %
                   (len(problems), '' if len(problems) == 1 else 's')
                  ) from error
  return 0


# --- merge -------------------------------------------------------------------


def _accepted(function: Callable[..., Any],
              arguments: dict[str, Any]) -> dict[str, Any]:
  """The `arguments` that `function` takes by keyword."""
  parameters = inspect.signature(function).parameters
  return {k: v for k, v in arguments.items() if k in parameters}


def _run_merge(args: argparse.Namespace) -> int:
  try:
    renames = _map_syntax.maps_by_source(_map_entries(args),
                                         len(args.sources),
                                         sources_flag='the SRC arguments')
  except ValueError as e:
    raise UsageError(str(e)) from None
  sources = [(s, r or None) for s, r in zip(args.sources, renames)]
  options = _options.merge_arguments(_given_options(args, _MERGE_OPTIONS))
  if args.dry_run:  # Every check of the merge, the output's too.
    result = _merge.plan_merge(
        sources, output=args.output, overwrite=args.overwrite,
        exclude=args.exclude, **_accepted(_merge.plan_merge, options))
  else:
    result = _merge.merge_checkpoints(
        sources, args.output, overwrite=args.overwrite, exclude=args.exclude,
        **options)
  print(result.to_json() if args.json else result.table())
  return 0


# --- main --------------------------------------------------------------------


class _Failure(Exception):
  """A failing plan or merge whose details are already printed: exit 1."""


#: TF's text around the message of an op that failed in a session: the
#: op's creation stack ("Original stack trace for ..." and after, "Detected
#: at node ..." frames), the node and a hint. None of it is for users.
_TF_STACK = re.compile(r'\n\s*Original stack trace for .*', re.DOTALL)
_TF_NOISE = re.compile(
    r'^(Graph execution error:|Detected at node .*|File ".*|Node: .*|'
    r'\[\[\{\{node .*|Hint: .*)$')


def _message(error: BaseException) -> str:
  """The message of `error` without TF's stack traces, on one line."""
  if isinstance(error, tf.errors.OpError) and not isinstance(
      error, _errors.Error):
    text = _TF_STACK.sub('', error.message or '')
    lines = [line.strip() for line in text.split('\n')]
    lines = [line for line in lines if line and not _TF_NOISE.match(line)]
    text = ' '.join(lines)
  else:
    text = str(error)
  return ' '.join(line.strip() for line in text.strip().split('\n')
                  if line.strip()) or type(error).__name__


def _one_line(error: BaseException) -> str:
  message = str(error).strip() or type(error).__name__
  lines = message.split('\n')
  problems = getattr(error, 'problems', ())
  if len(problems) > 1:
    return '%s %s' % (lines[0], ' '.join(
        '(%d) %s' % (i, p) for i, p in enumerate(problems, 1)))
  return _message(error)


def _error_dict(error: BaseException, status: int) -> dict[str, Any]:
  """What `--json` prints for `error` (see `ERROR_JSON`)."""
  return {'type': type(error).__name__, 'message': _one_line(error),
          'exit_status': status}


def _json_requested(argv: Sequence[str]) -> bool:
  """Whether `--json` is among the options of `argv` (before any `--`)."""
  options = argv[:argv.index('--')] if '--' in argv else argv
  return '--json' in options


_NEGATIVE_NUMBER = re.compile(r'^-\d+$|^-\d*\.\d+$')


def _check_options(parser: _Parser, argv: Sequence[str]) -> None:
  """Raises `UsageError` naming each unknown option, with the closest one.

  argparse's "unrecognized arguments" names no valid option, and a mistyped
  required option (`--outptu`) only shows as that option missing.
  """
  where = parser
  known = parser.option_names()
  command = None
  unknown = []
  for token in argv:
    if token == '--':
      break
    if not token.startswith('-') or token == '-' or _NEGATIVE_NUMBER.match(
        token):
      if command is None:
        command = parser.commands.get(token)
        if command is None:
          return  # argparse names the bad command.
        where, known = command, command.option_names()
      continue
    name = token.split('=', 1)[0] if token.startswith('--') else token[:2]
    if name not in known:
      unknown.append((token.split('=', 1)[0], where))
  if not unknown:
    return
  problems = []
  for name, taker in unknown:
    suggestion = _errors.did_you_mean(name, taker.option_names(), n=1)
    problems.append('%r.%s' % (name, suggestion) if suggestion else
                    '%r: %s takes %s.' %
                    (name, taker.prog, ', '.join(
                        taker.option_names(aliases=False))))
  raise UsageError('unrecognized option%s %s (see %s --help)' %
                   ('s' if len(problems) > 1 else '', ' '.join(problems),
                    (command or parser).prog))


def _report(command: str, error: BaseException, status: int,
            json_output: bool, verbose: bool) -> int:
  """Prints `error` (one line on stderr, JSON on stdout); returns `status`."""
  if verbose:
    traceback.print_exception(type(error), error, error.__traceback__,
                              file=sys.stderr)
  if json_output:
    print(json.dumps({'ok': False, 'error': _error_dict(error, status)},
                     indent=2))
  print('%s: error: %s' % (command, _one_line(error)), file=sys.stderr)
  return status


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Runs the command line; returns the exit status.

  Args:
    argv: The arguments after the program name (`sys.argv[1:]` when None).

  Returns:
    0 on success, 1 when the plan or merge fails, 2 for a usage error.
  """
  argv = list(sys.argv[1:] if argv is None else argv)
  parser = _parser()
  try:
    _check_options(parser, argv)
    args = parser.parse_args(argv)
  except UsageError as e:
    return _report(PROG, e, EXIT_USAGE, _json_requested(argv),
                   '--verbose' in argv)
  except SystemExit as e:  # --help, or argparse giving up.
    return e.code if isinstance(e.code, int) else EXIT_USAGE
  command = '%s %s' % (PROG, args.command)
  verbose = args.verbose or args.verbose_before_command
  if not flags.FLAGS.is_parsed():
    # We parse no absl flag; this only stops absl's "Logging before flag
    # parsing" notice. The absl handler gives progress lines a timestamp.
    flags.FLAGS.mark_as_parsed()
  logging.use_absl_handler()
  try:
    with _log_level(logging.WARNING if args.quiet else logging.INFO):
      return args.run(args)
  except (UsageError, _errors.SettingsError) as e:
    return _report(command, e, EXIT_USAGE, args.json, verbose)
  except _Failure as e:  # Its details (and JSON) are printed already.
    if verbose:
      traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    print('%s: error: %s' % (command, e), file=sys.stderr)
    return EXIT_FAILURE
  except (_errors.Error, OSError, tf.errors.OpError) as e:
    return _report(command, e, EXIT_FAILURE, args.json, verbose)
