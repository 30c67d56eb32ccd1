/* The Workflows tab of the dashboard: instances (newest first) with status, and one
 * instance's steps with attempts, outputs and errors. Reads /_emulator/workflows.
 */
"use strict";

const MAX_INSTANCES = 200;
let selectedInstance = null; // [workflow, id]

function errorText(error) {
  if (error === undefined || error === null || error === "") return "";
  if (typeof error === "object") {
    const name = error.name ? `${error.name}: ` : "";
    return error.message !== undefined ? `${name}${error.message}` : JSON.stringify(error);
  }
  return String(error);
}

registerPanel("workflows", {
  title: "Workflows",
  poll: true,
  html: `<p id="instance-note" class="muted small" hidden></p>
    <table id="instance-table" class="grid">
      <thead><tr><th>Workflow</th><th>Instance</th><th>Status</th><th>Created</th><th class="num">Duration</th><th>Error</th></tr></thead>
      <tbody></tbody>
    </table>
    <div id="instance-detail" class="detail" hidden>
      <h2 id="instance-detail-title"></h2>
      <dl id="instance-summary" class="summary"></dl>
      <table id="step-table" class="grid">
        <thead><tr><th>Step</th><th>Type</th><th>Status</th><th class="num">Attempts</th><th class="num">Duration</th><th>Error / output</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>`,
  async refresh() {
    const tbody = $("#instance-table tbody");
    if (!hasPlugin("workflows")) {
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
});

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
