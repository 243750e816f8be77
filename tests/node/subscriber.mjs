// A subscriber written from docs/subscribing.md and the AsyncAPI document alone: it
// verifies each delivery with `standardwebhooks`, parses it with the `cloudevents` SDK,
// drops duplicates by webhook-id and anything at or below the last sequence per registry.
//
// environment: PORT, WEBHOOK_SECRET. stdout: a line "listening" once ready, then one JSON
// line per delivery: {"outcome": "kept"|"duplicate"|"stale"|"rejected", ...}.
import { createServer } from "node:http";
import { HTTP } from "cloudevents";
import { Webhook } from "standardwebhooks";

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
const handled = new Set(); // webhook-ids already acted on
const lastSequence = new Map(); // registry source -> last sequence kept

function report(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

function handle(headers, body) {
  try {
    webhook.verify(body, headers);
  } catch (error) {
    report({ outcome: "rejected", error: String(error) });
    return 400;
  }
  const id = headers["webhook-id"];
  if (handled.has(id)) {
    report({ outcome: "duplicate", id });
    return 200;
  }
  handled.add(id);
  const event = HTTP.toEvent({ headers, body });
  const { sequence } = event.data;
  if (sequence <= (lastSequence.get(event.source) ?? 0)) {
    report({ outcome: "stale", id, sequence });
    return 200;
  }
  lastSequence.set(event.source, sequence);
  report({ outcome: "kept", id: event.id, type: event.type, source: event.source, data: event.data });
  return 200;
}

const server = createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    response.statusCode = handle(request.headers, Buffer.concat(chunks).toString("utf8"));
    response.end();
  });
});
server.listen(Number(process.env.PORT), "127.0.0.1", () => report({ outcome: "listening" }));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
