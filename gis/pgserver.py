"""The project-owned PostgreSQL cluster: init, start, stop, status, and its roles.

When `DATABASE_URL` is set, none of this runs: the operator owns the server.
The cluster lives under `var/pgdata` and listens on 127.0.0.1 and a socket in
its own folder. Every TCP connection gives a password (scram-sha-256); the
server's OS user administers it through the Unix socket (peer). As root, the
server runs as the `postgres` system user, since PostgreSQL refuses to run as
root.

Two roles serve the project (see migrations/rights.py for what each may do):
the owner (`cg_owner`: runs the migrations, owns the schema, may create
databases) and the application (`cg_app`: not a superuser, owns nothing).
`grid db start` makes them, with random passwords kept in `var/secrets.env`
(mode 0600, never committed), and upgrades a cluster made before this (one
that trusted every local connection) in place. Every step checks first, so
running it again changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from gis.settings import Settings

# Tuned for a 2-core, 24 GB machine doing bulk spatial joins.
SERVER_OPTIONS = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "1GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "effective_cache_size": "8GB",
    "max_connections": "200",
    "max_parallel_workers_per_gather": "2",
    "random_page_cost": "1.1",
    "jit": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "4GB",
    "wal_buffers": "64MB",
    "wal_compression": "lz4",
    "checkpoint_timeout": "15min",
}


class ClusterError(RuntimeError):
    """The project-owned cluster could not be set up or started."""


@dataclass(frozen=True)
class ClusterStatus:
    """What `grid db status` reports."""

    managed: bool
    running: bool
    detail: str


def _as_server_user(cmd: list[str], settings: Settings) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", settings.pg_user, "--", *cmd]
    return cmd


def _run(
    cmd: list[str], settings: Settings, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argument lists, no shell
        _as_server_user(cmd, settings), input=stdin, capture_output=True, text=True, check=False
    )


def _bin(settings: Settings, name: str) -> str:
    """The path of a PostgreSQL program (the binaries are found by settings)."""
    if settings.pg_bin is None or not (settings.pg_bin / name).exists():
        where = settings.pg_bin or "/usr/lib/postgresql/*/bin"
        raise ClusterError(f"PostgreSQL's {name} not found in {where}; run `make setup`")
    return str(settings.pg_bin / name)


def _pg_ctl(settings: Settings) -> str:
    return _bin(settings, "pg_ctl")


def _prepare_folder(data: Path, settings: Settings) -> None:
    data.parent.mkdir(parents=True, exist_ok=True)
    data.mkdir(mode=0o700, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data, settings.pg_user, settings.pg_user)
        # The server user must be able to reach the folder through its parents.
        for parent in [data.parent, *data.parent.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)


def init_cluster(settings: Settings) -> bool:
    """Create the cluster if it does not exist; True when it was created."""
    data = settings.pg_data
    if (data / "PG_VERSION").exists():
        return False
    _prepare_folder(data, settings)
    result = _run(
        [
            _bin(settings, "initdb"),
            "-D",
            str(data),
            "-U",
            settings.pg_user,
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        settings,
    )
    if result.returncode != 0:
        raise ClusterError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
    _write_auth_files(settings)
    return True


def status(settings: Settings) -> ClusterStatus:
    """Whether the project-owned server is running (or that it is not ours)."""
    if not settings.managed_cluster:
        return ClusterStatus(False, True, "DATABASE_URL is set: the server is not managed here")
    if not (settings.pg_data / "PG_VERSION").exists():
        return ClusterStatus(True, False, f"no cluster at {settings.pg_data}")
    result = _run([_pg_ctl(settings), "status", "-D", str(settings.pg_data)], settings)
    running = result.returncode == 0
    where = f"{settings.pg_data}, port {settings.pg_port}"
    auth = (
        "password on TCP (scram-sha-256)"
        if _auth_files_current(settings)
        else "TRUSTS local connections: run `grid db start` to require passwords"
    )
    return ClusterStatus(True, running, f"{'running' if running else 'stopped'}: {where}; {auth}")


def start(settings: Settings) -> str:
    """Init (if needed) and start the project-owned server; idempotent."""
    if not settings.managed_cluster:
        return "DATABASE_URL is set: nothing to start"
    created = init_cluster(settings)
    if status(settings).running:
        secured = secure(settings)
        return f"already running ({settings.pg_data}, port {settings.pg_port}); {secured}"
    options = " ".join(f"-c {k}={v}" for k, v in SERVER_OPTIONS.items())
    options += f" -p {settings.pg_port} -k {settings.pg_data}"
    log = settings.pg_data / "server.log"
    result = _run(
        [
            _pg_ctl(settings),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(settings.pg_data),
            "-l",
            str(log),
            "-o",
            options,
        ],
        settings,
    )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise ClusterError(
            f"PostgreSQL did not start on port {settings.pg_port}: "
            f"{result.stderr.strip()}\n{tail}\n"
            "Is another server using that port? Set CG_PG_PORT to choose another."
        )
    _wait_ready(settings)
    secured = secure(settings)
    return (
        f"{'created and ' if created else ''}started ({settings.pg_data}, "
        f"port {settings.pg_port}); {secured}"
    )


def _wait_ready(settings: Settings, timeout: float = 30.0) -> None:
    isready = _bin(settings, "pg_isready")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = subprocess.run(  # noqa: S603
            [isready, "-h", "127.0.0.1", "-p", str(settings.pg_port)],
            capture_output=True,
            check=False,
        )
        if result.returncode == 0:
            return
        time.sleep(0.2)
    raise ClusterError(f"PostgreSQL on port {settings.pg_port} is not accepting connections")


def stop(settings: Settings) -> str:
    """Stop the project-owned server; a no-op when it is not running."""
    if not settings.managed_cluster:
        return "DATABASE_URL is set: nothing to stop"
    if not status(settings).running:
        return "not running"
    result = _run(
        [_pg_ctl(settings), "stop", "-w", "-m", "fast", "-D", str(settings.pg_data)], settings
    )
    if result.returncode != 0:
        raise ClusterError(f"pg_ctl stop failed: {result.stderr.strip()}")
    return "stopped"


# ------------------------------------------------------------ the roles ---

HBA = """\
# community-grid: written by gis/pgserver.py (`grid db start`); edits are replaced.
# The server's OS user administers through the Unix socket (peer, map "cg");
# every TCP connection gives a password (scram-sha-256).
local   all   all                  peer map=cg
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""

