"""The AsyncAPI 3.0 document of the two channels other programs use: commands published
on the broker, and webhook deliveries to build jobs. Its JSON Schemas are generated from
the models in `events.messages`, `events.envelope` and `events.deliveries`, so the
published contract cannot drift from what the workers accept and send.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from events.broker import COMMAND_ACTOR, COMMANDS_QUEUE
from events.deliveries import DATA_MODELS, TYPES, DeliveryData
from events.envelope import Envelope
from events.messages import COMMAND_TYPES, Command
from events.sealing import PREFIX

CONTRACT_VERSION = "1.0.0"  # of this contract; a breaking change makes it 2.0.0
DIALECT = "application/schema+json;version=draft-2020-12"  # pydantic emits 2020-12
SCHEMAS = "#/components/schemas/"
# a worked sealing example: this key pair is published, never use it
EXAMPLE_PRIVATE_KEY = "mIoiE1MMZmHkUpc_cIDqWQu4qxDYXFaY12q816e4e3Q"
EXAMPLE_PUBLIC_KEY = "xbHeJ4PsKioVMRDHDO6ecvBcovC_B_paVy-Uk6MF7SM"
EXAMPLE_SEALED = (
    "rlseal1.fc8ee9308273.dchYGvBNMoQlnZTSHdd1Oshry3JkDj6TuESCJSWtBTNAeNtccYx0pcwZy97RyV_mJy"
    "xOFI5oVU-cHoWBTqyN"
)  # "s3cret-password" sealed for project "demo"

SEALING = f"""A credential sealed to the workers' public key (`GET /v1/keys/sealing`) with HPKE
(RFC 9180, base mode): KEM DHKEM(X25519, HKDF-SHA256) 0x0020, KDF HKDF-SHA256 0x0001,
AEAD ChaCha20-Poly1305 0x0003. `info` is the UTF-8 bytes of
`reglink/credential/v1|<project>` (the command's `project`), aad is empty, the plaintext is
the UTF-8 secret. Text form: `{PREFIX}.<kid>.<base64url(enc || ciphertext)>`, base64url
without padding; `enc` is the 32-byte encapsulated key, `kid` the first 12 hex digits of
SHA-256 over the 32 raw public-key bytes (the key is served as unpadded base64url).
Worked example: public key `{EXAMPLE_PUBLIC_KEY}` (private `{EXAMPLE_PRIVATE_KEY}`),
project `demo`, secret `s3cret-password` -> `{EXAMPLE_SEALED}`."""

BROKER_LAYOUT = """A dramatiq message on Redis. With `ns` the broker namespace
(`REGLINK_REDIS_NAMESPACE`, default `dramatiq`) and `rid` a fresh unique id: `HSET
{ns}:commands.msgs <rid> <message JSON>`, then `RPUSH {ns}:commands <rid>` (in one
MULTI/EXEC). `options.redis_message_id` must equal `rid`. The worker answers nothing: follow
the command at `GET /v1/commands/{envelope id}`, which is 404 until a worker has taken the
message, then `queued`, `running`, `succeeded` or `failed` (with `error.code`). Write access
to this Redis is owner rights on every project: the broker trusts `actor`."""

DELIVERY_RULES = """One POST per delivery, signed per Standard Webhooks with the job's
`whsec_` secret. A 2xx reply is success. No answer, 5xx, 408, 409 and 429 are retried with
exponential backoff (never before `Retry-After`), up to `REGLINK_DELIVERY_ATTEMPTS` tries;
any other reply (3xx is not followed, other 4xx) fails the delivery at once (an owner can
send it again). A retry is the same delivery: same `webhook-id` (= CloudEvent `id`),
so drop duplicates by `webhook-id`. Order by `data.sequence`: per registry it grows with
every delivery and a job never receives a lower one after a higher one, so a receiver may
drop anything at or below the last `sequence` it handled. Deliveries of an older
`version` than the job already received are not sent."""


def document() -> dict[str, Any]:
    """The whole AsyncAPI document."""
    commands = {c.__name__[0].lower() + c.__name__[1:]: c for c in COMMAND_TYPES.values()}
    events = {_camel(TYPES[k]): k for k in DATA_MODELS}
    schemas = _schemas([*commands.values(), *DATA_MODELS.values(), Envelope])
    for command in commands.values():  # the one field whose format the models cannot say
        fields = schemas[command.__name__]["schema"]["properties"]
        if "sealed_secret" in fields:
            fields["sealed_secret"] = {"anyOf": [_ref("SealedSecret"), {"type": "null"}]}
    schemas["SealedSecret"] = _wrap(
        {
            "type": "string",
            "pattern": rf"^{PREFIX}\.[0-9a-f]{{12}}\.[A-Za-z0-9_-]+$",
            "description": SEALING,
            "examples": [EXAMPLE_SEALED],
        }
    )
    schemas["WebhookHeaders"] = _wrap(_webhook_headers())
    for name, command in commands.items():
        schemas[f"{name}Message"] = _wrap(_dramatiq_message(command))
    for name, kind in events.items():
        schemas[f"{name}Event"] = _wrap(_cloud_event(kind, DATA_MODELS[kind]))
    messages: dict[str, Any] = {
        name: {
            "name": command.TYPE,
            "title": command.__name__,
            "summary": (command.__doc__ or command.__name__).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": _ref(f"{name}Message"),
        }
        for name, command in commands.items()
    }
    for name, kind in events.items():
        messages[name] = {
            "name": TYPES[kind],
            "title": TYPES[kind],
            "summary": (DATA_MODELS[kind].__doc__ or "").strip(),
            "contentType": "application/cloudevents+json",
            "headers": _ref("WebhookHeaders"),
            "payload": _ref(f"{name}Event"),
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "reglink",
            "version": CONTRACT_VERSION,
            "description": "Commands other services publish to reglink's broker, and the "
            "webhooks reglink delivers to build jobs. See docs/publishing.md and "
            "docs/subscribing.md.",
        },
        "servers": {
            "broker": {
                "host": "localhost:6379",
                "protocol": "redis",
                "description": "the dramatiq broker's Redis (`REGLINK_REDIS_URL`)",
            },
            "buildJob": {
                "host": "ci.example.com",
                "protocol": "https",
                "description": "a build job's webhook URL",
            },
        },
        "channels": {
            "commands": {
                "address": "{namespace}:commands",
                "description": BROKER_LAYOUT,
                "servers": [{"$ref": "#/servers/broker"}],
                "parameters": {"namespace": {"default": "dramatiq"}},
                "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in commands},
            },
            "deliveries": {
                "address": None,
                "description": "The webhook URL of each build job. " + DELIVERY_RULES,
                "servers": [{"$ref": "#/servers/buildJob"}],
                "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in events},
            },
        },
        "operations": {
            "publishCommand": _operation("send", "commands", commands, BROKER_LAYOUT),
            "receiveDelivery": {
                **_operation("receive", "deliveries", events, DELIVERY_RULES),
                "bindings": {"http": {"method": "POST"}},
            },
        },
        "components": {"schemas": schemas, "messages": messages},
    }


def _schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    """Every model's JSON Schema (and what it refers to), by model name."""
    _, top = models_json_schema(
        [(m, "validation") for m in models], ref_template=SCHEMAS + "{model}/schema"
    )
    return {name: _wrap(schema) for name, schema in top.get("$defs", {}).items()}


def _dramatiq_message(command: type[Command]) -> dict[str, Any]:
    envelope = {
        "allOf": [_ref("Envelope"), {
            "type": "object",
            "required": ["type", "actor", "data"],
            "properties": {
                "type": {"const": command.TYPE},
                "actor": {"type": "string", "description": "the user name of an owner "
                          "(a member, for a crawl) of the project"},
                "id": {"description": "the command id; `commandid` must equal it"},
                "data": _ref(command.__name__),
            },
        }],
    }  # fmt: skip
    return {
        "type": "object",
        "required": ["queue_name", "actor_name", "args", "kwargs", "options"],
        "properties": {
            "queue_name": {"const": COMMANDS_QUEUE},
            "actor_name": {"const": COMMAND_ACTOR},
            "args": {"type": "array", "prefixItems": [envelope], "minItems": 1, "maxItems": 1},
            "kwargs": {"type": "object", "maxProperties": 0},
            "options": {
                "type": "object",
                "required": ["redis_message_id"],
                "properties": {"redis_message_id": {"type": "string", "minLength": 1}},
            },
            "message_id": {"type": "string", "description": "the envelope id"},
            "message_timestamp": {"type": "integer", "description": "ms since the epoch"},
        },
    }


def _cloud_event(kind: str, data: type[DeliveryData]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "description": "the delivery id, = `webhook-id`"},
            "source": {"type": "string", "pattern": "^/projects/[^/]+/registries/[^/]+$"},
            "type": {"const": TYPES[kind]},
            "subject": {"type": "string", "description": "the registry name"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "data": _ref(data.__name__),
        },
    }


def _webhook_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["webhook-id", "webhook-timestamp", "webhook-signature"],
        "properties": {
            "webhook-id": {"type": "string", "description": "the same on every retry"},
            "webhook-timestamp": {"type": "string", "pattern": "^[0-9]+$"},
            "webhook-signature": {
                "type": "string",
                "description": "`v1,` + base64(HMAC-SHA256(base64-decoded secret after "
                "`whsec_`, `<webhook-id>.<webhook-timestamp>.<body>`)), space-separated",
            },
            "content-type": {"const": "application/cloudevents+json"},
        },
    }


def _operation(action: str, channel: str, messages: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "description": text,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
    }


def _wrap(schema: dict[str, Any]) -> dict[str, Any]:
    return {"schemaFormat": DIALECT, "schema": schema}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"{SCHEMAS}{name}/schema"}


def _camel(type_: str) -> str:
    """`reglink.command.link` -> `commandLink`, `reglink.registry.updated` -> `registryUpdated`."""
    first, *rest = type_.removeprefix("reglink.").replace("_", ".").split(".")
    return first + "".join(part.capitalize() for part in rest)


if __name__ == "__main__":  # python -m events.asyncapi > docs/asyncapi.json
    print(json.dumps(document(), indent=2, sort_keys=True))
