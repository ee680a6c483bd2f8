# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throw-away redis-server for the tests of the Redis rate budget (issue 14).

    with RedisServer(password='...') as server:
        server.url          # redis://:PASSWORD@127.0.0.1:PORT/0
        server.stop(); server.start()   # the same port again (a server that went away and came back)

Listens on a free loopback port (never a fixed one), keeps nothing on disk (``--save ''
--appendonly no``, a scratch working folder) and is stopped on exit. Readiness is a PING answered,
polled with a deadline, never a fixed sleep. Needs the ``redis-server`` binary (Debian's
redis-server package; `.ci/run` installs it when missing).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _ping(port, password, timeout=0.5):
    """True when the server on ``port`` answers PING (after AUTH when it has a password)."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
            if password:
                sock.sendall(b'AUTH %s\r\n' % password.encode())
                if not sock.recv(64).startswith(b'+OK'):
                    return False
            sock.sendall(b'PING\r\n')
            return sock.recv(64).startswith(b'+PONG')
    except OSError:
        return False


class RedisServer:
    """One redis-server process on 127.0.0.1; ``start``/``stop`` may be called again (same port, empty data)."""

    def __init__(self, password=None, binary='redis-server', deadline=30.0):
        self.binary = shutil.which(binary) or binary
        self.password = password
        self.deadline = deadline
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix='mde-redis-')
        self.process = None

    @property
    def url(self):
        auth = ':%s@' % self.password if self.password else ''
        return 'redis://%s127.0.0.1:%d/0' % (auth, self.port)

    def start(self):
        args = [self.binary, '--port', str(self.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                '--dir', self.folder, '--daemonize', 'no', '--loglevel', 'warning']
        if self.password:
            args += ['--requirepass', self.password]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until = time.monotonic() + self.deadline
        while not _ping(self.port, self.password):
            if self.process.poll() is not None:
                raise RuntimeError('redis-server exited with %s (port %d taken?)' % (self.process.returncode, self.port))
            if time.monotonic() > until:
                self.stop()
                raise RuntimeError('redis-server did not answer PING on port %d within %.0f s' % (self.port, self.deadline))
            time.sleep(0.05)  # polling for readiness under a deadline, not synchronisation by sleeping
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
