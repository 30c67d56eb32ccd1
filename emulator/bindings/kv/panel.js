/* The KV tab of the dashboard: a namespace's keys by prefix (pages of 1,000), and one key's
 * value, metadata and expiry. Reads /_emulator/kv.
 */
"use strict";

let kvCursor = null;
let kvSelectedKey = null;

async function showKvEntry(ns, key) {
  const detail = $("#kv-detail");
  kvSelectedKey = key;
  for (const row of document.querySelectorAll("#kv-table tbody tr")) {
    row.classList.toggle("selected", row.dataset.key === key);
  }
  const entry = await api(`kv/namespaces/${seg(ns)}/entry?${new URLSearchParams({ key })}`);
  detail.hidden = false;
  detail.dataset.key = key;
  $("#kv-detail-title").textContent = key;
  const summary = [
    ["size", fmtBytes(entry.size)],
    ["expires", entry.expiration ? fmtTime(entry.expiration) : "never"],
    ["metadata", entry.metadata === undefined ? "" : JSON.stringify(entry.metadata, null, 2)],
  ].filter(([, v]) => v);
  $("#kv-summary").replaceChildren(...summary.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
  $("#kv-value").textContent = entry.text !== undefined ? preview(entry.text, 20000) : `base64: ${preview(entry.base64, 20000)}`;
}

registerPanel("kv", {
  title: "KV",
  poll: false,
  html: `<div class="toolbar">
      <label>Namespace <select id="kv-namespace"></select></label>
      <label>Prefix <input id="kv-prefix" type="text" size="40" spellcheck="false"></label>
      <button type="button" id="kv-go">List</button>
      <span id="kv-info" class="muted"></span>
    </div>
    <table id="kv-table" class="grid">
      <thead><tr><th>Key</th><th>Expires</th><th>Metadata</th></tr></thead>
      <tbody></tbody>
    </table>
    <div class="toolbar"><button type="button" id="kv-more" hidden>More…</button></div>
    <div id="kv-detail" class="detail" hidden>
      <h2 id="kv-detail-title" class="mono"></h2>
      <dl id="kv-summary" class="summary"></dl>
      <pre id="kv-value" class="mono value"></pre>
    </div>`,
  setup() {
    const refresh = (append = false) => panels.kv.refresh(append).catch((e) => notice(e.message));
    $("#kv-namespace").addEventListener("change", () => { $("#kv-prefix").value = ""; kvSelectedKey = null; refresh(); });
    $("#kv-go").addEventListener("click", () => refresh());
    $("#kv-prefix").addEventListener("keydown", (e) => { if (e.key === "Enter") refresh(); });
    $("#kv-more").addEventListener("click", () => refresh(true));
  },
  async refresh(append = false) {
    const select = $("#kv-namespace");
    const tbody = $("#kv-table tbody");
    const stored = hasPlugin("kv") ? await api("kv/namespaces") : [];
    const names = [...new Set([...Object.keys(bindingData("kv").namespaces || {}), ...stored.map((n) => n.id)])].sort();
    if (select.options.length !== names.length) {
      const current = select.value;
      select.replaceChildren(...names.map((n) => h("option", { value: n, text: n })));
      if (names.includes(current)) select.value = current;
    }
    if (!select.value) {
      replaceRows(tbody, [], "no KV namespace is bound", 3);
      $("#kv-detail").hidden = true;
      return;
    }
    const ns = select.value;
    const count = (stored.find((n) => n.id === ns) || {}).keys;
    $("#kv-info").textContent = count === undefined ? "" : `${count} key(s)`;
    const params = new URLSearchParams({ prefix: $("#kv-prefix").value });
    if (append && kvCursor) params.set("cursor", kvCursor);
    const page = await api(`kv/namespaces/${seg(ns)}/keys?${params}`);
    const rows = page.keys.map((k) => h("tr", {
      class: `selectable${k.name === kvSelectedKey ? " selected" : ""}`,
      dataset: { key: k.name },
      onclick: () => showKvEntry(ns, k.name).catch((e) => notice(e.message)),
    },
    h("td", { class: "mono", text: k.name }),
    h("td", { class: "nowrap", text: k.expiration ? fmtTime(k.expiration) : "" }),
    h("td", { class: "body", text: k.metadata === undefined ? "" : JSON.stringify(k.metadata) })));
    if (append) tbody.append(...rows); else replaceRows(tbody, rows, "no keys", 3);
    kvCursor = page.list_complete ? null : page.cursor;
    $("#kv-more").hidden = !kvCursor;
    if (kvSelectedKey && !append) await showKvEntry(ns, kvSelectedKey).catch(() => { $("#kv-detail").hidden = true; });
  },
});
