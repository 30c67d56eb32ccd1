/* cf-emulator dashboard: plain JavaScript, no build step.
 *
 * Everything shown comes from the internal API under /_emulator/ (the plugins' inspection
 * routes plus dashboard/api/*). User data (message bodies, keys, SQL results, log lines)
 * only ever reaches the DOM through textContent / attribute setters, never innerHTML.
 */
"use strict";

const POLL_MS = 1000;
const MAX_LOG_LINES = 2000;
const MAX_INSTANCES = 200;

// ---------------------------------------------------------------- helpers
function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (sel) => document.querySelector(sel);

function replaceRows(tbody, rows, emptyText, columns) {
  tbody.replaceChildren(...(rows.length ? rows
    : [h("tr", {}, h("td", { class: "empty", colspan: columns, text: emptyText }))]));
}

class ApiError extends Error {}

async function api(path, options = {}) {
  const init = { method: options.method || "GET", headers: {} };
  if (options.json !== undefined) {
    init.body = JSON.stringify(options.json);
    init.headers["content-type"] = "application/json";
  }
  const response = await fetch(path, init);
  const type = response.headers.get("content-type") || "";
  const payload = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const message = typeof payload === "object" && payload
      ? (payload.message || payload.error || JSON.stringify(payload)) : String(payload);
    throw new ApiError(`${response.status}: ${message}`);
  }
  return payload;
}

const seg = (s) => encodeURIComponent(s);

