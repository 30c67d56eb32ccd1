/* The Queues tab of the dashboard (see the shell, emulator/dashboard/static/dashboard.js):
 * every queue with depth, in-flight, delayed, dead letters, rates and a 5-minute rate chart;
 * a queue's messages peeked without consuming; a send-message form; purge, dead-letter
 * redrive one by one or all at once (both after a confirmation). Reads /_emulator/queues.
 */
"use strict";

// Rates are computed here from the broker's running totals (acked, retried): the server
// keeps counters, not time series. The page samples them on every tick (also while another
// tab is shown) and keeps QUEUE_HISTORY_MS of samples per queue.
const RATE_WINDOW_MS = 5000;          // the Acked/s and Retried/s figures
const QUEUE_HISTORY_MS = 5 * 60 * 1000; // the chart
const CHART_BUCKET_MS = 5000;
const CHART_BUCKETS = QUEUE_HISTORY_MS / CHART_BUCKET_MS;
const CHART_W = 120;
const CHART_H = 24;
const queueSamples = new Map();  // queue name -> [{t, acked, retried}], oldest first
let queueStats = new Map();      // queue name -> its latest stats
let selectedQueue = null;

function recordTotals(queues) {
  const now = performance.now();
  for (const q of queues) {
    const samples = (queueSamples.get(q.name) || [])
      .filter((s) => now - s.t <= QUEUE_HISTORY_MS + CHART_BUCKET_MS);
    samples.push({ t: now, acked: q.acked, retried: q.retried });
    queueSamples.set(q.name, samples);
  }
  return now;
}

function recentRate(name, now) {
  const samples = (queueSamples.get(name) || []).filter((s) => now - s.t <= RATE_WINDOW_MS);
  if (samples.length < 2) return { acked: null, retried: null };
  const first = samples[0], last = samples[samples.length - 1];
  const dt = (last.t - first.t) / 1000;
  if (dt < 0.5) return { acked: null, retried: null };
  return { acked: (last.acked - first.acked) / dt, retried: (last.retried - first.retried) / dt };
}

// How many CHART_BUCKET_MS buckets the chart spans: the last QUEUE_HISTORY_MS, or less while
// the page has not been open that long (so a fresh page draws lines, not a dot at the edge).
function chartBuckets(name, now) {
  const samples = queueSamples.get(name) || [];
  const age = samples.length ? now - samples[0].t : 0;
  return Math.min(CHART_BUCKETS, Math.max(2, Math.ceil(age / CHART_BUCKET_MS)));
}

// Per CHART_BUCKET_MS bucket, oldest first: the rate of `key`, or null where the page has no
// samples (it was closed).
function rateSeries(name, key, now, buckets) {
  const samples = queueSamples.get(name) || [];
  const at = (t) => { let found = null; for (const s of samples) { if (s.t <= t) found = s; else break; } return found; };
  const out = [];
  for (let k = 0; k < buckets; k++) {
    const end = now - (buckets - 1 - k) * CHART_BUCKET_MS;
    const start = end - CHART_BUCKET_MS;
    const a = at(start) || samples.find((s) => s.t > start && s.t <= end);
    const b = at(end);
    out.push(a && b && b.t - a.t >= 500 ? Math.max(0, (b[key] - a[key]) / ((b.t - a.t) / 1000)) : null);
  }
  return out;
}

// SVG path data for one series; a gap (null) lifts the pen, and a point standing alone
// (the first bucket after a gap) gets a 2-pixel stroke so that it shows.
function sparkPath(series, peak) {
  const step = (CHART_W - 1) / (series.length - 1);
  const parts = [];
  series.forEach((v, k) => {
    if (v === null) return;
    const x = k * step;
    const y = (CHART_H - 1 - (v / peak) * (CHART_H - 2)).toFixed(1);
    const joined = k > 0 && series[k - 1] !== null;
    const alone = !joined && (k === series.length - 1 || series[k + 1] === null);
    if (joined) parts.push(`L${x.toFixed(1)},${y}`);
    else if (alone) parts.push(`M${Math.max(0, x - 2).toFixed(1)},${y} h2`);
    else parts.push(`M${x.toFixed(1)},${y}`);
  });
  return parts.join(" ");
}

