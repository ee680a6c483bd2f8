# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ansible-test offline for this collection.

ansible-test insists on running from a real ``.../ansible_collections/<namespace>/<name>``
folder and bootstraps pip in each virtualenv it manages with a get-pip script that it
downloads from a host this machine cannot reach. This wrapper:

* mirrors the repository (tracked files plus untracked, non-ignored ones) into a scratch
  ``ansible_collections/<namespace>/<name>`` tree outside the repository;
* points ``HOME`` at a persistent scratch home that holds the user's pip configuration and
  a stand-in ``get_pip_<version>.py`` for every pip version the ansible-test in use pins;
* runs ansible-test there, copies the results under ``tests/output/`` back to the
  repository and exits with ansible-test's exit code.

Everything after the wrapper's own options is passed to ansible-test unchanged::

    python tests/utils/ansible_test.py --venv .venv sanity --python 3.11
    python tests/utils/ansible_test.py --core 2.20 --python-bin python3.12 sanity --python 3.12
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t

SCRIPT_PATH = os.path.realpath(__file__)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(SCRIPT_PATH)))
SCRATCH_NAME = 'defender-endpoint-ansible-test'

# The stand-in for https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py.
# ensurepip must run in a subprocess: running it in-process disables pip's configuration
# (and so the local package index) for the rest of the process.
GET_PIP_SHIM = '''\
"""Offline stand-in for get-pip.py, written by tests/utils/ansible_test.py."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
ARGS = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + ARGS))
'''

# Results worth keeping from tests/output (.tmp only holds ansible-test's scratch files).
OUTPUT_SKIP = ('.tmp',)

VERSION_RE = r'(\d+(?:\.\d+)+)'
PIP_PIN_PATTERNS = (
    re.compile(r'\bpip\s*=\s*[\'"]' + VERSION_RE + r'[\'"]'),  # dict(pip='24.2')
    re.compile(r'[\'"]pip[\'"]\s*:\s*[\'"]' + VERSION_RE + r'[\'"]'),  # {'pip': '24.2'}
    re.compile(r'get[-_]pip[-_]' + VERSION_RE + r'\.py'),  # get-pip-24.2.py
    re.compile(r'^pip\s*==\s*' + VERSION_RE, re.MULTILINE),  # requirements: pip == 24.2
)


def log(message: str) -> None:
    """Print a wrapper message, distinguishable from ansible-test's output."""
    print(f'[ansible_test.py] {message}', flush=True)


def fail(message: str) -> t.NoReturn:
    """Print an error and exit."""
    print(f'[ansible_test.py] ERROR: {message}', file=sys.stderr, flush=True)
    sys.exit(2)


def parse_args(argv: t.List[str]) -> argparse.Namespace:
    """Parse the wrapper's options; the rest goes to ansible-test."""
    parser = argparse.ArgumentParser(
        description='Run ansible-test offline for this collection from a scratch ansible_collections tree.',
        epilog='Everything after the options above (starting with the ansible-test command) is passed to ansible-test.',
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument('--venv', metavar='PATH',
                       help='existing virtualenv whose bin/ansible-test is used (default: <repo>/.venv)')
    where.add_argument('--core', metavar='X.Y',
                       help='create or reuse <repo>/.venv-core-X.Y with the newest ansible-core X.Y.* from pip')
    parser.add_argument('--python-bin', metavar='PYTHON',
                        help='interpreter for the --core virtualenv, e.g. python3.12 (default: the one running this script)')
    parser.add_argument('--scratch', metavar='DIR',
                        help=f'scratch folder (default: ${{TMPDIR:-/tmp}}/{SCRATCH_NAME}/<hash of repo path>)')
    parser.add_argument('--results', metavar='DIR',
                        help='where tests/output results are taken from and copied back to (default: <repo>/tests/output); '
                             'parallel runs each pass their own')
    parser.add_argument('ansible_test_args', nargs=argparse.REMAINDER, metavar='ANSIBLE_TEST_ARGS',
                        help='ansible-test command and its arguments')
    args = parser.parse_args(argv)
    if args.ansible_test_args and args.ansible_test_args[0] == '--':
        args.ansible_test_args = args.ansible_test_args[1:]
    if not args.ansible_test_args:
        parser.error('no ansible-test command given (e.g. sanity --python 3.11)')
    if args.python_bin and not args.core:
        parser.error('--python-bin only applies with --core')
    if args.core and not re.fullmatch(r'\d+\.\d+', args.core):
        parser.error('--core takes a major.minor version such as 2.19')
    return args


def run_output(cmd: t.List[str], **kwargs: t.Any) -> str:
    """Run a command and return its stripped standard output."""
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, universal_newlines=True, **kwargs).stdout.strip()


