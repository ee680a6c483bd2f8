# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every shell and YAML snippet of README.md and of the docs site's pages runs, as written.

A source's blocks run in document order, as a new user would run them: in a fresh copy of the checkout
(its files as they are now, `.venv` linked in), with a HOME of their own and the emulator's MDE_*
variables (demo seed, reset before each source). How blocks are found and marked: tests/ecosystem/README.md.

* a shell block (a README fence with no language or sh/shell/bash/console, an rst `console`/`shell`/`bash`
  code-block; console blocks: the `$ ` lines) runs in bash (-e, -o pipefail); it must succeed, and print no
  Ansible [WARNING] (no "No inventory was parsed", issue 11);
* a YAML block runs with ansible-playbook: a list of plays as it is, a list of tasks in a play on localhost;
* a block marked `snippet: file NAME` is saved as NAME (blocks marked with one name add up, in order) for the
  blocks after it to use; `snippet: extra vars: k=v ...` gives a YAML block's run those extra vars;
* a block marked `snippet: not runnable: REASON` is left out, and must say why.

What a snippet names as the reader's own (their playbook, their vault file, a release tarball) comes from
READER_FILES below."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

from conftest import INVENTORY_LINE, REPO_ROOT, recap, user_env

SOURCES = ['README.md', 'docs/landing.rst'] + sorted(
    os.path.join('docs', 'docsite', 'rst', name) for name in os.listdir(os.path.join(REPO_ROOT, 'docs', 'docsite', 'rst'))
    if name.endswith('.rst'))
# Sources that assume the collection is installed (the guides: the landing page and the README install it).
NEEDS_INSTALL = ('docs/docsite/rst/',)
VENV_BIN = os.path.join(REPO_ROOT, '.venv', 'bin')

SHELL_LANGS = ('', 'sh', 'shell', 'bash', 'console')
YAML_LANGS = ('yaml', 'yml', 'yaml+jinja')
MARK_RE = re.compile(r'^snippet:\s*(not runnable|file|extra vars)\s*:?\s*(.*)$')

# A playbook of the reader's, for "your-playbook.yml": read-only look-ups of the demo seed.
YOUR_PLAYBOOK = '''\
- name: A playbook of your own
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Look the machines of the alert up
      defender.endpoint.mde_machine_info:
        computer_dns_name: lt-0412.contoso.com
      register: found

    - name: Both records of lt-0412 are there
      ansible.builtin.assert:
        that: found.machines | length == 2
'''
PASSWORD = 'rehearsal vault password'


def reader_files(settings, home):
    """Files the snippets name as the reader's own: {path (relative to the copy, or ~/...): content}."""
    return {
        'your-playbook.yml': YOUR_PLAYBOOK,
        # README: the vault file of the incident-closed.yml playbook, with the app's settings (encrypted below)
        'mde-vault.yml': yaml.safe_dump({'vault_mde_tenant_id': settings['tenant_id'],
                                         'vault_mde_client_id': settings['apps']['default']['client_id'],
                                         'vault_mde_client_secret': settings['apps']['default']['client_secret']}),
        os.path.join(str(home), '.mde-vault-pass'): PASSWORD + '\n',
    }


# ---------------------------------------------------------------------------- finding the blocks
class Block:
    def __init__(self, source, line, lang, text, marks):
        self.source, self.line, self.lang, self.text, self.marks = source, line, lang, text, marks

    @property
    def where(self):
        return '%s:%d' % (self.source, self.line)

    def mark(self, kind):
        return self.marks.get(kind)

    @property
    def kind(self):
        if self.lang in SHELL_LANGS:
            return 'shell'
        if self.lang in YAML_LANGS:
            return 'yaml'
        return 'other'

    def script(self):
        """The commands of a shell block: a console block's `$ ` lines (prompt dropped)."""
        if self.lang == 'console':
            return '\n'.join(line[2:] for line in self.text.splitlines() if line.startswith('$ '))
        return self.text


def _marks(comments, where):
    marks = {}
    for comment in comments:
        found = MARK_RE.match(comment.strip())
        assert found, '%s: a snippet comment must read "snippet: not runnable: REASON", "snippet: file NAME" or ' \
                      '"snippet: extra vars: k=v ...", not %r' % (where, comment)
        kind, value = found.group(1), found.group(2).strip()
        assert value, '%s: "snippet: %s" needs a %s' % (where, kind, 'reason' if kind == 'not runnable' else 'value')
        marks[kind] = value
    return marks


