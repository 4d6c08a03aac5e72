"""Settings for the spatial core, read once from the environment (and `.env`).

`DATABASE_URL` points at any PostGIS; when it is unset the project runs its own
PostgreSQL cluster under `var/pgdata` and connects to that. Everything else has
the prefix `CG_` (community-grid), e.g. `CG_PG_PORT=55433`.

Two database roles: the application's (`DATABASE_URL`, or `cg_app` on the
project's server) and the owner's, which runs the migrations and owns the
schema (`CG_OWNER_DATABASE_URL`, or `cg_owner`). The project's server wants
their passwords, which `grid db start` makes and keeps in `var/secrets.env`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
"""The repository root: data/, var/ and the migrations are found from here."""


class Settings(BaseSettings):
    """What an operator may set; defaults suit a developer machine."""

    model_config = SettingsConfigDict(
        env_prefix="CG_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # The application's URL (the role `grid serve`, the CLI and the tests use)
    # and the owner's (migrations, grants). With only DATABASE_URL one role
    # does both, and least privilege is not in force.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CG_DATABASE_URL")
    )
    owner_database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CG_OWNER_DATABASE_URL", "DATABASE_OWNER_URL"),
    )
    database_name: str = "community_grid"

    # The roles on the project-owned server, and their passwords: from the
    # environment, or from the secrets file that `grid db start` writes.
    app_role: str = "cg_app"
    owner_role: str = "cg_owner"
    app_password: SecretStr | None = None
    owner_password: SecretStr | None = None
    secrets_file: Path = ROOT / "var" / "secrets.env"

    # The project-owned cluster, used when DATABASE_URL is unset. The binaries
    # are found (see `find_pg_bin`) unless CG_PG_BIN names them.
    pg_bin: Path | None = None
    pg_data: Path = ROOT / "var" / "pgdata"
    pg_port: int = 55432
    pg_user: str = "postgres"

    # The bureau's own district (GB/T 2260 county code) and its layout data.
    home_district_code: str = "440703"
    data_dir: Path = ROOT / "data"

    # Locating: a point in a sliver gap inside the district goes to the nearest
    # grid within this distance; the same distance decides the "gap" check.
    gap_snap_m: float = 50.0

    # Hot statements are PREPAREd once per pooled connection (gis.prepared).
    # Turn off behind a pooler in transaction mode (PgBouncer), where prepared
    # statements do not follow a client from one transaction to the next.
    prepared_statements: bool = True
    # Bulk assignment (cases.bulk): a file with at least this many good rows is
    # written into partitions of its own, indexed after the load and attached
    # (foreign keys checked once, set-based); smaller files go row by row.
    bulk_partition_rows: int = Field(default=100_000, ge=1)
    # Layout checks: overlaps between siblings and gaps in the parent's
    # coverage smaller than these are noise, larger ones stop a load.
    overlap_tolerance_m2: float = 10.0
    gap_tolerance_m2: float = 100.0
    outside_tolerance_m2: float = 100.0

    # The HTTP API (api/): the largest request body read (more is 413, also when
    # sent chunked), the most fields an Open311 form may carry, and the workers
    # `grid serve` starts when --workers is not given (0: one per CPU core).
    api_max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # A patrol's upload carries its GPS track (GPX or GeoJSON): a morning's track at
    # one point a second is a few MB, so that one route reads up to this much.
    api_max_track_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    api_max_form_fields: int = Field(default=100, ge=1)
    api_workers: int = Field(default=0, ge=0)

    # Key for personal data at rest (Fernet, urlsafe base64): CG_DATA_KEY, or the
    # key file. A key is made only while the database holds no encrypted data
    # (gis.privacy.require_key); back the file up together with the database.
    data_key: str | None = None
    data_key_file: Path = ROOT / "var" / "data.key"

    # Maps (maps/): the base layer under every map ("none" needs no network), the
    # Tianditu key, and when the builders stop drawing raw points and draw cells.
    map_base_layer: Literal["none", "tianditu", "amap"] = "none"
    tianditu_key: str | None = None
    map_raw_points_max: int = Field(default=20_000, ge=0)
    map_markers_max: int = Field(default=2_000, ge=0)
    map_cell_m: float = Field(default=100.0, gt=0)
    map_simplify_m: float = Field(default=3.0, ge=0)

    # Login (cases.accounts): the secret that signs tokens (a key file under
    # var/ is made once when unset), their lifetime, and the throttle: after
    # this many failed logins for one username within the window, refuse (429).
    auth_secret: str | None = None
    auth_key_file: Path = ROOT / "var" / "auth.key"
    auth_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=900, ge=1)

    # Duty and patrols (cases.stations): a check-in counts inside the community's
    # polygon or within this distance of the station; the weekly rule (half a day
    # on duty); a patrol covers its track buffered this far on each side.
    duty_checkin_radius_m: float = Field(default=200.0, gt=0, le=10_000)
    duty_rule_hours: float = Field(default=4.0, gt=0, le=168)
    patrol_buffer_m: float = Field(default=30.0, gt=0, le=1_000)
    patrol_max_points: int = Field(default=100_000, ge=2)

    # The case lifecycle (cases.lifecycle). Tier raising at intake: the same
    # subclass reported this many times in one grid within this many days
    # moves up one tier; a class flagged `emergency` in the catalogue goes to
    # `emergency_tier`. The bureau's own department (cases of another one in a
    # 党建+N grid are shared with it). The deputy leader in charge of major
    # cases (officer code; default: the active deputy leader with the lowest
    # code). The escalation sweeper: every `escalate_interval_s` seconds inside
    # the service (0: off), in batches of `escalate_batch` cases per transaction.
    # Open311 GETs of requests and tokens can be made to need an api_key.
    repeat_report_count: int = Field(default=3, ge=2, le=1000)
    repeat_report_days: float = Field(default=30.0, gt=0, le=366)
    emergency_tier: Literal["moderate", "major"] = "major"
    bureau_department: str = "D02"
    deputy_in_charge: str | None = None
    escalate_interval_s: float = Field(default=60.0, ge=0, le=86_400)
    escalate_batch: int = Field(default=2_000, ge=1, le=100_000)
    open311_get_requires_key: bool = False

    @model_validator(mode="after")
    def _secrets_and_binaries(self) -> Self:
        """Read the passwords from the secrets file; find the PostgreSQL binaries."""
        secrets = read_secrets(self.secrets_file)
        if self.app_password is None and "CG_APP_PASSWORD" in secrets:
            self.app_password = SecretStr(secrets["CG_APP_PASSWORD"])
        if self.owner_password is None and "CG_OWNER_PASSWORD" in secrets:
            self.owner_password = SecretStr(secrets["CG_OWNER_PASSWORD"])
        if self.pg_bin is None and self.managed_cluster:
            self.pg_bin = find_pg_bin(self.pg_data)
        return self

    @property
    def managed_cluster(self) -> bool:
        """True when the project runs its own PostgreSQL (no DATABASE_URL)."""
        return not self.database_url

    def url_for(self, database: str | None = None) -> str:
        """The application's SQLAlchemy URL of `database` (default: the project's)."""
        if self.database_url:
            return _with_database(self.database_url, database)
        return self._managed_url(self.app_role, self.app_password, database)

    def owner_url_for(self, database: str | None = None) -> str:
        """The owner's URL of `database`: migrations, grants, creating databases."""
        if self.owner_database_url:
            return _with_database(self.owner_database_url, database or self.database)
        if self.database_url:
            return _with_database(self.database_url, database)
        return self._managed_url(self.owner_role, self.owner_password, database)

    def _managed_url(self, role: str, password: SecretStr | None, database: str | None) -> str:
        secret = f":{password.get_secret_value()}" if password else ""
        name = database or self.database_name
        return f"postgresql+psycopg2://{role}{secret}@127.0.0.1:{self.pg_port}/{name}"

    @property
    def app_role_name(self) -> str:
        """The application's role: the user of DATABASE_URL, or `app_role`."""
        return _user_of(self.database_url) if self.database_url else self.app_role

    @property
    def owner_role_name(self) -> str:
        """The owner's role: the user of the owner's URL (the app's when only one is given)."""
        if self.owner_database_url:
            return _user_of(self.owner_database_url)
        return self.app_role_name if self.database_url else self.owner_role

    @property
    def database(self) -> str:
        """The name of the project's database, from the URL when one is given."""
        if self.database_url:
            return self.database_url.rpartition("/")[2].split("?")[0]
        return self.database_name