def python_works(python: str) -> bool:
    """Tell whether an interpreter can be started (a pyenv shim of an inactive version cannot)."""
    try:
        subprocess.run([python, '-c', 'import sys'], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def version_key(path: str) -> t.Tuple[int, ...]:
    """Sort key for pyenv version folders such as .../versions/3.12.1/bin/python3.12."""
    name = os.path.basename(os.path.dirname(os.path.dirname(path)))
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r'[.-]', name))


def resolve_python(name: str) -> str:
    """Find a working interpreter by name or path, looking into pyenv when a shim refuses to run."""
    if os.sep in name:
        candidates = [name]
    else:
        candidates = [found for found in [shutil.which(name)] if found]
        pyenv_root = os.environ.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv')
        candidates += sorted(glob.glob(os.path.join(pyenv_root, 'versions', '*', 'bin', name)), key=version_key, reverse=True)
    for candidate in candidates:
        if python_works(candidate):
            return os.path.abspath(candidate)
    fail(f'no working Python interpreter found for {name!r} (tried: {", ".join(candidates) or "nothing"})')


def venv_python(venv: str) -> str:
    """Return the interpreter of a virtualenv."""
    return os.path.join(venv, 'bin', 'python')


def installed_core(venv: str) -> t.Optional[t.Dict[str, str]]:
    """Return the versions of ansible-core and Python in a virtualenv and where ansible_test lives, if it has them."""
    python = venv_python(venv)
    if not os.path.exists(python):
        return None
    code = ('import os, sys, ansible.release, ansible_test; '
            'print(ansible.release.__version__); print("%d.%d.%d" % sys.version_info[:3]); '
            'print(os.path.dirname(ansible_test.__file__))')
    try:
        core, python_version, ansible_test_dir = run_output([python, '-c', code], stderr=subprocess.DEVNULL).splitlines()[-3:]
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None
    return {'core': core, 'python': python_version, 'ansible_test_dir': ansible_test_dir}


def requirements_stamp(venv: str) -> t.Tuple[str, str]:
    """Return the stamp file that records which requirements.txt a core virtualenv holds, and that file's digest."""
    with open(os.path.join(REPO_ROOT, 'requirements.txt'), 'rb') as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return os.path.join(venv, '.requirements.sha256'), digest


def ensure_requirements(venv: str) -> None:
    """Install the collection's requirements.txt (requests, msal, cryptography) into a core virtualenv.

    ``ansible-test integration --local`` runs the modules with the virtualenv's Python, so
    that Python needs what the modules import. Skipped when the stamp says this very
    requirements.txt is already installed.
    """
    stamp, digest = requirements_stamp(venv)
    with contextlib.suppress(OSError):
        with open(stamp, encoding='utf-8') as handle:
            if handle.read().strip() == digest:
                return
    cmd = [venv_python(venv), '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
           '-r', os.path.join(REPO_ROOT, 'requirements.txt')]
    log('running: ' + ' '.join(cmd))
    if subprocess.run(cmd, check=False).returncode:
        fail(f'could not install {os.path.join(REPO_ROOT, "requirements.txt")} into {venv}')
    write_if_changed(stamp, digest + '\n')


def ensure_core_venv(core: str, python_bin: t.Optional[str]) -> str:
    """Create (or reuse) <repo>/.venv-core-X.Y holding the newest ansible-core X.Y.* pip offers for the interpreter,
    plus the collection's requirements.txt."""
    venv = os.path.join(REPO_ROOT, f'.venv-core-{core}')
    python = resolve_python(python_bin) if python_bin else sys.executable
    wanted_python = run_output([python, '-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'])
    info = installed_core(venv)
    if info and info['core'].startswith(core + '.') and (not python_bin or info['python'] == wanted_python):
        log(f'reusing {venv} (ansible-core {info["core"]}, Python {info["python"]})')
        ensure_requirements(venv)
        return venv
    if os.path.exists(venv):
        held = f'ansible-core {info["core"]} on Python {info["python"]}' if info else 'no usable ansible-core'
        log(f'recreating {venv}: it holds {held}')
        shutil.rmtree(venv)
    log(f'creating {venv} with {python} (Python {wanted_python})')
    subprocess.run([python, '-m', 'venv', venv], check=True)
    cmd = [venv_python(venv), '-m', 'pip', 'install', '--disable-pip-version-check', f'ansible-core=={core}.*']
    log('running: ' + ' '.join(cmd))
    if subprocess.run(cmd, check=False).returncode:
        shutil.rmtree(venv, ignore_errors=True)
        fail(f'could not install ansible-core {core}.* for Python {wanted_python} '
             '(ansible-core 2.20+ needs Python >= 3.12: try --python-bin python3.12)')
    ensure_requirements(venv)
    return venv