_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# What each role may do on the server as a whole (its rights inside the
# database are in migrations/rights.py).
_ATTRIBUTES = {
    "owner": {"rolcanlogin": True, "rolcreatedb": True},
    "app": {"rolcanlogin": True, "rolcreatedb": False},
}
_ALWAYS_OFF = ("rolsuper", "rolcreaterole", "rolreplication", "rolbypassrls")
_KEYWORD = {
    "rolcanlogin": "LOGIN",
    "rolcreatedb": "CREATEDB",
    "rolsuper": "SUPERUSER",
    "rolcreaterole": "CREATEROLE",
    "rolreplication": "REPLICATION",
    "rolbypassrls": "BYPASSRLS",
}


def _ident(settings: Settings) -> str:
    server_user = _server_os_user(settings)
    return (
        "# community-grid: the server's OS user may connect as the superuser.\n"
        f"cg   {server_user}   {settings.pg_user}\n"
    )


def _server_os_user(settings: Settings) -> str:
    """Who runs the server: the owner of the data folder."""
    import pwd

    try:
        return pwd.getpwuid(settings.pg_data.stat().st_uid).pw_name
    except (OSError, KeyError):
        return settings.pg_user


def _auth_files_current(settings: Settings) -> bool:
    data = settings.pg_data
    try:
        hba = (data / "pg_hba.conf").read_text()
        ident = (data / "pg_ident.conf").read_text()
    except OSError:
        return False
    return hba == HBA and ident == _ident(settings)


def _write_auth_files(settings: Settings) -> bool:
    """Write pg_hba.conf and pg_ident.conf unless they are current; True if written."""
    if _auth_files_current(settings):
        return False
    data = settings.pg_data
    owner = data.stat()
    for name, text in (("pg_hba.conf", HBA), ("pg_ident.conf", _ident(settings))):
        path = data / name
        fresh = data / f".{name}.new"
        fresh.write_text(text)
        fresh.chmod(0o600)
        if os.geteuid() == 0:
            os.chown(fresh, owner.st_uid, owner.st_gid)
        fresh.replace(path)
    return True


def superuser_sql(settings: Settings, sql: str, database: str = "postgres") -> list[list[str]]:
    """Run SQL as the superuser through the Unix socket; the rows it prints.

    Only the server's OS user may do this (peer authentication), so only a
    set-up running as that user or as root gets here.
    """
    result = _run(
        [
            _bin(settings, "psql"),
            "-X",
            "-q",
            "-At",
            "-F",
            "\x1f",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(settings.pg_data),
            "-p",
            str(settings.pg_port),
            "-U",
            settings.pg_user,
            "-d",
            database,
        ],
        settings,
        stdin=sql,
    )
    if result.returncode != 0:
        raise ClusterError(f"as the superuser: {result.stderr.strip()}")
    return [line.split("\x1f") for line in result.stdout.splitlines() if line]