function fmtTime(value) {
  if (value === undefined || value === null || value === "") return "";
  let date;
  if (typeof value === "number") date = new Date(value > 1e12 ? value : value * 1000);
  else date = new Date(value);
  if (isNaN(date.getTime())) return String(value);
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function fmtDuration(ms) {
  if (ms === undefined || ms === null) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

function fmtBytes(n) {
  if (n === undefined || n === null) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function preview(value, max = 200) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined) return "";
  return text.length > max ? text.slice(0, max) + "…" : text;
}

function badge(status) {
  const s = String(status || "unknown");
  return h("span", { class: `badge ${s.toLowerCase().replace(/[^a-z-]/g, "")}`, text: s });
}

let noticeTimer = null;

function notice(message, isError = true) {
  const box = $("#notice");
  clearTimeout(noticeTimer);
  if (!message) { box.hidden = true; return; }
  box.textContent = message;
  box.className = isError ? "notice error" : "notice";
  box.hidden = false;
  // Confirmations fade on their own; errors stay until the next action.
  if (!isError) noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

// ---------------------------------------------------------------- shell
const panels = {};
let activeTab = null;
let overview = { apps: [], queues: {}, buckets: {}, databases: {}, workflows: {} };

function showTab(name) {
  if (!panels[name]) name = "queues";
  activeTab = name;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const section of document.querySelectorAll("[data-panel]")) {
    section.hidden = section.dataset.panel !== name;
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  notice(null);
  panels[name].refresh().catch((e) => notice(e.message));
}

async function loadOverview() {
  overview = await api("dashboard/api/overview");
  $("#apps").replaceChildren(...overview.apps.map((a) =>
    h("span", { class: "app", title: a.kind, text: `${a.name} (${a.kind})` })));
  $("#clock").textContent = `clock ${fmtTime(overview.clock.now)}${overview.clock.fake ? " (fake)" : ""}`;
  $("#status").textContent = "live";
  $("#status").className = "status live";
}

async function tick() {
  try {
    await loadOverview();
  } catch (e) {
    // The emulator stopped or restarts: keep the page, retry on the next tick.
    $("#status").textContent = "disconnected";
    $("#status").className = "status down";
    return;
  }
  if (activeTab && panels[activeTab].poll) await panels[activeTab].refresh().catch((e) => notice(e.message));
}

// ---------------------------------------------------------------- queues
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

const fmtRate = (r) => (r === null ? "–" : r.toFixed(1));

function isDeadLetterQueue(name) {
  const info = overview.queues[name];
  return Boolean(info && info.deadLetterFor.length);
}

panels.queues = {
  poll: true,
  async refresh() {
    const tbody = $("#queue-table tbody");
    if (!overview.plugins.includes("queues")) {
      replaceRows(tbody, [], "no queue is declared", 9);
      $("#queue-detail").hidden = true;
      return;
    }
    const data = await api("queues");
    const rows = data.queues.map((q) => {
      const r = rate(q.name, { acked: q.acked, retried: q.retried });
      const dlqOf = (overview.queues[q.name] || { deadLetterFor: [] }).deadLetterFor;
      const consumer = q.consumer
        ? `${q.consumer.owner} (batch ${q.consumer.max_batch_size}, ${q.consumer.max_batch_timeout}s, ${q.consumer.max_retries} retries)`
        : "none";
      return h("tr", {
        class: `selectable${q.name === selectedQueue ? " selected" : ""}`,
        dataset: { queue: q.name },
        onclick: () => { selectedQueue = q.name; panels.queues.refresh().catch((e) => notice(e.message)); },
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
};

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
  await panels.queues.refresh().catch((e) => notice(e.message));
}

async function redrive(dlq, id) {
  try {
    const result = await api(`queues/${seg(dlq)}/messages/${seg(id)}/redrive`, { method: "POST" });
    notice(`Message ${result.id} redriven from ${result.from} to ${result.to}.`, false);
  } catch (e) { notice(e.message); }
  await panels.queues.refresh().catch((e) => notice(e.message));
}

// ---------------------------------------------------------------- workflows
let selectedInstance = null; // [workflow, id]

function errorText(error) {
  if (error === undefined || error === null || error === "") return "";
  if (typeof error === "object") {
    const name = error.name ? `${error.name}: ` : "";
    return error.message !== undefined ? `${name}${error.message}` : JSON.stringify(error);
  }
  return String(error);
}

panels.workflows = {
  poll: true,
  async refresh() {
    const tbody = $("#instance-table tbody");
    if (!overview.plugins.includes("workflows")) {
      replaceRows(tbody, [], "no workflow is bound", 6);
      $("#instance-detail").hidden = true;
      return;
    }
    const { workflows } = await api("workflows");
    // Newest first; a long history (load tests) is cut so the page stays responsive: only
    // the newest of each workflow are fetched, the total comes from the counts.
    const lists = await Promise.all(workflows.map((w) => api(`workflows/${seg(w.name)}/instances?limit=${MAX_INSTANCES}`)));
    const all = lists.flatMap((l) => l.instances).sort((a, b) => String(b.created).localeCompare(String(a.created)));
    const instances = all.slice(0, MAX_INSTANCES);
    const total = workflows.reduce((n, w) => n + (w.total || 0), 0);
    $("#instance-note").hidden = total <= MAX_INSTANCES;
    $("#instance-note").textContent = `showing the newest ${MAX_INSTANCES} of ${total} instances`;
    const isSelected = (i) => selectedInstance && selectedInstance[0] === i.workflow && selectedInstance[1] === i.id;
    replaceRows(tbody, instances.map((i) => h("tr", {
      class: `selectable${isSelected(i) ? " selected" : ""}`,
      dataset: { workflow: i.workflow, instance: i.id },
      onclick: () => { selectedInstance = [i.workflow, i.id]; panels.workflows.refresh().catch((e) => notice(e.message)); },
    },
    h("td", { text: i.workflow }),
    h("td", { class: "mono", text: i.id }),
    h("td", {}, badge(i.status)),
    h("td", { class: "nowrap", text: fmtTime(i.created) }),
    h("td", { class: "num", text: i.duration_ms === null ? "" : fmtDuration(i.duration_ms) }),
    h("td", { class: "error-text", text: errorText(i.error) }))),
    workflows.length ? "no instances yet" : "no workflow is declared", 6);
    if (!selectedInstance && instances.length) selectedInstance = [instances[0].workflow, instances[0].id];
    await showInstance();
  },
};

async function showInstance() {
  const detail = $("#instance-detail");
  if (!selectedInstance) { detail.hidden = true; return; }
  const [workflow, id] = selectedInstance;
  let data;
  try {
    data = await api(`workflows/${seg(workflow)}/instances/${seg(id)}`);
  } catch (e) {
    selectedInstance = null;
    detail.hidden = true;
    return;
  }
  detail.hidden = false;
  detail.dataset.instance = id;
  $("#instance-detail-title").replaceChildren(`${workflow} / ${id} `, badge(data.status));
  const summary = [
    ["created", fmtTime(data.created)], ["started", fmtTime(data.started)], ["ended", fmtTime(data.ended)],
    ["duration", fmtDuration(data.duration_ms)], ["params", preview(data.params, 500)],
    ["output", data.output === null || data.output === undefined ? "" : preview(data.output, 500)],
    ["error", errorText(data.error)],
  ].filter(([, v]) => v);
  $("#instance-summary").replaceChildren(...summary.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
  replaceRows($("#step-table tbody"), data.steps.map((s) => {
    const attempts = (s.attempt_log || []).map((a) =>
      `#${a.attempt} ${fmtDuration(a.duration_ms)}${a.error ? " — " + errorText(a.error) : ""}`);
    const outcome = s.error ? errorText(s.error)
      : s.output === null || s.output === undefined ? "" : preview(s.output, 300);
    return h("tr", { dataset: { step: s.name } },
      h("td", {}, h("strong", { text: s.name }), s.count > 1 ? h("span", { class: "muted", text: ` #${s.count}` }) : null),
      h("td", { text: s.type }),
      h("td", {}, badge(s.status)),
      h("td", { class: "num step-attempts", title: attempts.join("\n"), text: s.attempts }),
      h("td", { class: "num", text: fmtDuration(s.duration_ms) }),
      h("td", { class: s.error ? "error-text" : "mono", text: outcome }));
  }), "no steps yet", 6);
}

// ---------------------------------------------------------------- D1
panels.d1 = {
  poll: false,
  async refresh() {
    const select = $("#d1-database");
    const names = Object.keys(overview.databases);
    if (select.options.length !== names.length) {
      const current = select.value;
      select.replaceChildren(...names.map((n) => h("option", { value: n, text: n })));
      if (names.includes(current)) select.value = current;
    }
    if (!select.value) {
      $("#d1-tables").replaceChildren(h("li", { class: "muted", text: "no D1 database is bound" }));
      return;
    }
    const data = await api(`dashboard/api/d1/${seg(select.value)}/tables`);
    $("#d1-tables").replaceChildren(...(data.tables.length ? data.tables.map((t) =>
      h("li", {
        title: "click to query",
        onclick: () => { $("#d1-sql").value = `SELECT * FROM "${t.name.replaceAll('"', '""')}" LIMIT 100`; runQuery(); },
      },
      h("strong", { text: t.name }),
      t.rows === null ? h("span", { class: "muted", text: ` (${t.type})` }) : h("span", { class: "muted", text: ` ${t.rows} rows` }),
      h("span", { class: "cols", text: t.columns.map((c) => `${c.name} ${c.type}`.trim()).join(", ") })))
      : [h("li", { class: "muted", text: "no tables yet" })]));
  },
};

async function runQuery() {
  const db = $("#d1-database").value;
  const info = $("#d1-info");
  const thead = $("#d1-result thead");
  const tbody = $("#d1-result tbody");
  info.textContent = "running…";
  info.className = "muted";
  try {
    const result = await api(`dashboard/api/d1/${seg(db)}/query`, { method: "POST", json: { sql: $("#d1-sql").value } });
    thead.replaceChildren(h("tr", {}, result.columns.map((c) => h("th", { text: c }))));
    replaceRows(tbody, result.rows.map((row) => h("tr", {}, row.map((v) =>
      h("td", { class: "mono", text: v === null ? "NULL" : typeof v === "object" ? JSON.stringify(v) : v })))),
      "no rows", Math.max(1, result.columns.length));
    info.textContent = `${result.rowCount} row(s)${result.truncated ? " (truncated)" : ""}`;
  } catch (e) {
    thead.replaceChildren();
    tbody.replaceChildren();
    info.textContent = e.message;
    info.className = "error-text";
  }
}

// ---------------------------------------------------------------- R2
let r2Cursor = null;

panels.r2 = {
  poll: false,
  async refresh(append = false) {
    const select = $("#r2-bucket");
    // Declared buckets plus any created since (by the CLI or the S3 endpoint).
    const created = overview.plugins.includes("r2") ? await api("r2/buckets") : [];
    const names = [...new Set([...Object.keys(overview.buckets), ...created])].sort();
    if (select.options.length !== names.length) {
      const current = select.value;
      select.replaceChildren(...names.map((n) => h("option", { value: n, text: n })));
      if (names.includes(current)) select.value = current;
    }
    const tbody = $("#r2-table tbody");
    if (!select.value) { replaceRows(tbody, [], "no R2 bucket is bound", 5); return; }
    const bucket = select.value;
    const prefix = $("#r2-prefix").value;
    const params = new URLSearchParams({ prefix, delimiter: "/" });
    if (append && r2Cursor) params.set("cursor", r2Cursor);
    const data = await api(`r2/buckets/${seg(bucket)}/objects?${params}`);
    const rows = [
      ...data.delimitedPrefixes.map((p) => h("tr", {},
        h("td", {}, h("a", { class: "folder", onclick: () => { $("#r2-prefix").value = p; panels.r2.refresh(); }, text: p })),
        h("td", { class: "num", text: "" }), h("td", {}), h("td", {}), h("td", {}))),
      ...data.objects.map((o) => h("tr", {},
        h("td", { class: "mono", text: o.key }),
        h("td", { class: "num", text: fmtBytes(o.size) }),
        h("td", { class: "nowrap", text: fmtTime(o.uploaded) }),
        h("td", { class: "mono", text: o.etag }),
        h("td", {}, h("a", {
          href: `r2/buckets/${seg(bucket)}/object?${new URLSearchParams({ key: o.key })}`,
          download: o.key.split("/").pop() || "object", text: "download",
        })))),
    ];
    if (append) tbody.append(...rows); else replaceRows(tbody, rows, prefix ? `nothing under "${prefix}"` : "the bucket is empty", 5);
    r2Cursor = data.truncated ? data.cursor : null;
    $("#r2-more").hidden = !r2Cursor;
  },
};

// ---------------------------------------------------------------- logs
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };
let logSource = null;

function logVisible(line) {
  const min = LEVELS[$("#log-level").value] || 0;
  const filter = $("#log-filter").value.toLowerCase();
  return (LEVELS[line.dataset.level] || 0) >= min &&
    (!filter || line.dataset.search.includes(filter));
}

function addLogRecord(record) {
  const box = $("#log-lines");
  const line = h("div", { class: `line ${record.level}`, dataset: { level: record.level, seq: String(record.seq) } },
    h("span", { class: "time", text: fmtTime(record.time) }),
    h("span", { class: "source", text: record.source }),
    h("span", { class: "message", text: record.message }));
  line.dataset.search = `${record.source} ${record.message}`.toLowerCase();
  line.hidden = !logVisible(line);
  box.append(line);
  while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild.remove();
  if ($("#log-follow").checked) box.scrollTop = box.scrollHeight;
}

function refilterLogs() {
  for (const line of $("#log-lines").children) line.hidden = !logVisible(line);
}

function startLogStream() {
  // EventSource reconnects by itself and sends Last-Event-ID, so no line is lost or doubled.
  logSource = new EventSource("dashboard/api/logs/stream");
  logSource.addEventListener("message", (event) => addLogRecord(JSON.parse(event.data)));
}

panels.logs = { poll: false, async refresh() {} };

// ---------------------------------------------------------------- start
function start() {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  $("#d1-run").addEventListener("click", runQuery);
  $("#d1-sql").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) runQuery(); });
  $("#d1-database").addEventListener("change", () => panels.d1.refresh().catch((e) => notice(e.message)));
  $("#r2-bucket").addEventListener("change", () => { $("#r2-prefix").value = ""; panels.r2.refresh().catch((e) => notice(e.message)); });
  $("#r2-go").addEventListener("click", () => panels.r2.refresh().catch((e) => notice(e.message)));
  $("#r2-prefix").addEventListener("keydown", (e) => { if (e.key === "Enter") panels.r2.refresh().catch((err) => notice(err.message)); });
  $("#r2-up").addEventListener("click", () => {
    const parts = $("#r2-prefix").value.replace(/\/$/, "").split("/");
    parts.pop();
    $("#r2-prefix").value = parts.length ? parts.join("/") + "/" : "";
    panels.r2.refresh().catch((e) => notice(e.message));
  });
  $("#r2-more").addEventListener("click", () => panels.r2.refresh(true).catch((e) => notice(e.message)));
  $("#log-level").addEventListener("change", refilterLogs);
  $("#log-filter").addEventListener("input", refilterLogs);
  $("#log-clear").addEventListener("click", () => $("#log-lines").replaceChildren());
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
  startLogStream();
  loadOverview()
    .then(() => showTab(location.hash.slice(1) || "queues"))
    .catch((e) => notice(e.message));
  setInterval(tick, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
