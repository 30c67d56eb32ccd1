/* The Durable Objects tab of the dashboard: objects per class, and one object's keys, SQL
 * tables, alarm and connected sockets, with a SQL box. Reads /_emulator/durable_objects.
 */
"use strict";

let doSelected = null; // {ns, id}

function doObjectPath(ns, id, rest = "") {
  return `durable_objects/namespaces/${seg(ns)}/object${rest}?${new URLSearchParams({ id })}`;
}

async function showDoObject(ns, id) {
  doSelected = { ns, id };
  for (const row of document.querySelectorAll("#do-objects tbody tr")) {
    row.classList.toggle("selected", row.dataset.id === id);
  }
  const [info, storage] = await Promise.all([api(doObjectPath(ns, id)), api(doObjectPath(ns, id, "/storage"))]);
  const detail = $("#do-detail");
  detail.hidden = false;
  detail.dataset.id = id;
  $("#do-detail-title").textContent = info.name ? `${info.name} (${id})` : id;
  const summary = [
    ["state", info.active ? "active" : "not in memory"],
    ["keys", String(info.keys)],
    ["size", fmtBytes(info.size)],
    ["alarm", info.alarm ? fmtTime(info.alarm) : "none"],
    ["sockets", String(info.sockets)],
  ];
  $("#do-summary").replaceChildren(...summary.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
  replaceRows($("#do-keys tbody"), storage.entries.map((e) => h("tr", { dataset: { key: e.key } },
    h("td", { class: "mono", text: e.key }),
    h("td", { class: "body", text: preview(e.value, 300) }),
    h("td", { class: "nowrap", text: fmtBytes(e.size) }))), "no keys", 3);
  $("#do-tables").replaceChildren(...(info.tables.length ? info.tables.map((t) => h("li", {
    title: "click to query",
    onclick: () => { $("#do-sql").value = `SELECT * FROM "${t.name.replaceAll('"', '""')}" LIMIT 100`; runDoQuery(); },
  }, h("strong", { text: t.name }), h("span", { class: "muted", text: t.rows === null ? "" : ` ${t.rows} rows` })))
    : [h("li", { class: "muted", text: "no SQL tables" })]));
}

async function runDoQuery() {
  const info = $("#do-sql-info");
  const thead = $("#do-result thead");
  const tbody = $("#do-result tbody");
  if (!doSelected) return;
  info.textContent = "running…";
  info.className = "muted";
  try {
    const result = await api(doObjectPath(doSelected.ns, doSelected.id, "/sql"),
      { method: "POST", json: { sql: $("#do-sql").value } });
    thead.replaceChildren(h("tr", {}, result.columns.map((c) => h("th", { text: c }))));
    replaceRows(tbody, result.rows.map((row) => h("tr", {}, row.map((v) =>
      h("td", { class: "mono", text: v === null ? "NULL" : typeof v === "object" ? JSON.stringify(v) : v })))),
      "no rows", Math.max(1, result.columns.length));
    info.textContent = `${result.rows.length} row(s), ${result.rowsWritten} written`;
  } catch (e) {
    thead.replaceChildren();
    tbody.replaceChildren();
    info.textContent = e.message;
    info.className = "error-text";
  }
}

registerPanel("durable_objects", {
  title: "Durable Objects",
  poll: false,
  html: `<div class="toolbar">
      <label>Class <select id="do-namespace"></select></label>
      <button type="button" id="do-refresh">Refresh</button>
      <button type="button" id="do-evict" title="evict every active object of this class">Evict all</button>
      <span id="do-info" class="muted"></span>
    </div>
    <table id="do-objects" class="grid">
      <thead><tr><th>Name</th><th>Id</th><th>State</th><th>Alarm</th><th>Sockets</th></tr></thead>
      <tbody></tbody>
    </table>
    <div id="do-detail" class="detail" hidden>
      <h2 id="do-detail-title" class="mono"></h2>
      <dl id="do-summary" class="summary"></dl>
      <table id="do-keys" class="grid">
        <thead><tr><th>Key</th><th>Value</th><th>Size</th></tr></thead>
        <tbody></tbody>
      </table>
      <div class="split">
        <div class="tables-list">
          <h2>SQL tables</h2>
          <ul id="do-tables"></ul>
        </div>
        <div class="query">
          <h2>SQL <span class="muted small">(runs as the object's own SQL)</span></h2>
          <textarea id="do-sql" rows="3" spellcheck="false">SELECT name FROM sqlite_master WHERE type = 'table'</textarea>
          <div class="toolbar"><button type="button" id="do-run">Run</button><span id="do-sql-info" class="muted"></span></div>
          <table id="do-result" class="grid"><thead></thead><tbody></tbody></table>
        </div>
      </div>
    </div>`,
  setup() {
    const refresh = () => panels.durable_objects.refresh().catch((e) => notice(e.message));
    $("#do-namespace").addEventListener("change", () => { doSelected = null; $("#do-detail").hidden = true; refresh(); });
    $("#do-refresh").addEventListener("click", refresh);
    $("#do-run").addEventListener("click", runDoQuery);
    $("#do-sql").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) runDoQuery(); });
    $("#do-evict").addEventListener("click", async () => {
      const ns = $("#do-namespace").value;
      if (!ns) return;
      try {
        const result = await api(`durable_objects/namespaces/${seg(ns)}/evict`, { method: "POST" });
        notice(`Evicted ${result.evicted} object(s).`, false);
        refresh();
      } catch (e) { notice(e.message); }
    });
  },
  async refresh() {
    const select = $("#do-namespace");
    const tbody = $("#do-objects tbody");
    const namespaces = hasPlugin("durable_objects") ? await api("durable_objects/namespaces") : [];
    const keys = namespaces.map((n) => n.key);
    if (select.options.length !== keys.length) {
      const current = select.value;
      select.replaceChildren(...namespaces.map((n) => h("option", { value: n.key, text: `${n.className} (${n.script})` })));
      if (keys.includes(current)) select.value = current;
    }
    if (!select.value) {
      replaceRows(tbody, [], "no Durable Object class is bound", 5);
      $("#do-detail").hidden = true;
      return;
    }
    const ns = select.value;
    const meta = namespaces.find((n) => n.key === ns) || {};
    $("#do-info").textContent = `${meta.active || 0} active, ${meta.stored || 0} stored, ${meta.sqlite ? "SQLite" : "KV"}-backed`;
    const page = await api(`durable_objects/namespaces/${seg(ns)}/objects`);
    replaceRows(tbody, page.objects.map((o) => h("tr", {
      class: `selectable${doSelected && doSelected.id === o.id ? " selected" : ""}`,
      dataset: { id: o.id },
      onclick: () => showDoObject(ns, o.id).catch((e) => notice(e.message)),
    },
    h("td", { text: o.name === null ? "" : o.name }),
    h("td", { class: "mono", text: o.id.slice(0, 16) + "…", title: o.id }),
    h("td", { text: o.active ? "active" : "" }),
    h("td", { class: "nowrap", text: o.alarm ? fmtTime(o.alarm) : "" }),
    h("td", { text: o.sockets ? String(o.sockets) : "" }))), "no objects yet", 5);
    if (doSelected && doSelected.ns === ns) await showDoObject(ns, doSelected.id).catch(() => { $("#do-detail").hidden = true; });
  },
});
