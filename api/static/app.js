// scangrade's page: plain JS over the JSON API, no build step. Views by the address's hash:
//   #/                 your exams and a form for a new one
//   #/exam/<id>        one exam: print sheets, upload scans, uploads, gradebook
//   #/exam/<id>/review the review screen (review.js)
//   #review?key=...    the review screen of `scangrade review DIR` on a laptop
// The token lives in sessionStorage (gone when the tab closes) and goes out as
// "Authorization: Bearer <token>"; images and downloads are fetched with it as blobs.
"use strict";

const POLL_MS = 1500;
const $ = (id) => document.getElementById(id);
const App = { local: false, examId: null, poll: null };

function token() { return sessionStorage.getItem("scangrade-token") || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let detail = response.statusText;
    try { const body = await response.json(); detail = body.detail || JSON.stringify(body); } catch (_) { /* not JSON */ }
    const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    error.status = response.status;
    throw error;
  }
  return response;
}
const json = async (path, options) => (await api(path, options)).json();

function say(element, text, isError = false) {
  element.textContent = text;
  element.className = isError ? "error" : "note";
}
// A message for the whole page; one of success fades out of the next view after a moment.
const FLASH_KEEP_MS = 8000;
function flash(text, isError = false) { say($("flash"), text, isError); App.flashed = Date.now(); }
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}
function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
}
function explain(error) {
  if (error.status === 401) return "Sign in with your token first (" + error.message + ").";
  if (error.status === 503) return "The grading service is not answering just now: " + error.message;
  return error.message;
}

// Images and files need the token header: fetched, then shown or saved as blob URLs.
async function blobUrl(url) { return URL.createObjectURL(await (await api(url)).blob()); }
async function download(url, name) {
  try {
    const link = el("a", { href: await blobUrl(url), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    flash(`${name}: ${explain(error)}`, true);
  }
}
function downloadLink(name, url, label) {
  const link = el("a", { href: url, className: "download", dataset: { report: name } }, label || name);
  link.addEventListener("click", (event) => { event.preventDefault(); download(url, name); });
  return link;
}

// --- signing in ---------------------------------------------------------------------------
function showSignedIn() {
  const signedIn = Boolean(token());
  $("token-form").hidden = signedIn || App.local;
  $("signed-in").hidden = !signedIn || App.local;
  $("signed-in-text").textContent = "Signed in for this tab.";
}
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("scangrade-token", $("token").value.trim());
  $("token").value = "";
  flash("");
  showSignedIn();
  route();
});
$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem("scangrade-token");
  showSignedIn();
  route();
});

// --- views --------------------------------------------------------------------------------
function show(view) {
  for (const id of ["view-home", "view-exam", "view-review"]) $(id).hidden = id !== view;
}