// An inline SVG sparkline: acked/s and retried/s over the last five minutes.
function rateChart(name, now) {
  const buckets = chartBuckets(name, now);
  const acked = rateSeries(name, "acked", now, buckets), retried = rateSeries(name, "retried", now, buckets);
  const span = buckets === CHART_BUCKETS ? "the last 5 min" : `the last ${buckets * CHART_BUCKET_MS / 1000} s`;
  const top = (series) => Math.max(0, ...series.filter((v) => v !== null));
  const peakAcked = top(acked), peakRetried = top(retried);
  const peak = Math.max(peakAcked, peakRetried) || 1;
  const ackedPath = sparkPath(acked, peak), retriedPath = sparkPath(retried, peak);
  return svg("svg", {
    class: "spark", width: CHART_W, height: CHART_H, viewBox: `0 0 ${CHART_W} ${CHART_H}`, role: "img",
    dataset: { peakAcked: peakAcked.toFixed(2), peakRetried: peakRetried.toFixed(2) },
  },
  svg("title", { text: `${span}: acked up to ${fmtRate(peakAcked)}/s (green), retried up to ` +
                       `${fmtRate(peakRetried)}/s (orange)` }),
  svg("line", { class: "spark-base", x1: 0, y1: CHART_H - 0.5, x2: CHART_W, y2: CHART_H - 0.5 }),
  ackedPath ? svg("path", { class: "spark-acked", d: ackedPath }) : null,
  retriedPath ? svg("path", { class: "spark-retried", d: retriedPath }) : null);
}

const refreshQueues = () => panels.queues.refresh();
const fmtRate = (r) => (r === null ? "–" : r.toFixed(1));

const declaredQueues = () => bindingData("queues").queues || {};
const deadLetterSources = (name) => (declaredQueues()[name] || { deadLetterFor: [] }).deadLetterFor;
const isDeadLetterQueue = (name) => deadLetterSources(name).length > 0;

registerPanel("queues", {
  title: "Queues",
  poll: true,
  html: `<table id="queue-table" class="grid">
      <thead><tr>
        <th>Queue</th><th class="num">Depth</th><th class="num">In flight</th><th class="num">Delayed</th>
        <th class="num">Dead letters</th><th class="num">Acked/s</th><th class="num">Retried/s</th>
        <th title="acked/s (green) and retried/s (orange)">Last 5 min</th><th>Consumer</th><th></th>
      </tr></thead>
      <tbody></tbody>
    </table>
    <div id="queue-detail" class="detail" hidden>
      <h2 id="queue-detail-title"></h2>
      <div id="queue-dlq-tools" class="toolbar" hidden>
        <label id="queue-redrive-to-label" hidden>back to <select id="queue-redrive-to"></select></label>
        <button type="button" id="queue-redrive-all">Redrive all</button>
      </div>
      <div class="send-form">
        <h3>Send a message</h3>
        <textarea id="queue-send-body" rows="3" placeholder='{"id": 1} for json and v8, any text for text, base64 for bytes'></textarea>
        <div class="toolbar">
          <label>Content type <select id="queue-send-type">
            <option value="json" selected>json</option><option value="text">text</option>
            <option value="v8">v8 (a JSON value)</option><option value="bytes">bytes (base64)</option>
          </select></label>
          <label>Delay <input id="queue-send-delay" type="number" min="0" max="43200" step="1" size="8"
                 placeholder="default"> s</label>
          <button type="button" id="queue-send">Send</button>
        </div>
      </div>
      <p class="muted" id="queue-detail-note"></p>
      <table id="message-table" class="grid">
        <thead><tr><th>Message</th><th class="num">Attempts</th><th>Sent</th><th>State</th><th>Body</th><th></th></tr></thead>
        <tbody></tbody>
      </table>
    </div>`,
  setup() {
    $("#queue-send").addEventListener("click", () => sendMessage());
    $("#queue-redrive-all").addEventListener("click", () => redriveAll($("#queue-detail").dataset.queue));
  },
  async background() {
    if (hasPlugin("queues")) recordTotals((await api("queues")).queues);
  },
  async refresh() {
    const tbody = $("#queue-table tbody");
    if (!hasPlugin("queues")) {
      replaceRows(tbody, [], "no queue is declared", 10);
      $("#queue-detail").hidden = true;
      return;
    }
    const data = await api("queues");
    const now = recordTotals(data.queues);
    queueStats = new Map(data.queues.map((q) => [q.name, q]));
    const rows = data.queues.map((q) => {
      const r = recentRate(q.name, now);
      const dlqOf = deadLetterSources(q.name);
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
      h("td", { class: "chart" }, rateChart(q.name, now)),
      h("td", { class: "small", text: consumer }),
      h("td", {}, h("button", {
        type: "button", class: "danger purge",
        onclick: (event) => { event.stopPropagation(); purgeQueue(q.name); },
        text: "Purge",
      })));
    });
    replaceRows(tbody, rows, "no queue is declared", 10);
    if (selectedQueue && !queueStats.has(selectedQueue)) selectedQueue = null;
    if (!selectedQueue && data.queues.length) selectedQueue = data.queues[0].name;
    await showMessages(selectedQueue);
  },
});

