"""Reading the admin pages' forms and placing a refusal beside the field it is about.

The pages validate with the JSON API's request schemas and call its use cases, so their errors
name fields by the API's camelCase path (``channels.1.templateName``). A page turns such a path
into the name of its own input with a ``FieldNamer``; an error no input owns is shown above the
form (key ``FORM``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from parlay.lib.errors import ParlayError

FORM = "form"  # the key of an error shown above the form, not beside one field

FieldNamer = Callable[[str], str | None]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """``lookbackPeriodDay`` -> ``lookback_period_day``: the input of a top-level API field."""
    return _CAMEL.sub("_", name).lower()


def top_level(known: Iterable[str]) -> FieldNamer:
    """The namer of a flat form whose inputs are the API's fields in snake case."""
    names = frozenset(known)

    def name(path: str) -> str | None:
        field = snake(path.split(".")[0])
        return field if field in names else None

    return name


def nested(known: Iterable[str]) -> FieldNamer:
    """The namer of a form whose inputs join the API path in snake case: ``rateLimits.c2m`` is
    the input ``rate_limits_c2m``."""
    names = frozenset(known)

    def name(path: str) -> str | None:
        field = "_".join(snake(part) for part in path.split("."))
        return field if field in names else None

    return name


def whole_number(value: str) -> int | str | None:
    """A whole number typed in a form; what is not one is passed on for the schema to refuse
    (its strict integers take no text)."""
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def optional(form: FormData, key: str) -> str | None:
    """The input's text, or None when left empty (the API's "left out")."""
    value = text(form, key).strip()
    return value or None


def checked(form: FormData, key: str) -> bool:
    return key in form


def chosen(form: FormData, key: str) -> list[str]:
    """The values of a group of checkboxes (or a multiple select) sharing one name."""
    return [v for v in form.getlist(key) if isinstance(v, str)]


def words(value: str) -> list[str]:
    """A list typed in one input, separated by commas, spaces or lines."""
    return [w for w in re.split(r"[\s,]+", value) if w]


def _pydantic_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def validation_errors(exc: ValidationError, namer: FieldNamer) -> dict[str, str]:
    """The schema's refusals, each beside its input (the first one per input)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        path = _pydantic_path(error["loc"])
        message = str(error["msg"])
        if error["type"] == "extra_forbidden":
            continue  # the page builds the body itself: never an extra field
        errors.setdefault(namer(path) or FORM, _sentence(message))
    return errors


def parlay_errors(exc: ParlayError, namer: FieldNamer) -> dict[str, str] | None:
    """A use case's refusal placed beside the fields it names; None when it names none (the
    page then shows it as an error page, or above the form)."""
    if not exc.errors:
        return None
    errors: dict[str, str] = {}
    for field_error in exc.errors:
        errors.setdefault(namer(field_error.field) or FORM, _sentence(field_error.message))
    return errors


def _sentence(message: str) -> str:
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else message + "."


def refusal(exc: ParlayError, namer: FieldNamer) -> dict[str, str]:
    """Beside its fields when it names some, else above the form."""
    return parlay_errors(exc, namer) or {FORM: _sentence(exc.detail)}


def describe(value: Any) -> str:
    """A datetime or nothing, for a table cell."""
    if value is None:
        return "—"
    strftime = getattr(value, "strftime", None)
    if strftime is not None:
        return str(strftime("%Y-%m-%d %H:%M UTC"))
    return str(value)
