"""The event catalogue: classes and subclasses of cases (in the spirit of CJ/T 214).

The bureau edits `data/catalogue.toml`; it is validated here on load, and a file
that breaks a rule is refused with a message naming the entry. Each subclass
carries what intake needs: its default tier, its time limit in working hours,
its reply limit (答复, in working hours or days; the file's default else),
how near and how recent a duplicate must be, and the responsible department.
The working calendar itself lives in `data/holidays.toml` (cases.calendar).
The loaded catalogue is cached per file and reloaded when the file changes.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cases.calendar.config import TimeLimit
from cases.errors import InvalidInput
from cases.tomlfile import load_cached
from gis.settings import get_settings

Tier = Literal["minor", "moderate", "major"]
CATALOGUE_FILE = "catalogue.toml"

_CLASS_CODE = re.compile(r"^[0-9]{2}$")
_SUBCLASS_CODE = re.compile(r"^[0-9]{4}$")
_DEPARTMENT_CODE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
DEFAULT_REPLY_LIMIT = TimeLimit.days(5)  # when neither the subclass nor the file sets one


class _ReplyLimitIn(BaseModel):
    """The reply limit (答复时限) fields: working hours or working days, not both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reply_limit_hours: float | None = Field(default=None, gt=0, le=10_000, allow_inf_nan=False)
    reply_limit_days: int | None = Field(default=None, ge=1, le=365)

    @model_validator(mode="after")
    def _one_unit(self) -> _ReplyLimitIn:
        if self.reply_limit_hours is not None and self.reply_limit_days is not None:
            raise ValueError("give reply_limit_hours or reply_limit_days, not both")
        return self


class CatalogueError(ValueError):
    """A catalogue file that breaks a rule; the message names the file and entry."""


class _SubclassIn(_ReplyLimitIn):
    """A subclass as written in the file (class fields are filled in from its class)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str = Field(min_length=1, max_length=50)
    tier: Tier
    time_limit_hours: float = Field(gt=0, le=10_000, allow_inf_nan=False)
    duplicate_radius_m: float = Field(gt=0, le=5_000, allow_inf_nan=False)
    duplicate_window_hours: float = Field(gt=0, le=8_760, allow_inf_nan=False)
    department: str
    keywords: tuple[str, ...] = ()
    description: str = ""

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not _SUBCLASS_CODE.fullmatch(value):
            raise ValueError("a subclass code is four digits, e.g. '0101'")
        return value

    @field_validator("department")
    @classmethod
    def _department(cls, value: str) -> str:
        if not _DEPARTMENT_CODE.fullmatch(value):
            raise ValueError("a department code is 1-16 letters or digits, e.g. 'D02'")
        return value


class _ClassIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str = Field(min_length=1, max_length=50)
    description: str = ""
    emergency: bool = False
    subclasses: tuple[_SubclassIn, ...] = Field(min_length=1)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not _CLASS_CODE.fullmatch(value):
            raise ValueError("a class code is two digits, e.g. '01'")
        return value


class _FileIn(_ReplyLimitIn):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = ""
    version: str = ""
    calendar: dict[str, Any] | None = None  # refused: the calendar has its own file
    classes: tuple[_ClassIn, ...] = Field(min_length=1)

    @field_validator("calendar")
    @classmethod
    def _calendar_moved(cls, value: dict[str, Any] | None) -> None:
        if value is not None:
            raise ValueError(
                "the working calendar moved to data/holidays.toml; "
                "remove [calendar] from the catalogue"
            )


class Subclass(BaseModel):
    """One subclass (小类) with everything intake needs; `code` is the service code."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    class_code: str
    class_name: str
    tier: Tier
    time_limit_hours: float
    duplicate_radius_m: float
    duplicate_window_hours: float
    department: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    reply_limit_hours: float | None = None
    reply_limit_days: int | None = None
    emergency: bool = False
    """Of an emergency class (突发事件): intake raises it to `CG_EMERGENCY_TIER`."""

    @property
    def time_limit(self) -> TimeLimit:
        """The handling limit, from dispatch (see cases.calendar.handling_deadline)."""
        return TimeLimit.hours(self.time_limit_hours)

    @property
    def reply_limit(self) -> TimeLimit:
        """The limit to reply to the resident, from receipt (cases.calendar.reply_deadline)."""
        found = TimeLimit.from_fields(self.reply_limit_hours, self.reply_limit_days)
        return found or DEFAULT_REPLY_LIMIT


