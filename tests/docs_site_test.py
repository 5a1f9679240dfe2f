"""Keeps the documentation site whole: its navigation, links and API page.

`mkdocs build --strict` (make docs, CI) fails on a broken link inside the
site; this test checks, without MkDocs or TensorFlow, what the build does
not: every page of docs/ is in mkdocs.yml's `nav` (and every `nav` entry
exists), the README (not part of the site) links only to files that exist
and stays a front page of at most 200 lines, and the API reference covers
every name of `warmstart.__all__`.
"""

from __future__ import annotations

import ast
import os
import pathlib
import re

from absl.testing import absltest

#: The README is a front page: what it is, install, examples, links.
MAX_README_LINES = 200


def _root() -> pathlib.Path:
  srcdir = os.environ.get('TEST_SRCDIR')
  if srcdir:
    root = pathlib.Path(srcdir) / os.environ.get('TEST_WORKSPACE', 'warmstart')
    if (root / 'mkdocs.yml').is_file():
      return root
  return pathlib.Path(__file__).resolve().parent.parent


def _nav_pages(mkdocs_yml: str) -> list[str]:
  """The pages `nav` lists (`- Title: path.md` lines after `nav:`)."""
  nav = mkdocs_yml[re.search(r'^nav:\s*$', mkdocs_yml, re.MULTILINE).end():]
  return re.findall(r'^\s*-\s*(?:[^:\n]+:\s*)?([\w/.-]+\.md)\s*$', nav,
                    re.MULTILINE)


def _links(markdown: str) -> list[str]:
  """The targets of the inline links of a Markdown text, code left out."""
  text = re.sub(r'```.*?```', '', markdown, flags=re.DOTALL)
  text = re.sub(r'`[^`\n]*`', '', text)
  return re.findall(r'\]\(([^)\s]+)\)', text)


def _public_names(root: pathlib.Path) -> list[str]:
  """`warmstart.__all__`, read from the source (no TensorFlow import)."""
  tree = ast.parse((root / 'warmstart' / '__init__.py').read_text())
  for node in tree.body:
    if (isinstance(node, ast.Assign) and
        getattr(node.targets[0], 'id', None) == '__all__'):
      return list(ast.literal_eval(node.value))
  raise AssertionError('warmstart/__init__.py has no __all__')


class SiteTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.root = _root()
    self.docs = self.root / 'docs'
    self.mkdocs = (self.root / 'mkdocs.yml').read_text()

  def test_every_page_is_in_the_nav_and_every_nav_entry_exists(self):
    nav = _nav_pages(self.mkdocs)
    pages = sorted(p.relative_to(self.docs).as_posix()
                   for p in self.docs.rglob('*.md'))
    self.assertIn('architecture.md', nav)
    self.assertEqual(sorted(set(nav)), sorted(nav), 'a page listed twice')
    self.assertEqual([], sorted(set(pages) - set(nav)),
                     'pages missing from mkdocs.yml nav')
    self.assertEqual([], sorted(set(nav) - set(pages)),
                     'nav entries with no page')

  def test_the_build_is_strict(self):
    self.assertRegex(self.mkdocs, r'(?m)^strict: true$')
    self.assertRegex(self.mkdocs, r'(?m)^docs_dir: docs$')

  def test_readme_is_a_front_page(self):
    lines = (self.root / 'README.md').read_text().splitlines()
    self.assertLessEqual(len(lines), MAX_README_LINES)
    self.assertTrue(lines[0].startswith('# warmstart'), lines[0])

  def test_readme_links_lead_to_files_that_exist(self):
    readme = (self.root / 'README.md').read_text()
    links = [l for l in _links(readme) if '://' not in l]
    self.assertIn('docs/index.md', links)
    for link in links:
      path = link.split('#', 1)[0]
      with self.subTest(link):
        self.assertTrue((self.root / path).exists(), link)

  def test_readme_links_to_every_guide(self):
    readme = (self.root / 'README.md').read_text()
    for page in sorted((self.docs / 'guides').glob('*.md')):
      self.assertIn('docs/guides/%s' % page.name, readme)

  def test_the_api_page_covers_the_public_api(self):
    api = (self.docs / 'api.md').read_text()
    listed = re.findall(r'^::: warmstart\.(\w+)$', api, re.MULTILINE)
    listed.remove('flags')
    public = _public_names(self.root)
    self.assertEqual(sorted(set(listed)), sorted(listed), 'listed twice')
    # `flags` is a module: the page documents it with its own directive.
    self.assertEqual(sorted(n for n in public if n != 'flags'),
                     sorted(listed))
    self.assertIn('::: warmstart.flags', api)

  def test_the_changelog_is_in_the_site(self):
    page = (self.docs / 'changelog.md').read_text()
    self.assertEqual('--8<-- "CHANGELOG.md"', page.strip())
    changelog = (self.root / 'CHANGELOG.md').read_text()
    self.assertIn('## [Unreleased]', changelog)
    self.assertIn('Keep a Changelog', changelog)
    self.assertIn('Semantic Versioning', changelog)


if __name__ == '__main__':
  absltest.main()
