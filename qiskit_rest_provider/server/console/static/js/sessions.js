// Sessions and batches. The API has no session listing: the sessions shown are those of the
// instance's recent jobs (GET /v1/jobs), each read with GET /v1/sessions/{id}; any other one
// opens by its id.

import { request } from "./api.js";
import {
  confirmButton,
  emptyState,
  errorBox,
  facts,
  fmtDuration,
  h,
  parseDate,
  replace,
  table,
  timeEl,
} from "./dom.js";
import { JOB_HEADERS, PENDING, jobRows, keepFocus, metricsOf } from "./jobs.js";

const enc = encodeURIComponent;
const RECENT_JOBS = 200;
const MAX_SESSIONS = 50;

function modeText(mode) {
  return mode === "batch" ? "Batch" : mode === "dedicated" ? "Session" : mode || "—";
}

function stateBadge(doc) {
  const state = doc.state || "unknown";
  return h("span", { class: `badge session-${state}` }, state);
}

function duration(doc) {
  const start = parseDate(doc.started_at);
  if (!start) return "—";
  const end = parseDate(doc.closed_at) || new Date();
  return fmtDuration((end - start) / 1000);
}

/** The Sessions page. */
export async function sessionsView(ctx) {
  ctx.title("Sessions and batches");
  const jobs = (await request("/jobs", { query: { limit: RECENT_JOBS, exclude_params: "true" }, signal: ctx.signal })).jobs || [];
  const counts = new Map();
  for (const job of jobs) {
    if (job.session_id) counts.set(job.session_id, (counts.get(job.session_id) || 0) + 1);
  }
  const ids = [...counts.keys()].slice(0, MAX_SESSIONS);
  const docs = await Promise.all(
    ids.map((id) => request(`/sessions/${enc(id)}`, { signal: ctx.signal }).catch(() => null)),
  );
  const open = h(
    "form",
    {
      class: "inline-form",
      "aria-label": "Open a session by its id",
      onsubmit: (event) => {
        event.preventDefault();
        const id = new FormData(event.target).get("session-id");
        if (id && String(id).trim()) location.hash = `#/sessions/${enc(String(id).trim())}`;
      },
    },
    h("label", { for: "session-id" }, "Open a session or batch by id"),
    h("input", { id: "session-id", name: "session-id", type: "text", autocomplete: "off", spellcheck: "false" }),
    h("button", { type: "submit" }, "Open"),
  );
  const rows = docs
    .map((doc, i) => [doc, ids[i]])
    .filter(([doc]) => doc)
    .map(([doc, id]) =>
      h(
        "tr",
        { "data-session": id },
        h("td", {}, h("a", { href: `#/sessions/${enc(id)}`, class: "mono session-link" }, id)),
        h("td", {}, modeText(doc.mode)),
        h("td", {}, doc.backend_name ? h("a", { href: `#/backends/${enc(doc.backend_name)}` }, doc.backend_name) : "—"),
        h("td", {}, stateBadge(doc)),
        h("td", {}, doc.accepting_jobs ? "yes" : "no"),
        h("td", { class: "nowrap" }, timeEl(doc.started_at)),
        h("td", { class: "nowrap" }, timeEl(doc.closed_at)),
        h("td", { class: "num" }, duration(doc)),
        h("td", { class: "num" }, String(counts.get(id))),
      ),
    );
  replace(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, "Sessions and batches")),
    h(
      "p",
      { class: "muted" },
      `Those of the ${RECENT_JOBS} most recent jobs (the API lists jobs, not sessions); open any other by its id.`,
    ),
    open,
    rows.length
      ? table(
          ["Id", "Mode", "Backend", "State", "Accepting jobs", "Started", "Closed", "Duration", "Jobs"],
          rows,
          { caption: "Sessions and batches", numeric: [7, 8] },
        )
      : emptyState(
          "No session or batch among the recent jobs.",
          h("p", {}, "Jobs run in a ", h("code", {}, "Session"), " or a ", h("code", {}, "Batch"), " appear here with their session."),
        ),
  );
}

