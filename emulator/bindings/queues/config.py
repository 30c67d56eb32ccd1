"""Queues in a wrangler config: producers (env bindings) and consumers, plus our CFE rules.

Defaults follow **production** (batch size 10, timeout 5 s, 3 retries), not Miniflare's
local defaults (5 / 1 s / 2): see docs/parity.md, "Queues".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from emulator.bindings import BindingType, ConfigContext, Declaration, str_or_none, tables
from emulator.config.diagnostics import DiagnosticTree, KeyPath
from emulator.config.jsvalues import UNDEF, get, is_record, typeof
from emulator.config.rules import field_base, range_rule

# Production defaults for queue consumers (Cloudflare docs); Miniflare uses 5 / 1 s / 2.
DEFAULT_MAX_BATCH_SIZE = 10
DEFAULT_MAX_BATCH_TIMEOUT = 5.0
DEFAULT_MAX_RETRIES = 3
# Production's limits (docs/queues.md "Limits and edge cases"): delays (delivery_delay,
# retry_delay, send/sendBatch/retry delaySeconds) up to 12 hours, where Miniflare allows 86400 s;
# at most 250 concurrent consumer invocations.
MAX_DELAY_SECONDS = 43200
MAX_CONCURRENCY = 250


@dataclass(frozen=True)
class QueueProducer:
    binding: str
    queue: str  # the binding name when `queue` is omitted (local provisioning)
    delivery_delay: int | None = None


@dataclass(frozen=True)
class QueueConsumer:
    queue: str
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_batch_timeout: float = DEFAULT_MAX_BATCH_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    dead_letter_queue: str | None = None
    max_concurrency: int | None = None
    retry_delay: int = 0


@dataclass(frozen=True)
class QueuesConfig:
    producers: tuple[QueueProducer, ...] = ()
    consumers: tuple[QueueConsumer, ...] = ()


def _num(value: Any) -> int | float | None:
    return value if typeof(value) == "number" else None


@dataclass
class QueueUse:
    queue: str
    key_path: KeyPath
    dead_letter_queue: str | None = None
    dlq_path: KeyPath = ()


@dataclass
class QueueFacts:
    """What the cross-app rules need to know about one checked app config."""

    producers: list[QueueUse] = field(default_factory=list)
    consumers: list[QueueUse] = field(default_factory=list)


class QueuesType(BindingType[QueuesConfig]):
    name = "queues"
    title = "Queues"
    config_keys = ("queues",)
    accessor = "queue"
    noun = "queue"

    def read(self, config: Mapping[str, Any], ctx: ConfigContext) -> QueuesConfig:
        queues: Mapping[str, Any] = config["queues"] if is_record(config.get("queues")) else {}
        producers = []
        for p in tables(queues.get("producers"), "binding"):
            delay = _num(p.get("delivery_delay", UNDEF))
            producers.append(QueueProducer(binding=p["binding"], queue=str_or_none(p.get("queue")) or p["binding"],
                                           delivery_delay=int(delay) if delay is not None else None))
        consumers = []
        for c in tables(queues.get("consumers"), "queue"):
            size, timeout = _num(c.get("max_batch_size", UNDEF)), _num(c.get("max_batch_timeout", UNDEF))
            retries, concurrency = _num(c.get("max_retries", UNDEF)), _num(c.get("max_concurrency", UNDEF))
            delay = _num(c.get("retry_delay", UNDEF))
            consumers.append(QueueConsumer(
                queue=c["queue"],
                max_batch_size=int(size) if size is not None else DEFAULT_MAX_BATCH_SIZE,
                max_batch_timeout=float(timeout) if timeout is not None else DEFAULT_MAX_BATCH_TIMEOUT,
                max_retries=int(retries) if retries is not None else DEFAULT_MAX_RETRIES,
                dead_letter_queue=str_or_none(c.get("dead_letter_queue")),
                max_concurrency=int(concurrency) if concurrency is not None else None,
                retry_delay=int(delay) if delay is not None else 0,
            ))
        return QueuesConfig(tuple(producers), tuple(consumers))

    def declarations(self, cfg: QueuesConfig) -> list[Declaration]:
        return [Declaration(p.binding, p.queue, "Queue") for p in cfg.producers]

    def serves(self, app: Any) -> bool:
        return bool(self.of(app).consumers)

    def summary(self, cfg: QueuesConfig) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if cfg.producers:
            out["producers"] = {p.binding: p.queue for p in cfg.producers}
        if cfg.consumers:
            out["consumers"] = [c.queue for c in cfg.consumers]
        return out

    def restart_needed(self, old: QueuesConfig, new: QueuesConfig) -> str | None:
        # The broker registers consumers once, at start.
        return "queue consumers" if old.consumers != new.consumers else None

    # --- CFE101–108, CFE110, CFE120–122 -------------------------------------------------
    def check_app(self, tree: DiagnosticTree, raw: Mapping[str, Any], config: Mapping[str, Any],
                  env_name: str | None, is_pages: bool, config_path: Path) -> QueueFacts:
        facts = QueueFacts()
        queues = config.get("queues", UNDEF)
        base = field_base(raw, env_name, "queues")
        label_base = ".".join(str(p) for p in base)
        consumers = get(queues, "consumers")
        if isinstance(consumers, list):
            for i, c in enumerate(consumers):
                if not is_record(c):
                    continue
                p = base + ("consumers", i)
                label = f"{label_base}.consumers[{i}]"
                range_rule(tree, "CFE101", f"{label}.max_batch_size", c.get("max_batch_size", UNDEF), 1, 100, True,
                           " messages per batch", p + ("max_batch_size",))
                range_rule(tree, "CFE102", f"{label}.max_batch_timeout", c.get("max_batch_timeout", UNDEF), 0, 60,
                           False, " seconds", p + ("max_batch_timeout",))
                range_rule(tree, "CFE103", f"{label}.max_retries", c.get("max_retries", UNDEF), 0, 100, True,
                           " retries", p + ("max_retries",))
                range_rule(tree, "CFE104", f"{label}.retry_delay", c.get("retry_delay", UNDEF), 0, MAX_DELAY_SECONDS,
                           True, " seconds", p + ("retry_delay",))
                range_rule(tree, "CFE106", f"{label}.max_concurrency", c.get("max_concurrency", UNDEF), 1,
                           MAX_CONCURRENCY, True, " concurrent consumer invocations", p + ("max_concurrency",))
                queue, dlq = c.get("queue"), c.get("dead_letter_queue")
                if isinstance(queue, str):
                    if isinstance(dlq, str) and dlq == queue:
                        # Miniflare: QueuesError ERR_DEAD_LETTER_QUEUE_CYCLE
                        tree.error(f'Dead letter queue for queue "{queue}" cannot be itself',
                                   p + ("dead_letter_queue",), "CFE107")
                    facts.consumers.append(QueueUse(queue, p + ("queue",), dlq if isinstance(dlq, str) else None,
                                                    p + ("dead_letter_queue",)))
        producers = get(queues, "producers")
        if isinstance(producers, list):
            for i, prod in enumerate(producers):
                if not is_record(prod):
                    continue
                p = base + ("producers", i)
                range_rule(tree, "CFE105", f"{label_base}.producers[{i}].delivery_delay",
                           prod.get("delivery_delay", UNDEF), 0, MAX_DELAY_SECONDS, True, " seconds",
                           p + ("delivery_delay",))
                name = prod.get("queue") if isinstance(prod.get("queue"), str) else prod.get("binding")
                if isinstance(name, str) and name:
                    facts.producers.append(QueueUse(name, p + ("queue",) if "queue" in prod else p))
        if is_pages:
            envs = get(raw, "env")
            if is_record(envs):
                for env, section in envs.items():
                    if env == env_name:
                        continue  # the active env is judged by wrangler's own Pages rule already
                    env_consumers = get(get(section, "queues"), "consumers")
                    if isinstance(env_consumers, list) and env_consumers:
                        tree.error('Configuration file for Pages projects does not support "queues.consumers" '
                                   f'(found in "env.{env}.queues.consumers"; Pages CI does not check environment '
                                   "sections, but Pages cannot consume queues in any environment)",
                                   ("env", env, "queues", "consumers"), "CFE108")
        return facts

    def check_set(self, facts: list[tuple[str, DiagnosticTree, Any]], cross_warnings: bool) -> None:
        """CFE110 over all checked apps; CFE120–122 when checking a set of apps together.

        A single app legitimately produces to queues another deployment consumes, so the
        pairing warnings only run over a set (a workspace, or several configs at once).
        """
        apps = [(name, tree, f) for name, tree, f in facts if isinstance(f, QueueFacts)]
        first_consumer: dict[str, str] = {}
        for name, tree, f in apps:
            for use in f.consumers:
                owner = first_consumer.get(use.queue)
                if owner is None:
                    first_consumer[use.queue] = name
                else:
                    # Miniflare: QueuesError ERR_MULTIPLE_CONSUMERS
                    tree.error(f'Multiple consumers defined for queue "{use.queue}": "{owner}" and "{name}"',
                               use.key_path, "CFE110")
        if not cross_warnings:
            return
        consumed = set(first_consumer)
        produced = {p.queue for _, _, f in apps for p in f.producers}
        produced |= {c.dead_letter_queue for _, _, f in apps for c in f.consumers if c.dead_letter_queue}
        for name, tree, f in apps:
            for use in f.consumers:
                if use.queue not in produced:
                    tree.warn(f'Queue "{use.queue}" has a consumer in "{name}" but no checked app produces '
                              "to it (and it is no consumer's dead-letter queue).", use.key_path, "CFE120")
                if use.dead_letter_queue and use.dead_letter_queue not in consumed:
                    tree.warn(f'Dead-letter queue "{use.dead_letter_queue}" of queue "{use.queue}" has no '
                              "consumer in the checked apps: failed messages will pile up unseen.",
                              use.dlq_path, "CFE122")
            for use in f.producers:
                if use.queue not in consumed:
                    tree.warn(f'Queue "{use.queue}" is produced to by "{name}" but no checked app consumes '
                              "it: messages will never be delivered.", use.key_path, "CFE121")


TYPE = QueuesType()


def queues_config(app: Any) -> QueuesConfig:
    """The queues part of an app's config."""
    return TYPE.of(app)
