/* The R2 tab of the dashboard: browse a bucket by prefix ("folders" by delimiter), page
 * through it and download objects. Reads /_emulator/r2.
 */
"use strict";

let r2Cursor = null;

registerPanel("r2", {
  title: "R2",
  poll: false,
  html: `<div class="toolbar">
      <label>Bucket <select id="r2-bucket"></select></label>
      <label>Prefix <input id="r2-prefix" type="text" size="40" spellcheck="false"></label>
      <button type="button" id="r2-go">List</button>
      <button type="button" id="r2-up">Up</button>
    </div>
    <table id="r2-table" class="grid">
      <thead><tr><th>Key</th><th class="num">Size</th><th>Uploaded</th><th>ETag</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
    <div class="toolbar"><button type="button" id="r2-more" hidden>More…</button></div>`,
  setup() {
    const refresh = (append = false) => panels.r2.refresh(append).catch((e) => notice(e.message));
    $("#r2-bucket").addEventListener("change", () => { $("#r2-prefix").value = ""; refresh(); });
    $("#r2-go").addEventListener("click", () => refresh());
    $("#r2-prefix").addEventListener("keydown", (e) => { if (e.key === "Enter") refresh(); });
    $("#r2-up").addEventListener("click", () => {
      const parts = $("#r2-prefix").value.replace(/\/$/, "").split("/");
      parts.pop();
      $("#r2-prefix").value = parts.length ? parts.join("/") + "/" : "";
      refresh();
    });
    $("#r2-more").addEventListener("click", () => refresh(true));
  },
  async refresh(append = false) {
    const select = $("#r2-bucket");
    // Declared buckets plus any created since (by the CLI or the S3 endpoint).
    const created = hasPlugin("r2") ? await api("r2/buckets") : [];
    const names = [...new Set([...Object.keys(bindingData("r2").buckets || {}), ...created])].sort();
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
});
