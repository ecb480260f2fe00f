#!/usr/bin/env python3
"""What systemd does with opstream-fcgi.socket and opstream-fcgi.service,
for the tests (no systemd runs here): holds the listening unix socket,
starts the service with it as LISTEN_FDS (fd 3), starts it again at once
when its main process ends (Restart=always, RestartSec=0), stopping what
is left of it first (KillMode=mixed: SIGTERM the main process, the rest
go with their process group). SIGUSR1 is forwarded (ExecReload), SIGTERM
stops the service and exits.
  usage: socket_unit.py SOCKET_PATH PROGRAM ARGS...
"""
import os
import signal
import socket
import sys

path, argv = sys.argv[1], sys.argv[2:]
if os.path.exists(path):
    os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(path)
os.chmod(path, 0o660)
sock.listen(4096)
stopping = False
main = 0


def start():
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        os.dup2(sock.fileno(), 3)
        os.set_inheritable(3, True)
        env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.execve(argv[0], argv, env)
    return pid


def on_term(sig, frame):
    global stopping
    stopping = True
    if main:
        os.kill(main, signal.SIGTERM)


def on_reload(sig, frame):
    if main:
        os.kill(main, signal.SIGUSR1)


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
signal.signal(signal.SIGUSR1, on_reload)
main = start()
print(f"started {main}", flush=True)
while True:
    try:
        pid, status = os.waitpid(main, 0)
    except InterruptedError:
        continue
    except ChildProcessError:
        break
    try:
        os.killpg(main, signal.SIGTERM)  # what is left of the unit
    except ProcessLookupError:
        pass
    if stopping:
        break
    main = start()
    print(f"restarted {main}", flush=True)