async function route() {
  clearTimeout(App.poll);
  const hash = location.hash || "#/";
  if (App.local) { show("view-review"); Review.open("/api/review", null); return; }
  if (!token()) { show(null); flash("Sign in with the token your school's administrator gave you."); $("token").focus(); return; }
  if ($("flash").className === "error" || Date.now() - (App.flashed || 0) > FLASH_KEEP_MS) flash("");
  const review = hash.match(/^#\/exam\/([\w-]+)\/review$/);
  const exam = hash.match(/^#\/exam\/([\w-]+)$/);
  if (review) { show("view-review"); Review.open(`/api/exams/${review[1]}/review`, review[1]); return; }
  if (exam) {
    if (App.examId !== exam[1]) $("photos").replaceChildren();  // another exam's photos
    show("view-exam"); App.examId = exam[1]; await loadExam(exam[1]); return;
  }
  show("view-home");
  await loadExams();
}
window.addEventListener("hashchange", route);

// --- home: the exams and a new one --------------------------------------------------------
async function loadExams() {
  const body = $("exams").querySelector("tbody");
  try {
    const exams = await json("/api/exams");
    body.replaceChildren(...exams.map((exam) => el("tr", { className: "exam" },
      el("td", {}, el("a", { href: `#/exam/${exam.exam_id}` }, exam.name)),
      el("td", {}, when(exam.created)),
      el("td", {}, String(exam.uploads)),
      el("td", {}, exam.gradebook ? String(exam.gradebook.students) : "–"),
      el("td", {}, exam.gradebook ? String(exam.gradebook.to_review) : "–"))));
    $("exams-empty").hidden = exams.length > 0;
    $("exams").hidden = exams.length === 0;
  } catch (error) {
    flash(explain(error), true);
  }
}

function questionRows() {
  const body = $("questions").querySelector("tbody");
  const wanted = Math.max(1, Math.min(500, Number($("exam-count").value) || 1));
  while (body.rows.length < wanted) {
    const n = body.rows.length + 1;
    body.append(el("tr", {},
      el("th", { scope: "row" }, `q${n}`),
      el("td", {}, el("input", { type: "number", min: 1, max: 10, value: 2, className: "boxes", "aria-label": `Question ${n}: boxes` })),
      el("td", {}, el("input", { type: "number", min: 0, max: 1000, step: "any", value: 1, className: "points", "aria-label": `Question ${n}: points` })),
      el("td", {}, el("input", { inputMode: "numeric", className: "answer", maxLength: 80, "aria-label": `Question ${n}: answer`, placeholder: "e.g. 42" }))));
  }
  while (body.rows.length > wanted) body.lastElementChild.remove();
}
$("exam-count").addEventListener("input", questionRows);

$("exam-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const state = $("exam-state");
  const form = new FormData();
  const layoutFile = $("layout-file").files[0];
  if (layoutFile) {
    form.append("layout", layoutFile, layoutFile.name);
  } else {
    const questions = Array.from($("questions").querySelector("tbody").rows).map((row) => ({
      boxes: Number(row.querySelector(".boxes").value),
      points: Number(row.querySelector(".points").value),
      answer: row.querySelector(".answer").value.trim(),
    }));
    form.append("form", JSON.stringify({
      name: $("exam-name").value.trim(), id_digits: Number($("exam-id-digits").value),
      paper: $("exam-paper").value, questions,
    }));
  }
  for (const [id, name] of [["key-file", "key"], ["roster-file", "roster"]]) {
    const file = $(id).files[0];
    if (file) form.append(name, file, file.name);
  }
  say(state, "Checking the exam…");
  try {
    const exam = await json("/api/exams", { method: "POST", body: form });
    const notes = exam.problems.length ? " Note: " + exam.problems.join("; ") : "";
    flash(`Exam "${exam.name}" created: ${exam.questions} questions, ${exam.id_digits}-digit student IDs.` + notes);
    say(state, "");
    $("exam-form").reset();
    questionRows();
    location.hash = `#/exam/${exam.exam_id}`;
  } catch (error) {
    say(state, "The exam was not created: " + explain(error), true);
  }
});

// --- one exam -----------------------------------------------------------------------------
const FINAL = new Set(["done", "failed"]);

async function loadExam(examId) {
  let exam;
  try {
    exam = await json(`/api/exams/${examId}`);
  } catch (error) {
    flash(error.status === 404 ? "There is no such exam among yours." : explain(error), true);
    return;
  }
  if (App.examId !== examId) return;  // the teacher moved on meanwhile
  $("exam-title").textContent = exam.name;
  $("exam-facts").textContent = `${exam.questions} questions · ${exam.id_digits}-digit student IDs` +
    (exam.roster_students ? ` · roster of ${exam.roster_students} students` : " · no roster") +
    ` · created ${when(exam.created)}`;
  if (!$("sheet-copies").value) $("sheet-copies").value = exam.roster_students || 30;
  showUploads(exam.upload_views);
  showGradebook(exam);
  const busy = exam.upload_views.some((job) => !FINAL.has(job.status)) ||
    (exam.gradebook && exam.gradebook.uploads_included < exam.gradebook.uploads_graded) ||
    (!exam.gradebook && exam.upload_views.some((job) => job.status === "done"));
  if (busy) App.poll = setTimeout(() => { if (App.examId === examId && !$("view-exam").hidden) loadExam(examId); }, POLL_MS);
}

function statusText(job) {
  if (job.waiting_for_worker) return "waiting for a worker: no grading worker is running (tell whoever runs the server)";
  if (job.status === "failed") return "not graded: " + job.error;
  if (job.status === "lost") return "interrupted: it will be picked up again shortly";
  if (job.status === "unknown") return "status unknown: the grading service is not answering just now";
  return { queued: "queued", reading: "reading the pages", grading: "writing the reports", done: "graded" }[job.status] || job.status;
}

function showUploads(jobs) {
  const body = $("jobs").querySelector("tbody");
  body.replaceChildren(...jobs.slice().reverse().map((job) => {
    const bar = el("progress", { max: Math.max(job.pages_total, 1), value: job.pages_done });
    const problems = el("td", { className: "problems" });
    if (job.problems.length) {
      const details = el("details", {}, el("summary", {}, `${job.problems.length} page(s)`));
      for (const problem of job.problems) {
        const line = el("div", { className: "problem" }, `page ${problem.page}: ${problem.message || problem.status}`);
        if (problem.thumbnail) {
          const image = el("img", { alt: `page ${problem.page}`, className: "thumb", loading: "lazy" });
          details.addEventListener("toggle", async () => {
            if (details.open && !image.src) { try { image.src = await blobUrl(problem.thumbnail); } catch (_) { image.remove(); } }
          });
          line.prepend(image);
        }
        details.append(line);
      }
      problems.append(details);
    } else {
      problems.textContent = FINAL.has(job.status) ? "none" : "";
    }
    const state = el("td", { className: "status" + (job.status === "failed" ? " error" : "") }, statusText(job));
    state.dataset.status = job.status;
    return el("tr", { className: "job", dataset: { jobId: job.job_id } },
      el("td", { className: "file" }, job.filename),
      state,
      el("td", {}, bar, " ", el("span", { className: "count" }, `${job.pages_done}/${job.pages_total}`)),
      problems);
  }));
}

function showGradebook(exam) {
  const box = $("gradebook");
  const book = exam.gradebook;
  if (!book) {
    box.replaceChildren(el("p", { className: "note" }, exam.uploads ? "Grading the uploads…" : "Grades appear here once an upload is graded."));
    return;
  }
  const mean = book.mean_percent === null ? "" : `, mean ${book.mean_percent}%`;
  const updating = book.uploads_included < book.uploads_graded ? " Taking in the newest upload…" : "";
  const parts = [
    el("p", { className: "summary" }, `${book.students} student(s) graded from ${book.uploads_included} upload(s)${mean}.${updating}`),
  ];
  if (book.absent.length) parts.push(el("p", { className: "note" }, `Without a sheet: ${book.absent.join(", ")}.`));
  if (book.to_review) {
    parts.push(el("p", {}, el("a", { href: `#/exam/${exam.exam_id}/review`, className: "button", id: "start-review" },
      `Review ${book.to_review} flagged item(s) of ${book.needs_review} student(s)`)));
  } else {
    parts.push(el("p", { className: "ok" }, "Nothing to review: every grade is sure."));
  }
  const list = el("ul", { className: "downloads" });
  for (const [name, url] of Object.entries(book.reports)) list.append(el("li", {}, downloadLink(name, url)));
  parts.push(el("h4", {}, "Download"), list);
  box.replaceChildren(...parts);
}

$("sheets-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const copies = Number($("sheet-copies").value) || 30;
  download(`/api/exams/${App.examId}/sheets.pdf?copies=${copies}`, "sheets.pdf");
});