def markdown_blocks(source, text):
    """Fenced blocks of a Markdown file, with the `<!-- snippet: ... -->` comments right before them."""
    blocks, lines, idx, pending = [], text.splitlines(), 0, []
    while idx < len(lines):
        line = lines[idx]
        comment = re.match(r'^<!--\s*(snippet:.*?)\s*-->\s*$', line)
        if comment:
            pending.append(comment.group(1))
        elif line.startswith('```'):
            lang, start, body = line[3:].strip(), idx + 1, []
            idx += 1
            while not lines[idx].startswith('```'):
                body.append(lines[idx])
                idx += 1
            blocks.append(Block(source, start, lang, '\n'.join(body) + '\n', _marks(pending, '%s:%d' % (source, start))))
            pending = []
        elif line.strip():
            assert not pending, '%s:%d: a snippet comment must come right before a block' % (source, idx + 1)
        idx += 1
    return blocks


def rst_blocks(source, text):
    """`code-block` directives of an rst file, with the `.. snippet: ...` comments before them."""
    blocks, lines, idx, pending = [], text.splitlines(), 0, []
    while idx < len(lines):
        line = lines[idx]
        comment = re.match(r'^\.\. (snippet:.*)$', line)
        directive = re.match(r'^(\s*)\.\. code-block::\s*(\S*)\s*$', line)
        if comment:
            pending.append(comment.group(1))
        elif directive:
            lang, start, depth = directive.group(2), idx + 1, len(directive.group(1))
            idx += 1
            while idx < len(lines) and (not lines[idx].strip() or lines[idx].strip().startswith(':')):
                idx += 1  # the directive's options (:caption: ...) and the blank line after them
            body = []
            while idx < len(lines) and (not lines[idx].strip() or len(lines[idx]) - len(lines[idx].lstrip()) > depth):
                body.append(lines[idx])
                idx += 1
            while body and not body[-1].strip():
                body.pop()
            indent = min(len(b) - len(b.lstrip()) for b in body if b.strip())
            blocks.append(Block(source, start, lang, '\n'.join(b[indent:] for b in body) + '\n',
                                _marks(pending, '%s:%d' % (source, start))))
            pending = []
            continue
        elif line.strip():
            assert not pending, '%s:%d: a snippet comment must come right before a code-block' % (source, idx + 1)
        idx += 1
    return blocks


def blocks_of(source):
    with open(os.path.join(REPO_ROOT, source), encoding='utf-8') as handle:
        text = handle.read()
    return markdown_blocks(source, text) if source.endswith('.md') else rst_blocks(source, text)


# ---------------------------------------------------------------------------- running them
def checkout_copy(dest):
    """The checkout as a fresh clone would have it (tracked files and new ones not ignored, as they are
    now), with the checkout's .venv linked in (so `make venv` finds it up to date)."""
    files = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=REPO_ROOT,
                           stdout=subprocess.PIPE, check=True).stdout.decode('utf-8').split('\0')
    for name in files:
        src = os.path.join(REPO_ROOT, name)
        if name and os.path.isfile(src):
            os.makedirs(os.path.join(dest, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, name))
    os.symlink(os.path.join(REPO_ROOT, '.venv'), os.path.join(dest, '.venv'))


def sh(cmd, cwd, env, timeout=300):
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout


