"""How long a fan-out takes to put N deliveries on Redis: reglink's pipelined
`enqueue_many` against dramatiq's own one-message-at-a-time `broker.enqueue` (the peer),
measured in the same run on the same Redis.

    .venv/bin/python bench/fanout_enqueue.py [--messages 10000] [--redis redis://127.0.0.1:6379/9]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import dramatiq
import redis

from events.broker import make_broker
from events.envelope import Envelope
from events.messages import DeliverWebhook
from store.queues import enqueue_many


def envelopes(count: int) -> list[Envelope]:
    parent = Envelope.wrap(DeliverWebhook(delivery_id="seed"), command_id="bench")
    return [parent.follow(DeliverWebhook(delivery_id=str(uuid.uuid4()))) for _ in range(count)]


def one_by_one(broker: dramatiq.Broker, batch: list[Envelope]) -> None:
    for envelope in batch:
        broker.enqueue(
            dramatiq.Message(
                queue_name="deliveries",
                actor_name="deliver_webhook",
                args=(envelope.model_dump(mode="json"),),
                kwargs={},
                options={},
                message_id=envelope.id,
            )
        )


def pipelined(broker: dramatiq.Broker, batch: list[Envelope]) -> None:
    for start in range(0, len(batch), 500):  # the fan-out's batch size
        enqueue_many(broker, batch[start : start + 500], "deliver_webhook", "deliveries")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    namespace = f"reglink-bench-{uuid.uuid4().hex[:8]}"
    broker = make_broker(args.redis, namespace)
    client = redis.Redis.from_url(args.redis)
    results: dict[str, list[float]] = {"dramatiq broker.enqueue": [], "reglink enqueue_many": []}
    try:
        for _ in range(args.rounds):
            for name, run in (
                ("dramatiq broker.enqueue", one_by_one),
                ("reglink enqueue_many", pipelined),
            ):
                batch = envelopes(args.messages)
                started = time.perf_counter()
                run(broker, batch)
                results[name].append(time.perf_counter() - started)
                assert client.llen(f"{namespace}:deliveries") == args.messages
                client.delete(*client.scan_iter(match=f"{namespace}:*"))
    finally:
        keys = list(client.scan_iter(match=f"{namespace}:*"))
        if keys:
            client.delete(*keys)
    print(f"enqueue {args.messages} deliveries, median of {args.rounds} rounds")
    medians = {name: statistics.median(times) for name, times in results.items()}
    for name, seconds in medians.items():
        print(f"  {name:26} {seconds * 1000:9.1f} ms  {args.messages / seconds:10.0f} msg/s")
    ratio = medians["dramatiq broker.enqueue"] / medians["reglink enqueue_many"]
    print(f"  enqueue_many is {ratio:.1f}x faster than one-by-one broker.enqueue")


if __name__ == "__main__":
    main()
