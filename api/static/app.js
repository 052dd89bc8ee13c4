// The scangrade upload page: plain JS over the JSON API. The token lives in sessionStorage
// (gone when the tab closes) and goes out as "Authorization: Bearer <token>".
"use strict";

const POLL_MS = 700;
const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem("scangrade-token") || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let detail = response.statusText;
    try { const body = await response.json(); detail = body.detail || JSON.stringify(body); } catch (_) { /* not JSON */ }
    throw new Error(`${response.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return response;
}

function say(element, text, isError = false) {
  element.textContent = text;
  element.className = isError ? "error" : "note";
}

// --- token ---------------------------------------------------------------------------------
function showTokenState() {
  say($("token-state"), token() ? "Token set for this tab." : "Enter the token your administrator gave you.");
}
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("scangrade-token", $("token").value.trim());
  $("token").value = "";
  showTokenState();
});

// --- exam ----------------------------------------------------------------------------------
function fileOrText(fileInput, textArea, name) {
  if (fileInput.files.length) return [fileInput.files[0], fileInput.files[0].name];
  const text = textArea.value.trim();
  return text ? [new Blob([text + "\n"], { type: "text/plain" }), name] : null;
}

$("exam-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const state = $("exam-state");
  const layout = fileOrText($("layout-file"), $("layout-text"), "layout.yaml");
  const key = fileOrText($("key-file"), $("key-text"), "key.csv");
  const roster = fileOrText($("roster-file"), $("roster-text"), "roster.csv");
  if (!layout || !key) { say(state, "A layout and an answer key are needed.", true); return; }
  const form = new FormData();
  form.append("layout", ...layout);
  form.append("key", ...key);
  if (roster) form.append("roster", ...roster);
  say(state, "Checking the exam files…");
  try {
    const exam = await (await api("/api/exams", { method: "POST", body: form })).json();
    $("exam-id").value = exam.exam_id;
    const notes = exam.problems.length ? " Note: " + exam.problems.join("; ") : "";
    say(state, `Exam "${exam.name}" created: ${exam.questions} questions, ${exam.id_digits}-digit student IDs.` + notes);
  } catch (error) {
    say(state, "Exam not created: " + error.message, true);
  }
});

// --- uploads and progress ------------------------------------------------------------------
$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const examId = $("exam-id").value.trim();
  const state = $("upload-state");
  if (!examId) { say(state, "Create an exam first (or paste its id).", true); return; }
  const files = Array.from($("pdf-files").files);
  say(state, `Uploading ${files.length} file(s)…`);
  let failed = 0;
  for (const file of files) {
    try {
      const url = `/api/exams/${encodeURIComponent(examId)}/jobs?filename=${encodeURIComponent(file.name)}`;
      const job = await (await api(url, { method: "POST", body: file, headers: { "Content-Type": "application/pdf" } })).json();
      addJobRow(job.job_id, file.name);
    } catch (error) {
      failed += 1;
      say(state, `${file.name} not accepted: ${error.message}`, true);
    }
  }
  if (!failed) say(state, `${files.length} file(s) uploaded; grading runs in the background.`);
  $("pdf-files").value = "";
});

function addJobRow(jobId, filename) {
  const row = document.createElement("tr");
  row.className = "job";
  row.dataset.jobId = jobId;
  row.innerHTML = `<td class="file"></td><td class="status">queued</td>
    <td><progress max="1" value="0"></progress> <span class="count"></span></td>
    <td class="problems"></td><td class="reports"></td>`;
  row.querySelector(".file").textContent = filename;
  $("jobs").querySelector("tbody").prepend(row);
  poll(row);
}

async function poll(row) {
  let job;
  try {
    job = await (await api(`/api/jobs/${row.dataset.jobId}`)).json();
  } catch (error) {
    row.querySelector(".status").textContent = "error: " + error.message;
    setTimeout(() => poll(row), POLL_MS * 4);
    return;
  }
  row.querySelector(".status").textContent = job.status + (job.error ? ": " + job.error : "");
  const bar = row.querySelector("progress");
  bar.max = Math.max(job.pages_total, 1);
  bar.value = job.pages_done;
  row.querySelector(".count").textContent = `${job.pages_done}/${job.pages_total} pages`;
  showProblems(row.querySelector(".problems"), job.problems);
  if (job.status === "done") {
    showReports(row.querySelector(".reports"), job);
    showSummary(row.querySelector(".file"), job.summary);
    return;
  }
  if (job.status === "failed" || job.status === "lost") return;
  setTimeout(() => poll(row), POLL_MS);
}

function showSummary(cell, summary) {
  if (!summary || cell.querySelector(".summary")) return;
  const line = document.createElement("div");
  line.className = "summary note";
  line.textContent = `${summary.students} student(s) graded, ${summary.needs_review} to review`;
  cell.append(line);
}

function showProblems(cell, problems) {
  if (!problems.length) { cell.textContent = "none"; return; }
  cell.innerHTML = "";
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = `${problems.length} page(s)`;
  details.append(summary);
  for (const problem of problems) {
    const line = document.createElement("div");
    line.textContent = `page ${problem.page}: ${problem.status} ${problem.message}`;
    details.append(line);
  }
  cell.append(details);
}

function showReports(cell, job) {
  cell.innerHTML = "";
  // The API lists the reports that exist, in the order a teacher wants them.
  for (const [name, url] of Object.entries(job.reports || {})) {
    const link = document.createElement("a");
    link.href = "#";
    link.className = "download";
    link.dataset.report = name;
    link.textContent = name;
    link.addEventListener("click", (event) => { event.preventDefault(); download(url, name); });
    cell.append(link);
  }
}

// Downloads need the token header, so fetch the file and hand the browser a blob URL.
async function download(url, name) {
  try {
    const blob = await (await api(url)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    say($("upload-state"), `${name}: ${error.message}`, true);
  }
}

showTokenState();