def stop_emulators(*roots):
    """Stop every emulator a snippet started under these folders (a block that failed half-way)."""
    for root in roots:
        for folder, _dirs, names in os.walk(root):
            if 'emulator.json' in names:
                subprocess.run([os.path.join(VENV_BIN, 'python'), os.path.join(REPO_ROOT, 'tests', 'emulator',
                                'run_emulator.py'), 'stop', '--workdir', folder], check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sources_are_found():
    assert 'docs/docsite/rst/guide_incident_response.rst' in SOURCES
    counts = {source: len(blocks_of(source)) for source in SOURCES}
    assert counts['README.md'] >= 6 and counts['docs/docsite/rst/guide_incident_response.rst'] >= 8, counts


def test_saved_files_are_used():
    """A block saved as a file (`snippet: file NAME`) is run by a block after it: NAME appears in a later
    block that runs, or in another saved file (the incident guide's play includes its steps)."""
    for source in SOURCES:
        blocks = blocks_of(source)
        for idx, block in enumerate(blocks):
            name = block.mark('file')
            if name:
                later = [b.text for b in blocks[idx + 1:] if not b.mark('not runnable') and b.mark('file') != name]
                assert any(name in text for text in later), '%s: %s is saved but no later block uses it' % (block.where, name)


def sources_with_blocks():
    return [source for source in SOURCES if os.path.exists(os.path.join(REPO_ROOT, source)) and blocks_of(source)]


@pytest.mark.parametrize('source', sources_with_blocks())
def test_snippets_run_as_written(source, demo_emulator, built_collection, tmp_path):
    settings, control = demo_emulator
    blocks = blocks_of(source)
    runnable = [b for b in blocks if not b.mark('not runnable')]
    if not runnable:
        pytest.skip('%s: no runnable snippet (%d marked not runnable)' % (source, len(blocks)))
    control.reset('demo')
    copy, home = str(tmp_path / 'checkout'), tmp_path / 'home'
    home.mkdir()
    checkout_copy(copy)
    if source.startswith(NEEDS_INSTALL):  # the guides come after the install the landing page shows
        os.makedirs(str(home / '.ansible' / 'collections'))
        os.symlink(os.path.join(built_collection['collections_path'], 'ansible_collections'),
                   str(home / '.ansible' / 'collections' / 'ansible_collections'))
    env = user_env(home, settings, path_first=VENV_BIN)
    with open(os.path.join(REPO_ROOT, source), encoding='utf-8') as handle:
        text = handle.read()
    for name, content in reader_files(settings, home).items():
        if os.path.basename(name) in text:  # only what this source names
            with open(os.path.join(copy, name), 'w', encoding='utf-8') as handle:
                handle.write(content)
    if 'mde-vault.yml' in text:  # as the README says: encrypted with ansible-vault
        rc, out = sh([os.path.join(VENV_BIN, 'ansible-vault'), 'encrypt', '--vault-password-file',
                      str(home / '.mde-vault-pass'), 'mde-vault.yml'], copy, env)
        assert rc == 0, out
    inventory = os.path.join(str(tmp_path), 'test-inventory')
    with open(inventory, 'w', encoding='utf-8') as handle:
        handle.write(INVENTORY_LINE)

    saved = set()
    try:
        for number, block in enumerate(blocks):
            if block.mark('not runnable'):
                continue
            if block.mark('file'):
                name = block.mark('file')
                with open(os.path.join(copy, name), 'a' if name in saved else 'w', encoding='utf-8') as handle:
                    handle.write(block.text if name not in saved else '\n' + block.text)
                saved.add(name)
                continue
            started = time.time()
            if block.kind == 'shell':
                rc, out = sh(['bash', '-e', '-o', 'pipefail', '-c', block.script()], copy, env)
            elif block.kind == 'yaml':
                content = yaml.safe_load(block.text)
                assert isinstance(content, list) and content, '%s: a YAML snippet is a list of plays or tasks' % block.where
                playbook = os.path.join(copy, 'snippet-%d.yml' % number)
                with open(playbook, 'w', encoding='utf-8') as handle:
                    if all('hosts' in item for item in content):  # plays: the block as it is
                        handle.write(block.text)
                    else:  # tasks: in a play on the controller
                        yaml.safe_dump([{'name': 'Snippet of %s' % block.where, 'hosts': 'localhost', 'connection': 'local',
                                         'gather_facts': False, 'tasks': content}], handle, sort_keys=False)
                cmd = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inventory, playbook]
                for pair in (block.mark('extra vars') or '').split():
                    cmd += ['-e', pair]
                rc, out = sh(cmd, copy, env)
            else:
                raise AssertionError('%s: a %r block is neither shell nor YAML: mark it "snippet: file NAME" or '
                                     '"snippet: not runnable: REASON"' % (block.where, block.lang))
            print('%s: %.1f s' % (block.where, time.time() - started))  # shown with pytest -s
            assert rc == 0, '%s failed (%d):\n%s\n---\n%s' % (block.where, rc, block.text, out)
            assert '[WARNING]' not in out, '%s: Ansible warned:\n%s' % (block.where, out)
            if 'PLAY RECAP' in out:
                assert recap(out).get('failed', 0) == 0, out
    finally:
        stop_emulators(copy, str(home))
