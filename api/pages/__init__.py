"""The HTML pages (zh-CN): start page with the login form, the command centre's
screen, the map pages, error pages.

Templates are Jinja2 with autoescaping on, so every text that came from a
user (a case's description, a username, a query parameter echoed in a form)
is escaped; data handed to a page's script goes through `tojson` (which
escapes <, > and &) and is put on screen with textContent only. Pages refer
to nothing outside the app: the map pages' assets are served from /static
(maps.offline), the others need no asset at all (no web font, no CDN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"

ROLE_LABELS: Final[dict[str, str]] = {
    "officer": "执法队员",
    "squad_leader": "执法中队长",
    "deputy_leader": "分管副局长",
    "chief": "局长",
    "dispatcher": "指挥中心调度员",
    "analyst": "数据分析员",
    "admin": "系统管理员",
}
"""Chinese names of the account roles (cases.accounts.models.ROLES)."""

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"], default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **context: Any) -> str:
    """A template rendered with `context` (autoescaped)."""
    from api.routes.maps import COMMAND_ROLES

    principal = context.get("principal")
    role = principal.role if principal is not None else ""
    context.setdefault("role_label", ROLE_LABELS.get(role, ""))
    context.setdefault("can_dashboard", role in COMMAND_ROLES)
    return _env.get_template(template).render(**context)
