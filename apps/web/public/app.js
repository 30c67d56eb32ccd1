// The upload page: posts multipart uploads and polls GET /api/datasets/{id} every 2 s.
const $ = (id) => document.getElementById(id);
const show = (label, value) => {
  $("out").textContent = `${label}\n${JSON.stringify(value, null, 2)}`;
};
const token = () => $("token").value.trim();

$("upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData();
  form.append("file", $("file").files[0]);
  form.append("table", $("table").value);
  form.append("periodTag", $("periodTag").value);
  if ($("datasetId").value) form.append("datasetId", $("datasetId").value);
  const res = await fetch("/api/battle-data/upload", {
    method: "POST", body: form, headers: { authorization: `Bearer ${token()}` },
  });
  const body = await res.json();
  show(`upload → ${res.status}`, body);
  if (res.ok && !$("watchId").value) $("watchId").value = body.key.split("/")[1];
});

let timer = null;
$("watch").addEventListener("click", () => {
  clearInterval(timer);
  const poll = async () => {
    const res = await fetch(`/api/datasets/${encodeURIComponent($("watchId").value)}`);
    show(`status → ${res.status} (${new Date().toLocaleTimeString()})`, await res.json());
  };
  poll();
  timer = setInterval(poll, 2000);
});

$("trigger").addEventListener("click", async () => {
  const res = await fetch("/api/compaction/trigger", {
    method: "POST",
    headers: { authorization: `Bearer ${token()}`, "content-type": "application/json" },
    body: JSON.stringify({ datasetId: $("watchId").value || undefined }),
  });
  show(`trigger → ${res.status}`, await res.json());
});
