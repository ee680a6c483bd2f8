# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changelog: `antsibull-changelog release` works, tried in a scratch copy of the collection (nothing
is released in the checkout). That the fragments lint clean is checked once, by `make lint`."""

from __future__ import annotations

import os
import shutil
import subprocess

import yaml

from conftest import ECO_BIN, REPO_ROOT, clean_env, galaxy_meta, run


def repo_files():
    """The tracked files (as a clone has them; untracked work in progress of the checkout stays out)."""
    out = subprocess.run(['git', 'ls-files', '-z', '--cached'], cwd=REPO_ROOT,
                         check=True, stdout=subprocess.PIPE).stdout
    return [n for n in sorted({os.fsdecode(n) for n in out.split(b'\0') if n}) if os.path.isfile(os.path.join(REPO_ROOT, n))]


def test_release_in_a_scratch_copy(tmp_path):
    meta = galaxy_meta()
    tree = tmp_path / 'ansible_collections' / meta['namespace'] / meta['name']
    for rel in repo_files():
        os.makedirs(str((tree / rel).parent), exist_ok=True)
        shutil.copy2(os.path.join(REPO_ROOT, rel), str(tree / rel))
    fragments = sorted(os.listdir(str(tree / 'changelogs' / 'fragments')))
    assert fragments, 'no changelog fragments to release'
    env = clean_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(tmp_path))
    run([os.path.join(ECO_BIN, 'antsibull-changelog'), 'release', '--date', '2026-12-01'], cwd=str(tree), env=env)

    with open(str(tree / 'changelogs' / 'changelog.yaml'), encoding='utf-8') as handle:
        changelog = yaml.safe_load(handle)
    release = changelog['releases'][meta['version']]
    assert release['release_date'] == '2026-12-01'
    assert sorted(release['fragments']) == fragments
    modules = {m['name'] for m in release.get('modules', [])}
    assert {'mde_machine_action_cancel', 'mde_machine_action_info'} <= modules
    assert release['changes'].get('release_summary')
    assert not [f for f in os.listdir(str(tree / 'changelogs' / 'fragments')) if f.endswith('.yml')]  # consumed
    rst = (tree / 'CHANGELOG.rst').read_text(encoding='utf-8')
    assert 'v%s' % meta['version'] in rst and 'defender.endpoint.mde_machine_action_cancel' in rst
    assert (tree / 'CHANGELOG.md').exists()
    run([os.path.join(ECO_BIN, 'antsibull-changelog'), 'lint-changelog-yaml', str(tree / 'changelogs' / 'changelog.yaml')])
    run([os.path.join(ECO_BIN, 'antsibull-changelog'), 'lint'], cwd=str(tree), env=env)
