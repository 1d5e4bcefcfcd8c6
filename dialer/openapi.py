"""The API's OpenAPI 3.1 document (dialer/openapi.yaml, the one home of
each route's parameters, body and answers) and what is checked from it:
a request's path and query parameters and JSON body against the
operation's schemas (jsonschema, draft 2020-12, the dialect of OpenAPI
3.1), with what is wrong named by its field and never quoted (a value may
be a secret). The middleware that applies it is dialer.http's; the page
that lists the operations for a person is here."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from dialer.access.roles import ROUTES, Role

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# How a format's refusal reads: what the value must be.
_FORMATS = {"uuid": "an id (a UUID)", "date": "a date (YYYY-MM-DD)",
            "date-time": "a date and time (ISO 8601)"}

# A query or path parameter that is a whole number is text of digits (a
# query holds text): its pattern, said in words.
_DIGITS = re.compile(r"\^\[0-9\]\{1,([0-9]+)\}\$")


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # "path" or "query"
    required: bool
    validator: Draft202012Validator


@dataclass(frozen=True)
class Operation:
    """What a route takes: its parameters and its JSON body's schema (None:
    it reads no body)."""

    method: str
    path: str
    summary: str
    parameters: tuple[Parameter, ...]
    body: Draft202012Validator | None


@cache
def document() -> dict[str, Any]:
    """The document as the app serves it."""
    return yaml.safe_load(files("dialer").joinpath("openapi.yaml").read_text("utf-8"))


def _inlined(node: Any, root: dict[str, Any]) -> Any:
    """node with every local $ref replaced by what it names (the document
    has no recursive schema), so each schema validates on its own."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            # Keywords beside the $ref (a default, a description) are kept.
            siblings = {key: value for key, value in node.items() if key != "$ref"}
            return _inlined({**target, **siblings}, root)
        return {key: _inlined(value, root) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(item, root) for item in node]
    return node


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FormatChecker())


@cache
def operations() -> dict[tuple[str, str], Operation]:
    """(method, path as the routes declare it) -> its operation."""
    root = document()
    found: dict[tuple[str, str], Operation] = {}
    for path, item in _inlined(root["paths"], root).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            parameters = tuple(
                Parameter(p["name"], p["in"], p.get("required", False), _validator(p["schema"]))
                for p in item.get("parameters", []) + operation.get("parameters", []))
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            found[(method.upper(), path)] = Operation(
                method.upper(), path, operation.get("summary", ""), parameters,
                None if body is None else _validator(body))
    return found


def _field(where: str, path: list[str | int]) -> str:
    """A field named as the API's errors name it: the body's "a"[2]."""
    if not path:
        return where
    return f"{where}'s " + "".join(
        f"[{part}]" if isinstance(part, int) else json.dumps(part, ensure_ascii=False)
        for part in path)


def _what_it_must_be(error: ValidationError) -> str:
    """What the value must be, from the schema alone (never the value)."""
    kind, wanted = error.validator, error.validator_value
    if kind == "type":
        types = [wanted] if isinstance(wanted, str) else wanted
        return "must be " + " or ".join({"object": "a JSON object", "array": "a list",
                                         "string": "text", "null": "null"}.get(t, t)
                                        for t in types)
    if kind == "enum":
        return "must be one of " + ", ".join(map(str, wanted))
    if kind == "const":
        return f"must be {json.dumps(wanted)}"
    if kind == "format":
        return f"must be {_FORMATS.get(wanted, wanted)}"
    if kind == "minLength":
        return "must not be empty" if wanted == 1 else f"must be at least {wanted} characters"
    if kind == "maxLength":
        return f"must be at most {wanted} characters"
    if kind in ("oneOf", "anyOf") and "description" in error.schema:
        return f"must be {error.schema['description']}"  # the forms, in words
    if kind == "pattern":
        digits = _DIGITS.fullmatch(wanted)
        if digits:
            return f"must be a whole number (at most {digits.group(1)} digits)"
        return f"must match {wanted}"
    return f"breaks the schema's {kind!r}"


def _refusal(where: str, validator: Draft202012Validator, value: object) -> str | None:
    error = best_match(validator.iter_errors(value))
    if error is None:
        return None
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = next(name for name in error.validator_value if name not in error.instance)
        return f"{_field(where, [*path, missing])} is required"
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = next(name for name in error.instance if name not in known)
        return f"{_field(where, [*path, extra])} is not a field of this request"
    return f"{_field(where, path)} {_what_it_must_be(error)}"


# What a missing body reads as: a route's handler takes none as {}.
NO_BODY: dict[str, object] = {}


def request_refusal(operation: Operation, path: Mapping[str, str], query: Mapping[str, str],
            body: object = NO_BODY) -> str | None:
    """What is wrong with a request to operation (a 400's message naming
    the field: the path's 'attempt', the query's 'from', the body's
    "code"), or None."""
    for parameter in operation.parameters:
        values = path if parameter.where == "path" else query
        if parameter.name not in values:
            if parameter.required:
                return f"the {parameter.where}'s {parameter.name!r} is required"
            continue
        refused = _refusal(f"the {parameter.where}'s {parameter.name!r}", parameter.validator,
                           values[parameter.name])
        if refused:
            return refused
    if operation.body is not None:
        return _refusal("the body", operation.body, body)
    return None


def _who(method: str, path: str) -> str:
    rule = ROUTES.get((method, path))
    if rule is None:
        return "nobody"
    if rule.public:
        return "anyone (no token)"
    roles = ", ".join(r.value for r in Role if r in rule.roles)
    return roles + (f" (an agent: its own {rule.own.value})"
                    if rule.own is not None and Role.AGENT in rule.roles else "")


def docs_page() -> str:
    """A self-contained HTML page (nothing fetched from elsewhere) listing
    the operations and who may use each, pointing at /openapi.json."""
    rows = "\n".join(
        f"<tr><td><code>{op.method}</code></td><td><code>{html.escape(op.path)}</code></td>"
        f"<td>{html.escape(op.summary)}</td><td>{html.escape(_who(op.method, op.path))}</td></tr>"
        for op in operations().values())
    title = html.escape(document()["info"]["title"])
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title>\n<style>body{{font-family:sans-serif;margin:2em}}"
            f"td{{padding:.2em .8em;vertical-align:top}}</style></head><body>\n"
            f"<h1>{title}</h1>\n<p>The machine-readable description: "
            f"<a href=\"openapi.json\">openapi.json</a> (OpenAPI 3.1). Every route but these "
            f"two needs <code>Authorization: Bearer ...</code>.</p>\n"
            f"<table><tr><th>method</th><th>path</th><th>what</th><th>who may</th></tr>\n"
            f"{rows}\n</table></body></html>\n")