/** A session's (or batch's) page, with its jobs. */
export async function sessionView(ctx) {
  const id = ctx.params[0];
  ctx.title(`Session ${id}`);
  const base = `/sessions/${enc(id)}`;
  const head = h("div", { class: "page-head" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Session actions" });
  const message = h("div", {});
  const summary = h("section", { class: "card", "aria-labelledby": "session-summary" });
  const jobsHolder = h("div", { class: "jobs-table" });
  let doc = null;
  let pending = false;
  let actionsKey = null;
  const draw = () => {
    replace(
      head,
      h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, h("a", { href: "#/sessions" }, "Sessions"), " / ", id),
      h("div", { class: "title-row" }, h("h1", {}, `${modeText(doc.mode)} `, h("span", { class: "mono" }, id)), stateBadge(doc)),
    );
    const act = async (action, done) => {
      try {
        await action();
        ctx.announce(done);
        replace(message, h("div", { class: "notice", role: "status" }, done));
      } catch (error) {
        replace(message, errorBox(error));
      }
      await load();
    };
    // Rebuilt only when they change: a refresh must not undo a pending confirmation.
    const key = `${doc.state}/${doc.accepting_jobs}`;
    if (key !== actionsKey) {
      actionsKey = key;
      replace(
        actions,
        doc.state !== "closed" && doc.accepting_jobs
          ? confirmButton({
              id: "close-session",
              label: "Close",
              question: "Stop accepting jobs (queued ones still run)?",
              confirmLabel: "Yes, close",
              onConfirm: () => act(() => request(base, { method: "PATCH", body: { accepting_jobs: false } }), "The session no longer accepts jobs."),
            })
          : null,
        doc.state !== "closed"
          ? confirmButton({
              id: "cancel-session",
              label: "Close now",
              question: "Close now and cancel its queued jobs?",
              confirmLabel: "Yes, close now",
              danger: true,
              onConfirm: () => act(() => request(`${base}/close`, { method: "DELETE" }), "The session was closed."),
            })
          : null,
      );
    }
    replace(
      summary,
      h("h2", { id: "session-summary" }, "Summary"),
      facts([
        ["Mode", modeText(doc.mode)],
        ["State", stateBadge(doc)],
        ["Backend", doc.backend_name ? h("a", { href: `#/backends/${enc(doc.backend_name)}` }, doc.backend_name) : "—"],
        ["Accepting jobs", doc.accepting_jobs ? "yes" : "no"],
        ["Started", timeEl(doc.started_at)],
        ["Activated", timeEl(doc.activated_at)],
        ["Last job started", timeEl(doc.last_job_started)],
        ["Last job completed", timeEl(doc.last_job_completed)],
        ["Closed", timeEl(doc.closed_at)],
        ["Duration", duration(doc)],
        ["Maximum time", doc.max_ttl ? fmtDuration(doc.max_ttl) : "—"],
        ["Interactive timeout", doc.interactive_ttl ? fmtDuration(doc.interactive_ttl) : "—"],
      ]),
      Array.isArray(doc.timestamps) && doc.timestamps.length
        ? h("h3", { class: "history-title", id: "session-states" }, "State changes")
        : null,
      Array.isArray(doc.timestamps) && doc.timestamps.length
        ? h(
            "ol",
            { class: "history", "aria-labelledby": "session-states" },
            doc.timestamps.map((stamp) => h("li", {}, h("span", { class: "badge" }, stamp.status), " ", timeEl(stamp.timestamp))),
          )
        : null,
    );
  };
  const load = async () => {
    doc = await request(base, { signal: ctx.signal });
    const jobs = (await request("/jobs", { query: { session_id: id, limit: 200, exclude_params: "true" }, signal: ctx.signal })).jobs || [];
    const metrics = await metricsOf(jobs, ctx.signal);
    pending = jobs.some((job) => PENDING.has(job.status));
    draw();
    keepFocus(jobsHolder, () =>
      replace(
        jobsHolder,
        jobs.length
          ? table(JOB_HEADERS, jobRows(jobs, metrics), { caption: "Jobs of the session", numeric: [9] })
          : emptyState("No job has run in it yet."),
      ),
    );
  };
  await load();
  replace(
    ctx.main,
    head,
    actions,
    message,
    summary,
    h("section", { class: "card", "aria-labelledby": "session-jobs" }, h("h2", { id: "session-jobs" }, "Jobs"), jobsHolder),
  );
  ctx.poll(
    () => (doc && (doc.state !== "closed" || pending) ? 3000 : null),
    async () => {
      await load();
    },
  );
}