def pinned_pip_versions(ansible_test_dir: str) -> t.List[str]:
    """Find the pip versions that this ansible-test bootstraps (each ansible-core pins its own)."""
    versions = set()
    paths = glob.glob(os.path.join(ansible_test_dir, '_internal', '**', '*.py'), recursive=True)
    paths += glob.glob(os.path.join(ansible_test_dir, '_util', 'target', 'setup', '*.py'))
    paths += glob.glob(os.path.join(ansible_test_dir, '_data', 'requirements', '*.txt'))
    for path in paths:
        with open(path, encoding='utf-8', errors='replace') as handle:
            text = handle.read()
        if 'pip' not in text:
            continue
        for pattern in PIP_PIN_PATTERNS:
            versions.update(pattern.findall(text))
    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split('.')))


def repo_files() -> t.List[str]:
    """List the repository's files as git sees them: tracked plus untracked-but-not-ignored, minus deleted ones."""
    try:
        out = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                             cwd=REPO_ROOT, check=True, stdout=subprocess.PIPE).stdout
    except (OSError, subprocess.CalledProcessError) as ex:
        fail(f'cannot list the files of {REPO_ROOT} with git: {ex}')
    files = sorted({os.fsdecode(name) for name in out.split(b'\0') if name})
    return [name for name in files if os.path.lexists(os.path.join(REPO_ROOT, name)) and not os.path.isdir(os.path.join(REPO_ROOT, name))]


def same_file(src: str, dst: str) -> bool:
    """Tell whether dst already is an up-to-date copy of src."""
    try:
        src_stat, dst_stat = os.lstat(src), os.lstat(dst)
    except OSError:
        return False
    if os.path.islink(src) or os.path.islink(dst):
        return os.path.islink(src) and os.path.islink(dst) and os.readlink(src) == os.readlink(dst)
    return (src_stat.st_size == dst_stat.st_size and src_stat.st_mtime_ns == dst_stat.st_mtime_ns
            and src_stat.st_mode == dst_stat.st_mode)


def remove_path(path: str) -> None:
    """Remove a file, symlink or folder."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def prune_tree(tree: str, wanted: t.Set[str]) -> None:
    """Delete the scratch tree's files that the repository no longer has (tests/output is left alone), then empty folders."""
    keep = os.path.join('tests', 'output')
    for dirpath, dirnames, filenames in os.walk(tree, topdown=True):
        rel_dir = os.path.relpath(dirpath, tree)
        rel_dir = '' if rel_dir == '.' else rel_dir
        if rel_dir == 'tests':
            dirnames[:] = [name for name in dirnames if name != 'output']
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = os.path.join(rel_dir, name)
            if rel not in wanted:
                os.unlink(os.path.join(dirpath, name))
    for dirpath, _dirnames, _filenames in sorted(os.walk(tree), key=lambda w: -len(w[0])):  # prune empty folders, deepest first
        rel_dir = os.path.relpath(dirpath, tree)
        if rel_dir != '.' and not (rel_dir + os.sep).startswith(keep + os.sep) and not os.listdir(dirpath):
            os.rmdir(dirpath)


def sync_tree(tree: str) -> int:
    """Mirror the repository into the scratch tree, keeping the tree's tests/output; return how many files were copied."""
    files = repo_files()
    extra = os.path.join('tests', 'integration', 'integration_config.yml')  # git-ignored, written by the emulator
    # MDE_INTEGRATION_CONFIG points at another emulator's config, so that parallel runs (each with its own
    # emulator and --scratch tree) do not share tests/integration/integration_config.yml.
    config_src = os.environ.get('MDE_INTEGRATION_CONFIG') or os.path.join(REPO_ROOT, extra)
    if os.path.isfile(config_src) and extra not in files:
        files.append(extra)
    prune_tree(tree, set(files))
    copied = 0
    for rel in files:
        src, dst = os.path.join(REPO_ROOT, rel), os.path.join(tree, rel)
        if rel == extra:
            src = config_src
        if same_file(src, dst):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.lexists(dst):
            remove_path(dst)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
        copied += 1
    return copied


