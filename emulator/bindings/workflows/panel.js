/* The Workflows tab of the dashboard: instances (newest first) with status, and one
 * instance's steps with attempts, outputs and errors; the selected instance can be paused,
 * resumed, terminated, restarted and sent an event. Reads /_emulator/workflows.
 */
"use strict";

const MAX_INSTANCES = 200;
let selectedInstance = null; // [workflow, id]

// Which actions make sense in which status (the engine refuses or ignores the others).
const FINITE_STATUSES = ["complete", "errored", "terminated"];
const INSTANCE_ACTIONS = {
  pause: { done: "Paused", when: (s) => ["queued", "running", "waiting"].includes(s) },
  resume: { done: "Resumed", when: (s) => ["paused", "waitingForPause"].includes(s) },
  terminate: { done: "Terminated", when: (s) => !FINITE_STATUSES.includes(s),
               confirm: (name) => `Terminate ${name}? It stops for good.` },
  restart: { done: "Restarted", when: () => true,
             confirm: (name) => `Restart ${name} from the beginning? Its step results are discarded.` },
};

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
      <div id="instance-actions" class="toolbar">
        <button type="button" data-action="pause">Pause</button>
        <button type="button" data-action="resume">Resume</button>
        <button type="button" class="danger" data-action="terminate">Terminate</button>
        <button type="button" data-action="restart">Restart</button>
      </div>
      <div class="send-form">
        <h3>Send an event</h3>
        <div class="toolbar">
          <label>Type <input id="wf-event-type" type="text" size="24" placeholder="approval"></label>
        </div>
        <textarea id="wf-event-payload" rows="3" placeholder='payload as JSON (optional), e.g. {"approved": true}'></textarea>
        <div class="toolbar"><button type="button" id="wf-event-send">Send event</button></div>
      </div>
      <table id="step-table" class="grid">
        <thead><tr><th>Step</th><th>Type</th><th>Status</th><th class="num">Attempts</th><th class="num">Duration</th><th>Error / output</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>`,
  setup() {
    for (const button of document.querySelectorAll("#instance-actions button")) {
      button.addEventListener("click", () => instanceAction(button.dataset.action));
    }
    $("#wf-event-send").addEventListener("click", () => sendEvent());
  },
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
  detail.dataset.status = data.status;
  $("#instance-detail-title").replaceChildren(`${workflow} / ${id} `, badge(data.status));
  for (const button of document.querySelectorAll("#instance-actions button")) {
    button.disabled = !INSTANCE_ACTIONS[button.dataset.action].when(data.status);
  }
  $("#wf-event-send").disabled = FINITE_STATUSES.includes(data.status);
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

async function instanceAction(verb) {
  if (!selectedInstance) return;
  const [workflow, id] = selectedInstance;
  const action = INSTANCE_ACTIONS[verb];
  if (action.confirm && !confirm(action.confirm(`${workflow}/${id}`))) return;
  try {
    const result = await api(`workflows/${seg(workflow)}/instances/${seg(id)}/${verb}`, { method: "POST" });
    notice(`${action.done} ${workflow}/${id}: now ${result.status}.`, false);
  } catch (e) { notice(e.message); }
  await panels.workflows.refresh().catch((e) => notice(e.message));
}

async function sendEvent() {
  if (!selectedInstance) return;
  const [workflow, id] = selectedInstance;
  const type = $("#wf-event-type").value.trim();
  const raw = $("#wf-event-payload").value.trim();
  if (!type) { notice("An event needs a type (what the workflow's wait_for_event waits for)."); return; }
  let payload;
  try {
    payload = raw === "" ? null : JSON.parse(raw);
  } catch (e) { notice(`The payload is not valid JSON (${e.message}).`); return; }
  try {
    const result = await api(`workflows/${seg(workflow)}/instances/${seg(id)}/events`,
                             { method: "POST", json: { type, payload } });
    notice(`Sent event "${type}" to ${workflow}/${id} (${result.status}).`, false);
  } catch (e) { notice(e.message); }
  await panels.workflows.refresh().catch((e) => notice(e.message));
}