def _with_database(url: str, database: str | None) -> str:
    if database is None:
        return url
    base, _, rest = url.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{database}" + (f"?{query}" if query else "")


def _user_of(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).username or ""


def read_secrets(path: Path) -> dict[str, str]:
    """`NAME=value` lines of the secrets file (none when it is missing or unreadable)."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def find_pg_bin(pg_data: Path) -> Path | None:
    """The PostgreSQL binaries for the project's cluster.

    The cluster's own major version when it exists (a cluster runs only under
    its major); otherwise the newest installed major with PostGIS 3, then the
    newest installed one, then `pg_config --bindir` (non-Debian layouts).
    """
    root = Path("/usr/lib/postgresql")
    version = pg_data / "PG_VERSION"
    if version.exists():
        own = root / version.read_text().strip() / "bin"
        if (own / "pg_ctl").exists():
            return own

    def major(p: Path) -> int:
        return int(p.name) if re.fullmatch(r"\d+", p.name) else -1

    installed = sorted(
        (d for d in root.glob("*") if (d / "bin" / "pg_ctl").exists()), key=major, reverse=True
    )
    with_postgis = [d for d in installed if any((d / "lib").glob("postgis-3*.so"))]
    if with_postgis or installed:
        return (with_postgis or installed)[0] / "bin"
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run(  # noqa: S603 - a fixed argument list
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if out.returncode == 0 and (Path(out.stdout.strip()) / "pg_ctl").exists():
            return Path(out.stdout.strip())
    return None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache to override)."""
    return Settings()
