"""The API's OpenAPI document (issue 17) against the app and the code: it
describes every route the app serves and no other, the same routes as the
roles' table; its enums are the code's; a request that breaks it is named
by its field, never quoted; the docs page fetches nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dialer.access.roles import ROUTES
from dialer.agents import http as agents_http
from dialer.agents.disposition import DispositionEffect
from dialer.agents.events import AgentEvents
from dialer.agents.state import PERSON_ACTIONS, AgentState
from dialer.api.server import features
from dialer.cli import build_parser
from dialer.http import build_app
from dialer.messages.model import Channel, Trigger
from dialer.messages.templates import SEGMENTS
from dialer.openapi import docs_page, document, operations, request_refusal
from dialer.outbound.defaults import CAMPAIGN_DEFAULTS
from dialer.outbound.lifecycles import CampaignAction, CampaignState
from dialer.portfolio.model import AccountStatus, DialMode, DoNotCallReason, Segment
from dialer.reports import http as reports_http
from dialer.reports.commands import KINDS

ATTEMPT = {"attempt": str(uuid.uuid4())}


def test_the_document_describes_every_route_of_the_app_and_of_the_roles_table() -> None:
    app = build_app("t" * 32, None, features(None, AgentEvents(), None, Path("/nonexistent")))
    served = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.method != "HEAD"}
    documented = {(method.upper(), path) for path, item in document()["paths"].items()
                  for method in item if method != "parameters"}
    assert documented == set(operations()) == served == set(ROUTES)
    # Every operation answers the shared error shape for a bad request and,
    # but the public ones, for a missing token.
    for (method, path), rule in ROUTES.items():
        responses = document()["paths"][path][method.lower()]["responses"]
        assert "400" in responses
        assert rule.public or {"401", "403"} <= set(responses), (method, path)


def _enum(schema_name: str) -> list[str]:
    return document()["components"]["schemas"][schema_name]["enum"]


def test_its_enums_are_the_codes() -> None:
    schemas = document()["components"]["schemas"]
    assert _enum("Channel") == [c.value for c in Channel]
    assert _enum("Trigger") == [t.value for t in Trigger]
    assert _enum("AgentState") == [s.value for s in AgentState]
    assert schemas["Disposition"]["properties"]["effect"]["enum"] == [
        e.value for e in DispositionEffect]
    assert schemas["TemplateVersion"]["properties"]["segment"]["enum"] == [
        s or "any" for s in SEGMENTS]
    paths = document()["paths"]
    action = paths["/agents/{endpoint}/{action}"]["post"]["parameters"][1]
    assert action["schema"]["enum"] == [*PERSON_ACTIONS, agents_http.SESSION_ACTION]
    of = paths["/reports/strategy"]["get"]["parameters"][0]
    assert (of["name"], of["schema"]["enum"]) == ("of", list(KINDS))
    assert list(paths["/reports/strategy"]["get"]["responses"]["200"]["content"]) == list(
        reports_http.FORMATS.values())


@pytest.mark.parametrize(("route", "path", "query", "body", "refused"), [
    (("POST", "/attempts/{attempt}/disposition"), ATTEMPT, {}, {"code": "PTP"}, None),
    (("POST", "/attempts/{attempt}/disposition"), ATTEMPT, {}, {},
     'the body\'s "code" is required'),
    (("POST", "/attempts/{attempt}/disposition"), ATTEMPT, {}, {"code": ""},
     'the body\'s "code" must not be empty'),
    (("POST", "/attempts/{attempt}/disposition"), {"attempt": "4111"}, {}, {"code": "PTP"},
     "the path's 'attempt' must be an id (a UUID)"),
    (("POST", "/accounts/{reference}/messages/preview"), {"reference": "R"}, {},
     {"campaign": "c", "trigger": "agent_link", "channel": "sms", "language": None}, None),
    (("POST", "/accounts/{reference}/messages/preview"), {"reference": "R"}, {},
     {"campaign": "c", "trigger": "nudge", "channel": "sms"},
     'the body\'s "trigger" must be one of ' + ", ".join(t.value for t in Trigger)),
    (("GET", "/reports/strategy"), {}, {"to": "2026-12-01", "format": "csv"}, None, None),
    (("GET", "/reports/strategy"), {}, {"to": "yesterday"}, None,
     "the query's 'to' must be a date (YYYY-MM-DD)"),
])
def test_a_request_that_breaks_the_document_is_named_by_its_field(
        route, path, query, body, refused) -> None:
    operation = operations()[route]
    given = {} if body is None else {"body": body}
    assert request_refusal(operation, path, query, **given) == refused


def test_a_refusal_never_quotes_the_value() -> None:
    secret = "4242-not-a-uuid-secret"
    refused = request_refusal(operations()[("POST", "/attempts/{attempt}/payment")],
                              {"attempt": secret}, {})
    assert refused == "the path's 'attempt' must be an id (a UUID)"


def test_the_docs_page_lists_every_operation_and_fetches_nothing() -> None:
    page = docs_page()
    for method, path in operations():
        assert f"<code>{method}</code></td><td><code>{path}</code>" in page
    assert "http" not in page.replace('href="openapi.json"', "")
    assert "<script" not in page and "anyone (no token)" in page


def test_every_request_body_takes_only_the_fields_it_lists() -> None:
    # JSON bodies (an import's body is a file, read by the importer).
    bodies = {(method, path): operation["requestBody"]["content"]["application/json"]["schema"]
              for path, item in document()["paths"].items() for method, operation in item.items()
              if method != "parameters"
              and "application/json" in operation.get("requestBody", {}).get("content", {})}
    assert len(bodies) >= 10
    assert {key: schema.get("additionalProperties") for key, schema in bodies.items()} == {
        key: False for key in bodies}
    refused = request_refusal(operations()[("POST", "/attempts/{attempt}/disposition")],
                              ATTEMPT, {}, {"code": "PTP", "colour": "red"})
    assert refused == 'the body\'s "colour" is not a field of this request'


def test_a_new_campaign_gets_the_same_defaults_from_the_api_as_from_the_shell() -> None:
    body = document()["paths"]["/campaigns"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]
    documented = {name: field["default"] for name, field in body.items() if "default" in field}
    documented["segments"] = ",".join(documented["segments"])
    del documented["allow_abandon_above_cap"], documented["amd"]  # flags: off unless given
    assert documented == CAMPAIGN_DEFAULTS
    parser = build_parser()
    args = parser.parse_args(["campaign", "create", "spring"])
    assert {name: getattr(args, name) for name in CAMPAIGN_DEFAULTS} == CAMPAIGN_DEFAULTS


def test_the_campaigns_accounts_and_lists_enums_are_the_codes() -> None:
    assert _enum("DialMode") == [m.value for m in DialMode]
    assert _enum("Segment") == [s.value for s in Segment]
    assert _enum("CampaignState") == [s.value for s in CampaignState]
    assert _enum("AccountStatus") == [s.value for s in AccountStatus]
    assert _enum("DoNotCallReason") == [r.value for r in DoNotCallReason]
    steer = document()["paths"]["/campaigns/{campaign}/{action}"]["post"]["parameters"][1]
    assert steer["schema"]["enum"] == [a.value for a in CampaignAction]


@pytest.mark.parametrize(("query", "refused"), [
    ({"limit": "20", "after": "7"}, None),
    ({"limit": "many"}, "the query's 'limit' must be a whole number (at most 4 digits)"),
    ({"after": "-1"}, "the query's 'after' must be a whole number (at most 18 digits)"),
])
def test_a_page_is_asked_for_in_whole_numbers(query, refused) -> None:
    assert request_refusal(operations()[("GET", "/accounts")], {}, query) == refused
