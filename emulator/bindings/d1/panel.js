/* The D1 tab of the dashboard: each bound database's tables (columns, row counts) and a
 * read-only query box. Reads /_emulator/d1 (a separate read-only connection).
 */
"use strict";

registerPanel("d1", {
  title: "D1",
  poll: false,
  html: `<div class="toolbar">
      <label>Database <select id="d1-database"></select></label>
    </div>
    <div class="split">
      <div class="tables-list">
        <h2>Tables</h2>
        <ul id="d1-tables"></ul>
      </div>
      <div class="query">
        <h2>Query <span class="muted small">(read-only)</span></h2>
        <textarea id="d1-sql" rows="4" spellcheck="false">SELECT name FROM sqlite_master WHERE type = 'table'</textarea>
        <div class="toolbar"><button type="button" id="d1-run">Run</button><span id="d1-info" class="muted"></span></div>
        <table id="d1-result" class="grid"><thead></thead><tbody></tbody></table>
      </div>
    </div>`,
  setup() {
    $("#d1-run").addEventListener("click", runQuery);
    $("#d1-sql").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) runQuery(); });
    $("#d1-database").addEventListener("change", () => panels.d1.refresh().catch((e) => notice(e.message)));
  },
  async refresh() {
    const select = $("#d1-database");
    const names = Object.keys(bindingData("d1").databases || {});
    if (select.options.length !== names.length) {
      const current = select.value;
      select.replaceChildren(...names.map((n) => h("option", { value: n, text: n })));
      if (names.includes(current)) select.value = current;
    }
    if (!select.value) {
      $("#d1-tables").replaceChildren(h("li", { class: "muted", text: "no D1 database is bound" }));
      return;
    }
    const data = await api(`d1/databases/${seg(select.value)}/tables`);
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
});

async function runQuery() {
  const db = $("#d1-database").value;
  const info = $("#d1-info");
  const thead = $("#d1-result thead");
  const tbody = $("#d1-result tbody");
  info.textContent = "running…";
  info.className = "muted";
  try {
    const result = await api(`d1/databases/${seg(db)}/query`, { method: "POST", json: { sql: $("#d1-sql").value } });
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