def user_pip_config() -> configparser.RawConfigParser:
    """Merge the real user's pip configuration and PIP_* variables (ansible-test drops the latter) into one config."""
    config = configparser.RawConfigParser()
    home = os.path.expanduser('~')
    xdg = os.environ.get('XDG_CONFIG_HOME') or os.path.join(home, '.config')
    paths = [os.path.join(home, '.pip', 'pip.conf'), os.path.join(xdg, 'pip', 'pip.conf')]
    if os.environ.get('PIP_CONFIG_FILE') and os.environ['PIP_CONFIG_FILE'] != os.devnull:
        paths.append(os.environ['PIP_CONFIG_FILE'])
    config.read([path for path in paths if os.path.isfile(path)], encoding='utf-8')
    for key, value in sorted(os.environ.items()):
        if key.startswith('PIP_') and key not in ('PIP_CONFIG_FILE', 'PIP_BREAK_SYSTEM_PACKAGES'):
            if not config.has_section('global'):
                config.add_section('global')
            config.set('global', key[4:].lower().replace('_', '-'), value)
    return config


def write_if_changed(path: str, content: str) -> None:
    """Write a text file unless it already has this content."""
    with contextlib.suppress(OSError):
        with open(path, encoding='utf-8') as handle:
            if handle.read() == content:
                return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(content)


def prepare_home(home: str, pip_versions: t.List[str]) -> t.List[str]:
    """Set up the scratch HOME: pip configuration and a get-pip shim per pinned pip version; return the shim paths."""
    config = user_pip_config()
    pip_conf = os.path.join(home, '.config', 'pip', 'pip.conf')
    if config.sections():
        os.makedirs(os.path.dirname(pip_conf), exist_ok=True)
        with tempfile.NamedTemporaryFile('w', dir=os.path.dirname(pip_conf), delete=False, encoding='utf-8') as handle:
            config.write(handle)
        os.replace(handle.name, pip_conf)
    elif os.path.exists(pip_conf):
        os.unlink(pip_conf)
    shims = []
    for version in pip_versions:
        shim = os.path.join(home, '.ansible', 'test', 'cache', f'get_pip_{version.replace(".", "_")}.py')
        write_if_changed(shim, GET_PIP_SHIM)
        shims.append(shim)
    return shims


