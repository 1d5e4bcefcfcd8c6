"""The API's roles (issue 17), pure: which role a route allows, what a
token's secret looks like and what is kept of it, how long a token lasts."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest

from dialer.access.roles import (
    ROUTES,
    Principal,
    Role,
    new_secret,
    parse_lifetime,
    refusal,
    rule_for,
    secret_hash,
)

AGENT = Principal(7, Role.AGENT, "agent1001")
SUPERVISOR = Principal(8, Role.SUPERVISOR)


def test_a_route_missing_from_the_table_is_refused_to_everyone() -> None:
    assert rule_for("DELETE", "/agents") is None
    assert refusal(Principal(None, Role.ADMIN), None) == "no role may use this route"


def test_head_is_get_and_staff_routes_refuse_agents() -> None:
    assert rule_for("HEAD", "/agents") is ROUTES[("GET", "/agents")]
    templates = rule_for("GET", "/campaigns/{campaign}/templates")
    assert refusal(AGENT, templates) == ("a token of role agent may not use this route "
                                         "(admin or supervisor only)")
    assert refusal(SUPERVISOR, templates) is None
    correction = rule_for("POST", "/attempts/{attempt}/disposition/correction")
    assert refusal(AGENT, correction) is not None and refusal(SUPERVISOR, correction) is None


def test_a_secret_is_recognisable_random_and_kept_as_its_sha256() -> None:
    one, two = new_secret(), new_secret()
    assert re.fullmatch(r"rcb_[A-Za-z0-9_-]{43}", one) and one != two
    assert secret_hash(one) == hashlib.sha256(one.encode()).digest()


@pytest.mark.parametrize(("text", "lifetime"), [
    ("90m", timedelta(minutes=90)), ("12h", timedelta(hours=12)), ("30d", timedelta(days=30)),
    (" 1d ", timedelta(days=1))])
def test_lifetimes(text, lifetime) -> None:
    assert parse_lifetime(text) == lifetime


@pytest.mark.parametrize("text", ["", "12", "0h", "-1d", "1w", "1.5h", "3651d", "h"])
def test_a_lifetime_that_is_not_one_names_the_form(text) -> None:
    with pytest.raises(ValueError, match="--expires-in"):
        parse_lifetime(text)
