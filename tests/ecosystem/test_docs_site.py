# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The documentation site (make docs), opened in headless Chromium from Debian's packages: the DOM the
browser built is checked for content. The module page shows the options table with every documented
option and the examples; the collection index links every guide; the AWX guide is there.
A screenshot of the module page is kept in docs/build/screenshots/ to look at."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

from conftest import ECO_BIN, REPO_ROOT

BUILD = os.environ.get('DOCS_BUILD', os.path.join(REPO_ROOT, 'docs', 'build'))
SITE = os.path.join(BUILD, 'html', 'collections', 'defender', 'endpoint')
MODULE = 'mde_machine_action_cancel'
GUIDES = ('guide_auth', 'guide_rate_limits', 'guide_incident_response', 'guide_cancelling', 'guide_awx', 'guide_emulator',
          'guide_inventory')
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                  '--disable-component-update', '--no-first-run', '--disable-sync', '--hide-scrollbars']


def chromium():
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    assert found, 'headless Chromium is missing: apt-get install -y chromium (make docs-check does it as root)'
    return found


def browse(page, *args):
    """Run headless Chromium on a page of the built site with a throw-away profile."""
    assert os.path.isfile(page), '%s is missing: run make docs' % page
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([chromium()] + CHROMIUM_FLAGS + ['--user-data-dir=' + profile] + list(args) + ['file://' + page],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class Page(HTMLParser):
    """What a reader sees, by section: text, tables (with their classes), anchors and links."""

    def __init__(self, dom):
        super().__init__()
        self.sections, self.text, self.tables, self.ids, self.links = [], {}, {}, {}, set()
        self.depth = []
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'section':
            self.sections.append(attrs.get('id'))
        current = self.sections[-1] if self.sections else None
        if tag == 'table':
            self.tables.setdefault(current, []).append(attrs.get('class', ''))
        if attrs.get('id'):
            self.ids.setdefault(current, set()).add(attrs['id'])
        if tag == 'a' and attrs.get('href'):
            self.links.add(attrs['href'].split('#', 1)[0])

    def handle_endtag(self, tag):
        if tag == 'section' and self.sections:
            self.sections.pop()

    def handle_data(self, data):
        for section in self.sections:
            self.text[section] = self.text.get(section, '') + data


def documented(module):
    """The module's documentation as ansible-doc reads it from the documented copy of the collection."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(BUILD, 'collections'), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false')
    out = subprocess.run([os.path.join(ECO_BIN, 'ansible-doc'), '--json', 'defender.endpoint.' + module], env=env,
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return json.loads(out)['defender.endpoint.' + module]


@pytest.fixture(scope='module')
def module_page():
    return Page(browse(os.path.join(SITE, MODULE + '_module.html'), '--dump-dom'))


def test_module_page_has_the_options_table(module_page):
    doc = documented(MODULE)['doc']
    assert any('ansible-option-table' in cls for cls in module_page.tables.get('parameters', [])), module_page.tables
    shown = {anchor[len('parameter-'):] for anchor in module_page.ids.get('parameters', set()) if anchor.startswith('parameter-')}
    expected = set(doc['options'])
    for option in doc['options'].values():
        expected.update(option.get('aliases', []))
    assert shown == expected
    text = module_page.text['parameters']
    for name in ('comment', 'machine_id', 'wait_timeout', 'client_secret'):
        assert name in text


def test_module_page_has_the_examples(module_page):
    examples = documented(MODULE)['examples']
    text = module_page.text['examples']
    assert 'defender.endpoint.%s:' % MODULE in text
    names = [line.split('name:', 1)[1].strip() for line in examples.splitlines() if line.strip().startswith('- name:')]
    assert names and all(name in text for name in names), names
    assert 'return-values' in module_page.text


def test_collection_index_links_the_guides_and_modules():
    page = Page(browse(os.path.join(SITE, 'index.html'), '--dump-dom'))
    for guide in GUIDES:
        assert 'docsite/%s.html' % guide in page.links, guide
    assert MODULE + '_module.html' in page.links
    assert 'mde_machines_inventory.html' in page.links, 'the inventory plugin has its page'


def test_awx_guide():
    page = Page(browse(os.path.join(SITE, 'docsite', 'guide_awx.html'), '--dump-dom'))
    text = ' '.join(page.text.values())
    assert 'awx.awx.credential_type' in text and 'credential_type_mde.yml' in text
    assert 'ansible-builder build' in text


def test_screenshot_of_the_module_page():
    out_dir = os.path.join(BUILD, 'screenshots')
    os.makedirs(out_dir, exist_ok=True)
    shot = os.path.join(out_dir, MODULE + '.png')
    if os.path.exists(shot):
        os.unlink(shot)
    browse(os.path.join(SITE, MODULE + '_module.html'), '--screenshot=' + shot, '--window-size=1280,1800')
    with open(shot, 'rb') as handle:
        data = handle.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 20000, len(data)


def test_guides_link_to_pages_that_exist():
    """Links from the guides to module pages and other guides resolve to built pages."""
    checked = 0
    for guide in GUIDES:
        page_path = os.path.join(SITE, 'docsite', guide + '.html')
        page = Page(browse(page_path, '--dump-dom'))
        for link in page.links:
            if link and not link.startswith(('http:', 'https:', 'mailto:')) and link.endswith('.html'):
                assert os.path.isfile(os.path.normpath(os.path.join(os.path.dirname(page_path), link))), (guide, link)
                checked += 1
    assert checked


def test_landing_page():
    """The site's first page (docs/landing.rst): what the collection is, both installs, a first playbook and a
    direct link to every guide, not sphinx-init's boilerplate."""
    page = Page(browse(os.path.join(BUILD, 'html', 'index.html'), '--dump-dom'))
    text = ' '.join(page.text.values())
    assert 'Welcome to my Ansible collection documentation' not in text
    for words in ('Microsoft Defender for Endpoint', 'ansible-galaxy collection install defender.endpoint',
                  'ansible-galaxy collection install defender-endpoint-1.0.0.tar.gz', 'first-playbook.yml',
                  'defender.endpoint.mde_machine_info'):
        assert words in text, words
    for guide in GUIDES:
        assert 'collections/defender/endpoint/docsite/%s.html' % guide in page.links, (guide, sorted(page.links))
    assert 'collections/defender/endpoint/index.html' in page.links