// What "Redrive all" moves: waiting and delayed messages (those being delivered stay).
const redrivable = (stats) => (stats ? stats.visible + stats.delayed : 0);

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
  showDeadLetterTools(name, dlq);
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

function showDeadLetterTools(name, dlq) {
  $("#queue-dlq-tools").hidden = !dlq;
  if (!dlq) return;
  const sources = deadLetterSources(name);
  const select = $("#queue-redrive-to");
  // Rebuilt only when the sources change, so a choice survives the polling.
  if (select.dataset.sources !== sources.join("\n")) {
    select.replaceChildren(...sources.map((s) => h("option", { value: s, text: s })));
    select.dataset.sources = sources.join("\n");
  }
  $("#queue-redrive-to-label").hidden = sources.length < 2;
  const count = redrivable(queueStats.get(name));
  const button = $("#queue-redrive-all");
  button.textContent = `Redrive all (${count})`;
  button.disabled = count === 0;
}

async function purgeQueue(name) {
  const depth = (queueStats.get(name) || { depth: 0 }).depth;
  if (!confirm(`Delete all ${depth} message(s) of ${name}? This cannot be undone.`)) return;
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

async function redriveAll(dlq) {
  if (!dlq) return;
  const to = $("#queue-redrive-to").value || deadLetterSources(dlq)[0];
  const count = redrivable(queueStats.get(dlq));
  if (!confirm(`Move all ${count} message(s) of ${dlq} back to ${to}? Their attempts start again at 1.`)) return;
  try {
    const r = await api(`queues/${seg(dlq)}/redrive?to=${encodeURIComponent(to)}`, { method: "POST" });
    const stayed = r.in_flight ? ` (${r.in_flight} being delivered stayed)` : "";
    notice(`Redrove ${r.moved} message(s) from ${r.from} to ${r.to}${stayed}.`, false);
  } catch (e) { notice(e.message); }
  await refreshQueues().catch((e) => notice(e.message));
}

// The body as the chosen content type carries it: JSON for json and v8, base64 for bytes.
function messageBody(type, raw) {
  if (type !== "json" && type !== "v8") return raw;
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new ApiError(`The body is not valid JSON (${e.message}); choose "text" to send it as a string.`);
  }
}

async function sendMessage() {
  const name = $("#queue-detail").dataset.queue;
  if (!name) return;
  const type = $("#queue-send-type").value;
  const delay = $("#queue-send-delay").value.trim();
  let payload;
  try {
    payload = { body: messageBody(type, $("#queue-send-body").value), contentType: type };
  } catch (e) { notice(e.message); return; }
  if (delay !== "") payload.delaySeconds = Number(delay);
  try {
    const result = await api(`queues/${seg(name)}/messages`, { method: "POST", json: payload });
    notice(`Sent message ${result.ids[0]} to ${name}${delay !== "" ? `, delayed ${delay} s` : ""}.`, false);
  } catch (e) { notice(e.message); return; }
  await refreshQueues().catch((e) => notice(e.message));
}