def ensure_secrets(settings: Settings) -> dict[str, str]:
    """The roles' passwords from the secrets file, made (random) where missing.

    The file is `NAME=value` lines, mode 0600; Settings reads it.
    """
    from gis.settings import read_secrets

    path = settings.secrets_file
    known = read_secrets(path)
    wanted = {"CG_OWNER_PASSWORD", "CG_APP_PASSWORD"}
    if wanted <= known.keys():
        path.chmod(0o600)
        return known
    for name in sorted(wanted - known.keys()):
        known[name] = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.new")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            "# community-grid: passwords of the database roles, made by `grid db start`.\n"
            "# Private (mode 0600), never committed; Settings reads them.\n"
        )
        f.writelines(f"{k}={v}\n" for k, v in sorted(known.items()))
    fresh.replace(path)
    return known


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """A SCRAM-SHA-256 verifier, as PostgreSQL stores it (RFC 5802/7677).

    Sent instead of the password itself, so the clear text never reaches the
    server (nor its log).
    """
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def scram_matches(verifier: str, password: str) -> bool:
    """True when `verifier` (from pg_authid) was made from `password`."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier or "")
    if not match:
        return False
    iterations, salt = int(match[1]), base64.b64decode(match[2])
    return hmac.compare_digest(scram_verifier(password, salt, iterations), verifier)


def ensure_roles(settings: Settings, passwords: dict[str, str]) -> list[str]:
    """Create or correct the owner and application roles; what was changed."""
    roles = {
        "owner": (settings.owner_role, passwords["CG_OWNER_PASSWORD"]),
        "app": (settings.app_role, passwords["CG_APP_PASSWORD"]),
    }
    for name, _ in roles.values():
        if not _ROLE_NAME.fullmatch(name):
            raise ClusterError(f"role name {name!r}: use lower-case letters, digits and _")
    cols = ["rolname", *_KEYWORD, "coalesce(rolpassword, '')"]
    names = ", ".join(f"'{name}'" for name, _ in roles.values())
    rows = superuser_sql(
        settings, f"SELECT {', '.join(cols)} FROM pg_authid WHERE rolname IN ({names})"
    )
    found = {r[0]: r for r in rows}
    statements: list[str] = []
    changed: list[str] = []
    for kind, (name, password) in roles.items():
        want = {**{k: False for k in _ALWAYS_OFF}, **_ATTRIBUTES[kind]}
        clause = " ".join(("" if on else "NO") + _KEYWORD[k] for k, on in want.items())
        row = found.get(name)
        if row is None:
            statements.append(
                f"CREATE ROLE {name} WITH {clause} PASSWORD '{scram_verifier(password)}';"
            )
            changed.append(f"created role {name}")
            continue
        have = dict(zip(_KEYWORD, (v == "t" for v in row[1:-1]), strict=True))
        if have != want:
            statements.append(f"ALTER ROLE {name} WITH {clause};")
            changed.append(f"corrected the attributes of {name}")
        if not scram_matches(row[-1], password):
            statements.append(f"ALTER ROLE {name} WITH PASSWORD '{scram_verifier(password)}';")
            changed.append(f"set the password of {name}")
    # The owner may end the application's sessions (DROP DATABASE ... WITH
    # (FORCE) of a test database): it is a member of the application's role.
    owner, app = settings.owner_role, settings.app_role
    member = superuser_sql(
        settings,
        "SELECT 1 FROM pg_auth_members "
        f"WHERE roleid = to_regrole('{app}') AND member = to_regrole('{owner}')",
    )
    if not member:
        statements.append(f"GRANT {app} TO {owner};")
        changed.append(f"{owner} may end the sessions of {app}")
    if statements:
        superuser_sql(settings, "\n".join(statements))
    return changed


def secure(settings: Settings) -> str:
    """Roles with passwords, and a password on every TCP connection; idempotent.

    Upgrades a cluster made before the roles existed (trust on loopback) in
    place: roles first, then the authentication files, then a reload.
    """
    passwords = ensure_secrets(settings)
    changed = ensure_roles(settings, passwords)
    if _write_auth_files(settings):
        result = _run([_pg_ctl(settings), "reload", "-D", str(settings.pg_data)], settings)
        if result.returncode != 0:
            raise ClusterError(f"pg_ctl reload failed: {result.stderr.strip()}")
        changed.append("password required on TCP (pg_hba.conf rewritten, reloaded)")
    roles = f"roles {settings.owner_role} (owner) and {settings.app_role} (application)"
    if not changed:
        return f"{roles} ready, passwords in {settings.secrets_file}"
    return f"{roles}: " + "; ".join(changed) + f"; passwords in {settings.secrets_file}"