// --- photos, one sheet after another: each uploaded as it is taken, its outcome on its card
const PHOTO_POLL_MS = 1500;

function photoOutcome(job) {
  const problem = job.problems.find((p) => p.status !== "ok");
  if (problem) return { retake: true, text: "Retake: " + (problem.message || problem.status) };
  if (job.status === "failed") return { retake: true, text: "Retake: " + job.error };
  if (job.status === "done") {
    const students = job.summary ? job.summary.students : 0;
    return { retake: false, text: students ? "Read ✓" : "Read, but no student's sheet of this exam" };
  }
  return null;
}

async function followPhoto(jobId, card, examId) {
  let job;
  try {
    job = await json(`/api/jobs/${jobId}`);
  } catch (error) {
    say(card.status, "Status unknown: " + explain(error), true);
    return;
  }
  const outcome = photoOutcome(job);
  if (!outcome) {
    say(card.status, job.waiting_for_worker ? "Waiting for a worker…" : "Reading…");
    setTimeout(() => followPhoto(jobId, card, examId), PHOTO_POLL_MS);
    return;
  }
  card.status.textContent = outcome.text;
  card.status.className = outcome.retake ? "retake" : "read";
  card.item.dataset.outcome = outcome.retake ? "retake" : "read";
  if (App.examId === examId && !$("view-exam").hidden) loadExam(examId);
}

$("camera").addEventListener("change", async () => {
  const input = $("camera");
  const file = input.files[0];
  if (!file) return;
  input.value = "";  // the same button takes the next sheet
  const examId = App.examId;
  const number = $("photos").children.length + 1;
  const image = el("img", { alt: `photo ${number}`, src: URL.createObjectURL(file) });
  const card = { item: el("li", { className: "photo" }), status: el("span", { className: "note" }, "Uploading…") };
  card.item.append(image, el("div", {}, `Photo ${number}: `, card.status));
  $("photos").prepend(card.item);
  const name = file.name && file.name !== "image.jpg" ? file.name : `photo-${number}.jpg`;
  try {
    const accepted = await json(`/api/exams/${examId}/jobs?filename=${encodeURIComponent(name)}`,
      { method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" } });
    say(card.status, "Reading…");
    followPhoto(accepted.job_id, card, examId);
  } catch (error) {
    card.status.textContent = "Not uploaded: " + explain(error) + ". Take it again.";
    card.status.className = "retake";
    card.item.dataset.outcome = "retake";
  }
});

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const state = $("upload-state");
  const files = Array.from($("pdf-files").files);
  let failed = 0;
  for (const [index, file] of files.entries()) {
    say(state, `Uploading ${file.name} (${index + 1} of ${files.length})…`);
    try {
      await api(`/api/exams/${App.examId}/jobs?filename=${encodeURIComponent(file.name)}`,
        { method: "POST", body: file, headers: { "Content-Type": file.type || "application/pdf" } });
    } catch (error) {
      failed += 1;
      say(state, `${file.name} was not accepted: ${explain(error)}`, true);
    }
  }
  if (!failed) say(state, `${files.length} file(s) uploaded; grading runs in the background.`);
  $("pdf-files").value = "";
  await loadExam(App.examId);
});

// --- start --------------------------------------------------------------------------------
async function start() {
  questionRows();
  try {
    const mode = await fetch("/api/local");
    App.local = mode.ok;
  } catch (_) { App.local = false; }
  const key = (location.hash.match(/[?&]key=([^&]+)/) || [])[1];
  if (key) {  // the laptop's review address: keep the key for the tab, not in the address
    sessionStorage.setItem("scangrade-token", decodeURIComponent(key));
    history.replaceState(null, "", location.pathname + "#review");
  }
  showSignedIn();
  route();
}
start();
