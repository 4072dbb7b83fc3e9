"""What a hostile run tries, as scripted-model scenarios.

Each attempt is a shell command the scripted model has Codex run, written
as an attacker who knows how ccplane is laid out would write it: it hunts
the whole filesystem for keys and other runs' files, reads every process's
environment it can see, scans every loopback port, tries the database's
Unix socket, writes where it should not, and exhausts processes and memory.
Every command ends by printing a ``DONE:<name>`` marker, so a test can tell
an attempt that ran and found nothing from one that never ran.
"""

from __future__ import annotations

from typing import Any

# Paths the hunt must never be able to write (checked on the host afterwards).
WRITE_TARGETS = ("/etc/ccplane-pwned", "/var/lib/ccplane/ccplane-pwned", "/usr/local/ccplane-pwned")

_PRUNE = r"\( -path /proc -o -path /sys -o -path /dev \) -prune -o"

HUNT_KEYS = (
    f"for f in $(find / {_PRUNE} \\( -name admin.key -o -name internal.key -o -name '*.key' \\) "
    '-type f -print 2>/dev/null); do echo "== $f"; cat "$f" 2>&1; done; echo DONE:keys'
)
HUNT_FILES = (
    f"find / {_PRUNE} \\( -path '*blob-cache*' -o -path '*/threads/*' -o -name 'rollout-*.jsonl' "
    "-o -name 'victim-secret*' -o -name 'config.toml' -o -name 'auth.json' \\) -type f -print 2>/dev/null "
    '| head -300 | while read -r f; do echo "== $f"; head -c 20000 "$f" 2>&1; echo; done; '
    "ls -la /var/lib/ccplane/sessions/* 2>&1 | head -50; echo DONE:files"
)
HUNT_PROC = (
    "for p in /proc/[0-9]*; do echo \"== $p $(tr '\\0' ' ' < $p/cmdline 2>&1)\"; "
    "tr '\\0' '\\n' < $p/environ 2>&1; done; echo \"== parent $PPID\"; "
    "tr '\\0' '\\n' < /proc/$PPID/environ 2>&1; echo DONE:proc"
)
PRINT_ENV = "env; echo DONE:env"
NET_SCAN = r"""python3 - <<'PY'
import socket
found, errors = [], {}
for port in range(1, 65536):
    try:
        with socket.socket() as s:
            s.settimeout(0.3)
            if s.connect_ex(("127.0.0.1", port)) == 0 and s.getsockname() != s.getpeername():
                found.append(port)  # (a socket may connect to itself: not a listener)
    except OSError as exc:
        key = f"{type(exc).__name__}:{exc.errno}"
        errors[key] = errors.get(key, 0) + 1
print("OPEN-PORTS", found)
print("SOCKET-ERRORS", errors)
for path in ("/var/run/postgresql/.s.PGSQL.5432", "/run/postgresql/.s.PGSQL.5432", "/var/run/docker.sock"):
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            print("UNIX-OPEN", path)
    except OSError as exc:
        print("unix refused", path, exc)
PY
echo DONE:net"""
WRITE_OUTSIDE = (
    " ; ".join(f"(echo pwned > {t}) 2>&1" for t in WRITE_TARGETS)
    + ' ; for d in $(find / -type d -name executors 2>/dev/null | head -5); do (touch "$d/pwned") 2>&1; done'
    + "; echo DONE:write"
)
READ_MCP_LOOT = (
    "for i in $(seq 100); do grep -q MCP-DONE /tmp/mcp-loot.txt 2>/dev/null && break; sleep 0.2; done; "
    "cat /tmp/mcp-loot.txt 2>&1; echo DONE:mcp"
)
# What the hostile MCP server runs (outside Codex's command sandbox, inside the session's confinement).
MCP_HUNT = (
    f"{{ {HUNT_KEYS}; {HUNT_PROC}; env; }} > /tmp/mcp-loot.txt 2>&1; echo MCP-DONE >> /tmp/mcp-loot.txt"
)

FORK_BOMB = r"""python3 - <<'PY'
import os, time
children = 0
try:
    for _ in range(5000):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
    print("FORKED-ALL", children)
except OSError as exc:
    print("FORK-STOPPED after", children, "children:", exc)
PY
echo DONE:fork"""
MEMORY_BOMB = (
    "python3 -c \"x = bytearray(b'x') * (3 * 1024**3); print('ALLOC' + 'ATED-ALL', len(x))\"; "
    'echo "memory bomb exit $?"; echo DONE:memory'
)

VICTIM_QUESTION = {
    "id": "go",
    "header": "Go",
    "question": "Shall I go on?",
    "options": [{"label": "Go on", "description": "Finish"}, {"label": "Stop", "description": "Stop"}],
}

HUNTS = {
    "keys": HUNT_KEYS,
    "files": HUNT_FILES,
    "proc": HUNT_PROC,
    "env": PRINT_ENV,
    "net": NET_SCAN,
    "write": WRITE_OUTSIDE,
    "mcp": READ_MCP_LOOT,
}


def _chain(commands: list[str], final: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"output": [{"exec": commands[0]}]}]
    steps += [{"when_contains": "function_call_output", "output": [{"exec": c}]} for c in commands[1:]]
    steps.append({"when_contains": "function_call_output", "output": [{"message": final}]})
    return {"steps": steps}


def library(victim_secret: str) -> dict[str, Any]:
    """The scenarios: the victim's work, the attack, the exhaustion."""
    return {
        # Writes its secret, then waits for a person: live for as long as the tests need.
        "victim": {
            "steps": [
                {"output": [{"exec": f"echo {victim_secret} > victim-secret.txt && cat victim-secret.txt"}]},
                {
                    "when_contains": "function_call_output",
                    "output": [{"tool": "request_user_input", "arguments": {"questions": [VICTIM_QUESTION]}}],
                },
                {"when_contains": "Go on", "output": [{"message": "Victim work done."}]},
            ]
        },
        "attack": _chain(list(HUNTS.values()), "Attack finished."),
        "exhaust": _chain([FORK_BOMB, MEMORY_BOMB], "Exhaustion finished."),
        "quick": _chain(["echo still-serving"], "Still serving."),
    }