def output_snapshot(root: str) -> t.Dict[str, t.Tuple[int, int]]:
    """Return {path: (mtime_ns, size)} of the files under root (a tests/output folder), .tmp left out."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root:
            dirnames[:] = [d for d in dirnames if d not in OUTPUT_SKIP]
        for name in filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = (info.st_mtime_ns, info.st_size)
    return found


def copy_results(src_root: str, dst_root: str, mirror: bool = False,
                 unchanged: t.Optional[t.Dict[str, t.Tuple[int, int]]] = None) -> None:
    """Copy tests/output results (junit, coverage, bot files...) from src_root to dst_root, skipping .tmp.

    With mirror, the results already in dst_root are removed first, so that the scratch tree
    starts from the repository's tests/output (as an in-place ansible-test run would) and clearing it
    in the repository also clears stale results of earlier runs.

    With unchanged (an output_snapshot() of src_root taken before the run), only the files the run
    wrote are copied: the copy back never puts what was copied in before the run over files that
    another run beside it (make test's lanes) has written to the repository's tests/output meanwhile.
    """
    if mirror and os.path.isdir(dst_root):
        for name in os.listdir(dst_root):
            if name not in OUTPUT_SKIP:
                remove_path(os.path.join(dst_root, name))
    if not os.path.isdir(src_root):
        return
    if unchanged is not None:
        for rel, stamp in output_snapshot(src_root).items():
            src = os.path.join(src_root, rel)
            if unchanged.get(rel) != stamp and not os.path.islink(src):
                dst = os.path.join(dst_root, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if os.path.isdir(dst) and not os.path.islink(dst):
                    shutil.rmtree(dst)
                shutil.copy2(src, dst)
        return
    for name in os.listdir(src_root):
        if name in OUTPUT_SKIP:
            continue
        src, dst = os.path.join(src_root, name), os.path.join(dst_root, name)
        os.makedirs(dst_root, exist_ok=True)
        if os.path.isdir(src) and not os.path.islink(src):
            if os.path.lexists(dst) and not os.path.isdir(dst):
                os.unlink(dst)
            shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
        else:
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            shutil.copy2(src, dst, follow_symlinks=False)


def collection_name() -> t.Tuple[str, str]:
    """Read namespace and name from galaxy.yml (without a YAML parser)."""
    values = {'namespace': 'defender', 'name': 'endpoint'}
    with contextlib.suppress(OSError):
        with open(os.path.join(REPO_ROOT, 'galaxy.yml'), encoding='utf-8') as handle:
            for line in handle:
                match = re.match(r'^(namespace|name):\s*[\'"]?([A-Za-z0-9_]+)[\'"]?\s*(?:#.*)?$', line)
                if match:
                    values[match.group(1)] = match.group(2)
    return values['namespace'], values['name']


def scratch_root(option: t.Optional[str]) -> str:
    """Return the scratch folder for this repository (outside it: tests/output would otherwise be inside the tree)."""
    if option:
        return os.path.abspath(option)
    digest = hashlib.sha256(REPO_ROOT.encode('utf-8')).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), SCRATCH_NAME, digest)


def ansible_test_env(venv: str, home: str, collections: str) -> t.Dict[str, str]:
    """Return the environment for ansible-test: ours, with the scratch HOME and the virtualenv first on PATH."""
    env = dict(os.environ)
    env['PYENV_ROOT'] = env.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv')  # keep pyenv shims working under the new HOME
    env.update(
        HOME=home,
        PATH=os.pathsep.join([os.path.join(venv, 'bin'), env.get('PATH', os.defpath)]),
        VIRTUAL_ENV=venv,
        ANSIBLE_COLLECTIONS_PATH=collections,
    )
    env.pop('PYTHONHOME', None)
    return env


def select_venv(args: argparse.Namespace) -> t.Tuple[str, t.Dict[str, str]]:
    """Return the virtualenv to take ansible-test from and what it holds."""
    if args.core:
        venv = ensure_core_venv(args.core, args.python_bin)
    else:
        venv = os.path.abspath(args.venv or os.path.join(REPO_ROOT, '.venv'))
    info = installed_core(venv)
    if not info or not os.path.exists(os.path.join(venv, 'bin', 'ansible-test')):
        fail(f'{venv} has no ansible-core/ansible-test: install it there (pip install ansible-core) or use --core X.Y')
    return venv, info


def run_ansible_test(venv: str, info: t.Dict[str, str], root: str, ansible_test_args: t.List[str],
                     results: t.Optional[str] = None) -> int:
    """Refresh the scratch tree and home under root, run ansible-test there and copy its results back."""
    collections = os.path.join(root, 'collections')
    tree = os.path.join(collections, 'ansible_collections', *collection_name())
    home = os.path.join(root, 'home')
    os.makedirs(tree, exist_ok=True)
    os.makedirs(home, exist_ok=True)
    repo_output = os.path.abspath(results) if results else os.path.join(REPO_ROOT, 'tests', 'output')
    tree_output = os.path.join(tree, 'tests', 'output')

    started = time.monotonic()
    copied = sync_tree(tree)
    copy_results(repo_output, tree_output, mirror=True)
    copied_in = output_snapshot(tree_output)
    pip_versions = pinned_pip_versions(info['ansible_test_dir'])
    if not pip_versions:
        log('WARNING: found no pinned pip version in ansible-test; pip bootstrapping may try to download get-pip')
    shims = prepare_home(home, pip_versions)

    cmd = [os.path.join(venv, 'bin', 'ansible-test')] + ansible_test_args
    log(f'ansible-core {info["core"]} (Python {info["python"]}) from {venv}')
    log(f'collection tree {tree} ({copied} file(s) refreshed from {REPO_ROOT})')
    log(f'HOME {home}; get-pip shims for pip {", ".join(pip_versions) or "-"}: {", ".join(os.path.basename(s) for s in shims) or "-"}')
    log('running: ' + ' '.join(cmd))
    try:
        returncode = subprocess.run(cmd, cwd=tree, env=ansible_test_env(venv, home, collections), check=False).returncode
    except KeyboardInterrupt:
        returncode = 130
    copy_results(tree_output, repo_output, unchanged=copied_in)
    log(f'ansible-test exited with {returncode} after {time.monotonic() - started:.0f}s; results copied to {repo_output}')
    return returncode


def main(argv: t.List[str]) -> int:
    """Entry point."""
    args = parse_args(argv)
    venv, info = select_venv(args)
    root = scratch_root(args.scratch)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, '.lock'), 'w', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one run per scratch tree at a time
        return run_ansible_test(venv, info, root, args.ansible_test_args, args.results)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
