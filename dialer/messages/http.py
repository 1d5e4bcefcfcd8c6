"""The messages' routes: templates the collections team edits without a
deploy (list, every version, save a new one, preview for a real account),
an account's messages, and an agent's "send the link" during a call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from dialer.errors import ConfigError
from dialer.http import json_body, json_error, principal_of
from dialer.messages.composing import compose
from dialer.messages.model import Channel, Trigger
from dialer.messages.store import (
    OutboxMessage,
    TemplateVersion,
    account_messages,
    current_template,
    enqueue,
    latest_templates,
    message_account,
    save_template,
    template_versions,
)
from dialer.messages.templates import (
    TemplateKey,
    TemplateRefused,
    allowed_variables,
)
from dialer.settings import load_payment_link_settings

POOL = web.AppKey("messages_pool", asyncpg.Pool)


def _version(version: TemplateVersion) -> dict[str, object]:
    key = version.key
    return {"id": version.id, "campaign": key.campaign, "segment": key.segment or "any",
            "trigger": key.trigger.value, "channel": key.channel.value,
            "language": key.language, "version": version.version, "subject": version.subject,
            "body": version.body, "author": version.author,
            "created_at": version.created_at.isoformat()}


def message_json(message: OutboxMessage) -> dict[str, object]:
    return {"id": message.id, "trigger": message.trigger.value,
            "channel": message.channel.value, "status": message.status,
            "attempts": message.attempts, "template_id": message.template_id,
            "recipient": message.recipient, "refused_rule": message.refused_rule,
            "last_error": message.last_error}


def _key(request: web.Request) -> TemplateKey:
    """The template the path names (each part one the document allows:
    checked already)."""
    info = request.match_info
    return TemplateKey(info["campaign"], "" if info["segment"] == "any" else info["segment"],
                       Trigger(info["trigger"]), Channel(info["channel"]), info["language"])


async def list_templates(request: web.Request) -> web.Response:
    versions = await latest_templates(request.app[POOL], request.match_info["campaign"])
    return web.json_response([_version(v) for v in versions])


async def template_history(request: web.Request) -> web.Response:
    key = _key(request)
    versions = await template_versions(request.app[POOL], key)
    if not versions:
        return json_error(404, f"no template {key}; variables it may use: "
                               + ", ".join(allowed_variables(key.trigger)))
    return web.json_response([_version(v) for v in versions])


async def save_version(request: web.Request) -> web.Response:
    """A new version of the template (the earlier ones stay); 422 naming
    the field and line of what is wrong."""
    # The body's fields and their types are the document's (checked already).
    body = await json_body(request)
    try:
        saved = await save_template(request.app[POOL], _key(request), body["body"],
                                    body.get("subject"), principal_of(request).name)
    except TemplateRefused as error:
        return json_error(422, f"template refused: {error}")
    except ConfigError as error:
        return json_error(400, str(error))
    return web.json_response(_version(saved), status=201)


async def preview(request: web.Request) -> web.Response:
    """The message a real account would get, rendered exactly as it would
    be sent today (the trigger's own values are samples), with an SMS's
    encoding and segments."""
    # The body's fields and their choices are the document's (checked already).
    body = await json_body(request)
    try:
        links = load_payment_link_settings()
        composed = await compose(request.app[POOL], links, body["campaign"],
                                 request.match_info["reference"], Trigger(body["trigger"]),
                                 Channel(body["channel"]), datetime.now(UTC),
                                 language=body.get("language"))
    except (ConfigError, TemplateRefused) as error:
        return json_error(422, str(error))
    sms = composed.sms
    return web.json_response({
        "template": _version(composed.template), "subject": composed.rendered.subject,
        "body": composed.rendered.body,
        "sms": None if sms is None else {"encoding": sms.encoding.value,
                                         "segments": sms.segments, "units": sms.units}})


async def history(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    reference = request.match_info["reference"]
    account = await pool.fetchval("SELECT id FROM accounts WHERE reference = $1", reference)
    if account is None:
        return json_error(404, f"no account with reference {reference!r}")
    return web.json_response([message_json(m) for m in await account_messages(pool, account)])


async def send_link(request: web.Request) -> web.Response:
    """An agent's "send the link": the call's debtor gets the campaign's
    agent_link message by the channel asked for, once per call and
    channel (asking again answers with the same message)."""
    # A UUID and sms or email: the document's (checked already).
    call = uuid.UUID(request.match_info["attempt"])
    channel = Channel((await json_body(request)).get("channel", "sms"))
    pool = request.app[POOL]
    row = await pool.fetchrow("SELECT account_id, campaign_id FROM attempts WHERE id = $1", call)
    if row is None:
        return json_error(404, f"no attempt {call}")
    campaign, account = await message_account(pool, row["campaign_id"], row["account_id"])
    key = TemplateKey(campaign, account.segment, Trigger.AGENT_LINK, channel, account.language)
    if await current_template(pool, key) is None:
        return json_error(409, f"no template for {key}: save one first")
    idempotency = f"agent:{call}"
    made = await enqueue(pool, account.id, row["campaign_id"], Trigger.AGENT_LINK, channel,
                         idempotency)
    message = made or await pool.fetchval(
        "SELECT id FROM messages WHERE trigger = $1 AND channel = $2 AND idempotency_key = $3",
        Trigger.AGENT_LINK.value, channel.value, idempotency)
    return web.json_response({"attempt": str(call), "message": message,
                              "channel": channel.value,
                              "status": "queued" if made else "already queued"},
                             status=202 if made else 200)


def installer(pool: asyncpg.Pool):
    """What puts the messages' routes on the API's application (a preview
    reads the payment links' settings when asked: without them the API
    serves everything else, and a preview names the missing setting)."""
    def install(app: web.Application) -> None:
        app[POOL] = pool
        template = "/campaigns/{campaign}/templates/{segment}/{trigger}/{channel}/{language}"
        app.add_routes([
            web.get("/campaigns/{campaign}/templates", list_templates),
            web.get(template, template_history),
            web.post(template, save_version),
            web.post("/accounts/{reference}/messages/preview", preview),
            web.get("/accounts/{reference}/messages", history),
            web.post("/attempts/{attempt}/link", send_link),
        ])
    return install
