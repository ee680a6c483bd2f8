# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Execution environment: `ansible-builder create` makes a build context from the shipped definition
(extensions/ee/execution-environment.yml), and what that build would install is checked: the collection
from the definition's Galaxy requirements, and the Python requirements its introspect step finds in the
installed collection (run here with the very script the build copies into the context). No container
engine here: the image build itself (`ansible-builder build`) is documented, not run."""

from __future__ import annotations

import os
import shutil

import yaml

from conftest import ECO_BIN, REPO_ROOT, run

DEFINITION = os.path.join(REPO_ROOT, 'extensions', 'ee', 'execution-environment.yml')


def read_lines(path):
    with open(path, encoding='utf-8') as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith('#')]


def test_collection_declares_its_requirements():
    with open(os.path.join(REPO_ROOT, 'meta', 'execution-environment.yml'), encoding='utf-8') as handle:
        meta = yaml.safe_load(handle)
    assert meta['version'] == 1
    assert meta['dependencies'] == {'python': 'requirements.txt'}  # no system packages: no bindep.txt needed
    assert not os.path.exists(os.path.join(REPO_ROOT, 'bindep.txt'))


def test_build_context(built_collection, tmp_path):
    shutil.copy(DEFINITION, str(tmp_path / 'execution-environment.yml'))
    run([os.path.join(ECO_BIN, 'ansible-builder'), 'create', '-f', 'execution-environment.yml', '-c', 'context'],
        cwd=str(tmp_path))
    context = tmp_path / 'context'
    containerfile = [p for p in (context / 'Containerfile', context / 'Dockerfile') if p.exists()]
    assert len(containerfile) == 1, os.listdir(str(context))
    text = containerfile[0].read_text(encoding='utf-8')

    # the collection: installed from the definition's Galaxy requirements
    with open(str(context / '_build' / 'requirements.yml'), encoding='utf-8') as handle:
        galaxy = yaml.safe_load(handle)
    assert [c['name'] for c in galaxy['collections']] == ['defender.endpoint']
    assert 'ansible-galaxy collection install' in text and '-r requirements.yml' in text

    # its Python requirements: what the build's introspect step finds in the installed collection
    assert 'introspect.py introspect' in text and '--write-pip=/tmp/src/requirements.txt' in text
    pip_out, bindep_out = tmp_path / 'pip.txt', tmp_path / 'bindep.txt'
    run([os.path.join(ECO_BIN, 'python'), str(context / '_build' / 'scripts' / 'introspect.py'), 'introspect',
         built_collection['collections_path'], '--write-pip', str(pip_out), '--write-bindep', str(bindep_out)])
    found = read_lines(str(pip_out))
    ours = read_lines(os.path.join(REPO_ROOT, 'requirements.txt'))
    assert found == ['%s  # from collection defender.endpoint' % req for req in ours]
    # requests is msal's dependency, not the collection's (its HTTP client is the standard library's)
    assert {req.split('>')[0].split('=')[0] for req in ours} == {'msal', 'cryptography', 'redis'}
    assert not bindep_out.exists() or not read_lines(str(bindep_out))