class EventClass(BaseModel):
    """One class (大类) and its subclasses, in file order."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    description: str = ""
    emergency: bool = False
    subclasses: tuple[Subclass, ...]


class Catalogue(BaseModel):
    """The whole catalogue; subclasses are looked up by code."""

    model_config = ConfigDict(frozen=True)

    title: str = ""
    version: str = ""
    classes: tuple[EventClass, ...]

    @cached_property
    def subclasses(self) -> tuple[Subclass, ...]:
        """Every subclass, in file order (class by class)."""
        return tuple(s for c in self.classes for s in c.subclasses)

    @cached_property
    def _by_code(self) -> dict[str, Subclass]:
        return {s.code: s for s in self.subclasses}

    def subclass(self, code: str) -> Subclass:
        """The subclass with this code, or InvalidInput(field="subclass")."""
        found = self._by_code.get(code.strip()) if isinstance(code, str) else None
        if found is None:
            shown = code if isinstance(code, str) and len(code) <= 20 else "(too long)"
            first = self.subclasses[0]
            raise InvalidInput(
                f"unknown subclass {shown!r}: use one of the {len(self._by_code)} codes "
                f"listed by GET /api/v1/catalogue, e.g. {first.code!r} ({first.name})",
                field="subclass",
            )
        return found

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the whole catalogue."""
        return self.model_dump(mode="json")


def _entry_name(raw: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """Name the entry a validation error is in, e.g. `class 02 (宣传广告) subclass 0203`."""
    parts: list[str] = []
    node: Any = raw
    for i, key in enumerate(loc):
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(key, int) and isinstance(node, dict):
            kind = "class" if loc[i - 1] == "classes" else "subclass"
            code, name = node.get("code"), node.get("name")
            label = f"{kind} {code}" if code is not None else f"{kind} #{key + 1}"
            parts.append(f"{label} ({name})" if name else label)
    field = loc[-1] if loc and isinstance(loc[-1], str) else ""
    where = " ".join(parts) or "top level"
    return f"{where}, field {field!r}" if field else where


def parse_catalogue(raw: dict[str, Any], source: str = "catalogue") -> Catalogue:
    """Validate the parsed TOML `raw`; CatalogueError names the first bad entries."""
    try:
        parsed = _FileIn.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        # A list whose items failed is also reported "too short": keep only the items.
        locs = [tuple(e["loc"]) for e in errors]
        errors = [
            e
            for e in errors
            if not (
                e["type"] == "too_short"
                and any(
                    len(other) > len(e["loc"]) and other[: len(e["loc"])] == tuple(e["loc"])
                    for other in locs
                )
            )
        ]
        problems = [f"{_entry_name(raw, tuple(e['loc']))}: {e['msg']}" for e in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise CatalogueError(f"{source}: " + "; ".join(problems) + more) from None
    seen_classes: set[str] = set()
    seen_subclasses: dict[str, str] = {}
    default_reply = {
        "reply_limit_hours": parsed.reply_limit_hours,
        "reply_limit_days": parsed.reply_limit_days,
    }
    classes: list[EventClass] = []
    for c in parsed.classes:
        if c.code in seen_classes:
            raise CatalogueError(f"{source}: class {c.code} ({c.name}): code used twice")
        seen_classes.add(c.code)
        subs: list[Subclass] = []
        for s in c.subclasses:
            label = f"{source}: class {c.code} ({c.name}) subclass {s.code} ({s.name})"
            if not s.code.startswith(c.code):
                raise CatalogueError(f"{label}: code must start with its class code {c.code}")
            if s.code in seen_subclasses:
                raise CatalogueError(f"{label}: code already used by {seen_subclasses[s.code]}")
            seen_subclasses[s.code] = s.name
            fields = s.model_dump()
            if s.reply_limit_hours is None and s.reply_limit_days is None:
                fields.update(default_reply)
            subs.append(
                Subclass(class_code=c.code, class_name=c.name, emergency=c.emergency, **fields)
            )
        classes.append(
            EventClass(
                code=c.code,
                name=c.name,
                description=c.description,
                emergency=c.emergency,
                subclasses=tuple(subs),
            )
        )
    return Catalogue(title=parsed.title, version=parsed.version, classes=tuple(classes))


def _parse_file(raw: dict[str, Any], path: Path) -> Catalogue:
    return parse_catalogue(raw, str(path))


def default_path() -> Path:
    """Where the catalogue is read from: `<data_dir>/catalogue.toml`."""
    return get_settings().data_dir / CATALOGUE_FILE


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and validate the catalogue (cached; re-read when the file changes)."""
    path = (path or default_path()).resolve()
    return load_cached(path, _parse_file, CatalogueError, "catalogue")
