/* cf-emulator dashboard shell: plain JavaScript, no build step.
 *
 * The shell owns the header, the tabs, the Overview (every app's bindings) and the live
 * log tail. Each binding type adds its own tab from its package (emulator/bindings/<type>/
 * panel.js, loaded after this script) by calling registerPanel(). Everything shown comes
 * from the internal API under /_emulator/ (the plugins' inspection routes plus
 * dashboard/api/*). User data (message bodies, keys, SQL results, log lines) only ever
 * reaches the DOM through textContent / attribute setters; the only innerHTML is a
 * panel's own constant markup.
 */
"use strict";

const POLL_MS = 1000;
const MAX_LOG_LINES = 2000;

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

// The same for SVG elements (charts): attributes only, never markup.
function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
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
  }
  if (init.method !== "GET" && init.method !== "HEAD") {
    // The internal API refuses writes with a content type any web page could send
    // without asking (docs/security.md), so even body-less POSTs say JSON.
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
const panelOrder = [];
let activeTab = null;
let overview = { apps: [], bindings: {}, panels: [], clock: { now: 0, fake: false } };

// A binding type's panel: { title, html (constant markup), poll, setup(section), refresh(),
// background() }: refresh() runs every tick while the tab is shown (when poll is set),
// background() every tick while it is not (to keep a history, e.g. rate charts).
function registerPanel(name, spec) {
  panels[name] = spec;
  panelOrder.push(name);
}

// What the overview says about one binding type ({} when no hosted app uses it).
const bindingData = (name) => overview.bindings[name] || {};
const hasPlugin = (name) => name in overview.bindings;

function showTab(name) {
  if (!panels[name]) name = "overview";
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
  for (const name of panelOrder) {
    if (name !== activeTab && panels[name].background) await panels[name].background().catch(() => {});
  }
}

// ---------------------------------------------------------------- overview
// Every app's `env`, like `dev`'s "Your Worker has access to the following bindings".
const overviewPanel = {
  title: "Overview",
  poll: false,
  html: '<div id="overview-apps"></div>',
  async refresh() {
    $("#overview-apps").replaceChildren(...overview.apps.map((app) => h("div", { class: "app-bindings", dataset: { app: app.name } },
      h("h2", { text: `${app.name} (${app.kind})` }),
      h("table", { class: "grid bindings" },
        h("thead", {}, h("tr", {}, ["Binding", "Resource", "Type", "Local"].map((c) => h("th", { text: c })))),
        h("tbody", {}, app.bindings.length ? app.bindings.map((row) => h("tr", { class: row[3] === "emulated" ? "" : "not-emulated" },
          row.map((cell, i) => h("td", { class: i === 0 ? "mono" : i === 3 && cell !== "emulated" ? "error-text" : "", text: cell }))))
          : h("tr", {}, h("td", { class: "empty", colspan: 4, text: "no bindings" })))))));
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

const logsPanel = {
  title: "Logs",
  poll: false,
  html: `<div class="toolbar">
      <label>Level <select id="log-level">
        <option value="debug">debug</option><option value="info" selected>info</option>
        <option value="warn">warn</option><option value="error">error</option>
      </select></label>
      <label>Filter <input id="log-filter" type="text" size="30" placeholder="source or text"></label>
      <label><input id="log-follow" type="checkbox" checked> follow</label>
      <button type="button" id="log-clear">Clear</button>
    </div>
    <div id="log-lines" class="log"></div>`,
  setup() {
    $("#log-level").addEventListener("change", refilterLogs);
    $("#log-filter").addEventListener("input", refilterLogs);
    $("#log-clear").addEventListener("click", () => $("#log-lines").replaceChildren());
  },
  async refresh() {},
};

// ---------------------------------------------------------------- start
function mountPanels() {
  const names = ["overview", ...panelOrder, "logs"];
  panels.overview = overviewPanel;
  panels.logs = logsPanel;
  const nav = $("#tabs");
  const main = $("main");
  for (const name of names) {
    const spec = panels[name];
    nav.append(h("button", { type: "button", dataset: { tab: name }, text: spec.title, onclick: () => showTab(name) }));
    const section = h("section", { id: `tab-${name}`, dataset: { panel: name }, hidden: true });
    section.innerHTML = spec.html;  // the panel's own constant markup, never user data
    main.append(section);
    if (spec.setup) spec.setup(section);
  }
}

function start() {
  mountPanels();
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
  startLogStream();
  loadOverview()
    .then(() => showTab(location.hash.slice(1) || "overview"))
    .catch((e) => notice(e.message));
  setInterval(tick, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
