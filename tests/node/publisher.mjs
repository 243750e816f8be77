// A publisher written from docs/publishing.md and the AsyncAPI document alone: it fetches
// the sealing key, seals the secret, builds the envelope and the dramatiq message, enqueues
// it straight into Redis, then follows GET /v1/commands/{id} to the outcome.
//
// stdin: {"type", "project", "actor", "data", "secret"?}; environment: REGLINK_API_URL,
// REGLINK_TOKEN, REDIS_URL, REDIS_NAMESPACE (default "dramatiq").
// stdout: one JSON line {"command_id", "statuses": [...every status seen...], "outcome"}.
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { CipherSuite, HkdfSha256 } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { DhkemX25519HkdfSha256 } from "@hpke/dhkem-x25519";
import { createClient } from "redis";

const api = process.env.REGLINK_API_URL;
const token = process.env.REGLINK_TOKEN;
const namespace = process.env.REDIS_NAMESPACE || "dramatiq";
const DEADLINE_MS = 60_000; // how long to follow the command before giving up

async function seal(secret, project) {
  const response = await fetch(`${api}/v1/keys/sealing`);
  if (!response.ok) throw new Error(`sealing key: HTTP ${response.status}`);
  const { public_key: publicKey } = await response.json();
  const raw = Buffer.from(publicKey, "base64url");
  const suite = new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: new Chacha20Poly1305(),
  });
  const recipientPublicKey = await suite.kem.deserializePublicKey(
    raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength),
  );
  const info = new TextEncoder().encode(`reglink/credential/v1|${project}`);
  const { ct, enc } = await suite.seal({ recipientPublicKey, info }, new TextEncoder().encode(secret));
  const kid = createHash("sha256").update(raw).digest("hex").slice(0, 12);
  const body = Buffer.concat([Buffer.from(enc), Buffer.from(ct)]).toString("base64url");
  return `rlseal1.${kid}.${body}`;
}

async function enqueue(envelope) {
  const rid = randomUUID();
  const message = {
    queue_name: "commands",
    actor_name: "handle_command",
    args: [envelope],
    kwargs: {},
    options: { redis_message_id: rid },
    message_id: envelope.id,
    message_timestamp: Date.now(),
  };
  const redis = createClient({ url: process.env.REDIS_URL });
  await redis.connect();
  try {
    await redis
      .multi()
      .hSet(`${namespace}:commands.msgs`, rid, JSON.stringify(message))
      .rPush(`${namespace}:commands`, rid)
      .exec();
  } finally {
    await redis.quit();
  }
}

async function follow(id) {
  const statuses = [];
  const until = Date.now() + DEADLINE_MS;
  while (Date.now() < until) {
    const response = await fetch(`${api}/v1/commands/${id}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const seen = response.status === 404 ? 404 : (await response.json()).status;
    if (statuses.at(-1) !== seen) statuses.push(seen);
    if (seen === "succeeded" || seen === "failed") {
      return { statuses, outcome: await (await fetch(`${api}/v1/commands/${id}`, {
        headers: { Authorization: `Bearer ${token}` },
      })).json() };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { statuses, outcome: null };
}

const spec = JSON.parse(readFileSync(0, "utf8"));
const data = { project: spec.project, ...spec.data };
if (spec.secret) data.sealed_secret = await seal(spec.secret, spec.project);
const id = randomUUID();
const envelope = {
  specversion: "1.0",
  id,
  source: "/tests/node/publisher",
  type: spec.type,
  time: new Date().toISOString(),
  datacontenttype: "application/json",
  commandid: id,
  correlationid: id,
  actor: spec.actor,
  data,
};
await enqueue(envelope);
const { statuses, outcome } = await follow(id);
process.stdout.write(JSON.stringify({ command_id: id, statuses, outcome }) + "\n");
