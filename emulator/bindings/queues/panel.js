/* The Queues tab of the dashboard (see the shell, emulator/dashboard/static/dashboard.js):
 * every queue with depth, in-flight, delayed, dead letters and rates; a queue's messages
 * peeked without consuming; purge and dead-letter redrive. Reads /_emulator/queues.
 */
"use strict";

// Rates are computed here from the broker's running totals (acked, retried): the server
// keeps counters, not time series. Samples of the last RATE_WINDOW_MS give a steady figure.
const RATE_WINDOW_MS = 5000;
const queueSamples = new Map();
let selectedQueue = null;

function rate(name, totals) {
  const now = performance.now();
  const samples = (queueSamples.get(name) || []).filter((s) => now - s.t <= RATE_WINDOW_MS);
  samples.push({ t: now, ...totals });
  queueSamples.set(name, samples);
  const first = samples[0];
  const dt = (now - first.t) / 1000;
  if (dt < 0.5) return { acked: null, retried: null };
  return { acked: (totals.acked - first.acked) / dt, retried: (totals.retried - first.retried) / dt };
}

const refreshQueues = () => panels.queues.refresh();
const fmtRate = (r) => (r === null ? "–" : r.toFixed(1));

const declaredQueues = () => bindingData("queues").queues || {};

function isDeadLetterQueue(name) {
  const info = declaredQueues()[name];
  return Boolean(info && info.deadLetterFor.length);
}

registerPanel("queues", {
  title: "Queues",
  poll: true,
  html: `<table id="queue-table" class="grid">
      <thead><tr>
        <th>Queue</th><th class="num">Depth</th><th class="num">In flight</th><th class="num">Delayed</th>
        <th class="num">Dead letters</th><th class="num">Acked/s</th><th class="num">Retried/s</th>
        <th>Consumer</th><th></th>
      </tr></thead>
      <tbody></tbody>
    </table>
    <div id="queue-detail" class="detail" hidden>
      <h2 id="queue-detail-title"></h2>
      <p class="muted" id="queue-detail-note"></p>
      <table id="message-table" class="grid">
        <thead><tr><th>Message</th><th class="num">Attempts</th><th>Sent</th><th>State</th><th>Body</th><th></th></tr></thead>
        <tbody></tbody>
      </table>
    </div>`,
  async refresh() {
    const tbody = $("#queue-table tbody");
    if (!hasPlugin("queues")) {
      replaceRows(tbody, [], "no queue is declared", 9);
      $("#queue-detail").hidden = true;
      return;
    }
    const data = await api("queues");
    const rows = data.queues.map((q) => {
      const r = rate(q.name, { acked: q.acked, retried: q.retried });
      const dlqOf = (declaredQueues()[q.name] || { deadLetterFor: [] }).deadLetterFor;
      const consumer = q.consumer
        ? `${q.consumer.owner} (batch ${q.consumer.max_batch_size}, ${q.consumer.max_batch_timeout}s, ${q.consumer.max_retries} retries)`
        : "none";
      return h("tr", {
        class: `selectable${q.name === selectedQueue ? " selected" : ""}`,
        dataset: { queue: q.name },
        onclick: () => { selectedQueue = q.name; refreshQueues().catch((e) => notice(e.message)); },
      },
      h("td", {},
        h("strong", { text: q.name }),
        dlqOf.length ? h("div", { class: "dlq small", text: `dead-letter queue of ${dlqOf.join(", ")}` }) : null),
      h("td", { class: "num depth", text: q.depth }),
      h("td", { class: "num", text: q.in_flight }),
      h("td", { class: "num", text: q.delayed }),
      h("td", { class: "num", title: q.dead_letter_queue ? `in ${q.dead_letter_queue}` : "no dead-letter queue",
                text: q.dead_letter_queue ? q.dead_letter_count : "–" }),
      h("td", { class: "num", title: `${q.acked} acked in total`, text: fmtRate(r.acked) }),
      h("td", { class: "num", title: `${q.retried} retried in total`, text: fmtRate(r.retried) }),
      h("td", { class: "small", text: consumer }),
      h("td", {}, h("button", {
        type: "button", class: "danger purge",
        onclick: (event) => { event.stopPropagation(); purgeQueue(q.name); },
        text: "Purge",
      })));
    });
    replaceRows(tbody, rows, "no queue is declared", 9);
    if (selectedQueue && !data.queues.some((q) => q.name === selectedQueue)) selectedQueue = null;
    if (!selectedQueue && data.queues.length) selectedQueue = data.queues[0].name;
    await showMessages(selectedQueue);
  },
});

async function showMessages(name) {
  const detail = $("#queue-detail");
  if (!name) { detail.hidden = true; return; }
  const data = await api(`queues/${seg(name)}/messages?limit=100`);
  const dlq = isDeadLetterQueue(name);
  detail.hidden = false;
  detail.dataset.queue = name;
  $("#queue-detail-title").textContent = `Messages in ${name}`;
  $("#queue-detail-note").textContent = dlq
    ? "A dead-letter queue: redrive sends a message back to its source queue with its attempts reset."
    : "Peeked without consuming: in flight first, then waiting, then delayed.";
  replaceRows($("#message-table tbody"), data.messages.map((m) => h("tr", { dataset: { id: m.id } },
    h("td", { class: "mono", text: m.id }),
    h("td", { class: "num attempts", text: m.attempts }),
    h("td", { class: "nowrap", text: fmtTime(m.timestamp) }),
    h("td", {}, badge(m.state.replace("_", "-"))),
    h("td", { class: "body", title: preview(m.body, 2000), text: `${m.content_type}: ${preview(m.body)}` }),
    h("td", {}, dlq && m.state !== "in_flight" ? h("button", {
      type: "button", class: "redrive", onclick: () => redrive(name, m.id), text: "Redrive",
    }) : null))), "no messages", 6);
}

async function purgeQueue(name) {
  if (!confirm(`Delete every message in ${name}?`)) return;
  try {
    const result = await api(`queues/${seg(name)}/purge`, { method: "POST" });
    notice(`Purged ${result.purged} message(s) from ${name}.`, false);
  } catch (e) { notice(e.message); }
  await refreshQueues().catch((e) => notice(e.message));
}

async function redrive(dlq, id) {
  try {
    const result = await api(`queues/${seg(dlq)}/messages/${seg(id)}/redrive`, { method: "POST" });
    notice(`Message ${result.id} redriven from ${result.from} to ${result.to}.`, false);
  } catch (e) { notice(e.message); }
  await refreshQueues().catch((e) => notice(e.message));
}
