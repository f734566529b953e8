// Workloads: the instance's jobs, filtered and paged by the API (GET /v1/jobs), with each job's
// running and finished times from its metrics; refreshed while jobs run.

import { request } from "./api.js";
import {
  emptyState,
  errorBox,
  fmtDuration,
  fmtTime,
  h,
  replace,
  route,
  statusBadge,
  table,
  timeEl,
} from "./dom.js";

export const PENDING = new Set(["Queued", "Running"]);
//: Tags the clients add for their own bookkeeping (shown on the job's page only).
const INTERNAL_TAG = /^qiskit-rest:/;
const PAGE_SIZES = [10, 20, 50, 100];

// Metrics of finished jobs never change: kept for the tab's life.
const finishedMetrics = new Map();

/** The metrics of `jobs` (id -> document), from the cache for finished ones. */
export async function metricsOf(jobs, signal) {
  const out = new Map();
  await Promise.all(
    jobs.map(async (job) => {
      const cached = finishedMetrics.get(job.id);
      if (cached) {
        out.set(job.id, cached);
        return;
      }
      try {
        const metrics = await request(`/jobs/${encodeURIComponent(job.id)}/metrics`, { signal });
        out.set(job.id, metrics);
        if (!PENDING.has(job.status)) finishedMetrics.set(job.id, metrics);
      } catch (error) {
        if (error && error.name === "AbortError") throw error;
      }
    }),
  );
  return out;
}

function tagChips(tags, all = false) {
  const shown = all ? tags : tags.filter((tag) => !INTERNAL_TAG.test(tag));
  if (!shown.length) return h("span", { class: "muted" }, "—");
  return h(
    "span",
    { class: "tags" },
    shown.map((tag) => h("span", { class: "tag" }, tag)),
  );
}

/** The table rows of `jobs` (with their metrics when known). */
export function jobRows(jobs, metrics) {
  return jobs.map((job) => {
    const m = metrics.get(job.id);
    const times = (m && m.timestamps) || {};
    const execution = m ? m.circuits_execution_time_ns / 1e9 : null;
    const billed = job.usage ? job.usage.qpu_charge_time_seconds : null;
    return h(
      "tr",
      { "data-job": job.id, class: PENDING.has(job.status) ? "pending" : "" },
      h(
        "td",
        {},
        h(
          "a",
          { href: `#/jobs/${encodeURIComponent(job.id)}`, class: "mono job-link", "data-focus-key": job.id },
          job.id,
        ),
      ),
      h("td", {}, statusBadge(job.status)),
      h("td", {}, job.program ? job.program.id : "—"),
      h(
        "td",
        {},
        job.backend
          ? h("a", { href: `#/backends/${encodeURIComponent(job.backend)}` }, job.backend)
          : "—",
      ),
      h(
        "td",
        {},
        job.session_id
          ? h(
              "a",
              { href: `#/sessions/${encodeURIComponent(job.session_id)}`, class: "mono" },
              job.session_id.slice(0, 8),
            )
          : h("span", { class: "muted" }, "—"),
      ),
      h("td", {}, tagChips(job.tags || [])),
      h("td", { class: "nowrap" }, timeEl(job.created)),
      h("td", { class: "nowrap" }, timeEl(times.running)),
      h("td", { class: "nowrap" }, timeEl(times.finished)),
      h(
        "td",
        { class: "num", title: billed !== null ? `Billed: ${billed} s` : null },
        execution !== null ? fmtDuration(execution) : "—",
      ),
    );
  });
}

export const JOB_HEADERS = [
  "Job",
  "Status",
  "Program",
  "Backend",
  "Session",
  "Tags",
  "Created",
  "Running",
  "Finished",
  "Usage",
];

/** Render `rows` into `holder`, keeping the keyboard focus on the same job's link. */
export function keepFocus(holder, build) {
  const active = document.activeElement;
  const key = active && holder.contains(active) ? active.dataset.focusKey : null;
  build();
  if (key) {
    const again = holder.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
}

function dayStart(text) {
  const [y, m, d] = text.split("-").map(Number);
  return new Date(y, m - 1, d, 0, 0, 0);
}

function apiQuery(q, pageSize, page) {
  const query = {
    limit: pageSize,
    offset: (page - 1) * pageSize,
    exclude_params: "true",
    backend: q.backend,
    program: q.program,
    tags: (q.tag || "")
      .split(",")
      .map((tag) => tag.trim())
      .filter((tag) => tag),
  };
  if (q.status === "pending") query.pending = "true";
  if (q.status === "final") query.pending = "false";
  if (q.from && /^\d{4}-\d{2}-\d{2}$/.test(q.from)) query.created_after = dayStart(q.from).toISOString();
  if (q.to && /^\d{4}-\d{2}-\d{2}$/.test(q.to)) {
    const end = dayStart(q.to);
    end.setDate(end.getDate() + 1);
    query.created_before = new Date(end.getTime() - 1).toISOString();
  }
  return query;
}

function select(id, label, value, options) {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h(
      "select",
      { id, name: id },
      options.map(([optionValue, text]) =>
        h("option", { value: optionValue, selected: optionValue === (value || "") }, text),
      ),
    ),
  );
}

function input(id, label, value, type = "text", extra = {}) {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name: id, type, value: value || "", ...extra }),
  );
}

/** The Workloads page. */
export async function jobsView(ctx) {
  ctx.title("Workloads");
  const q = ctx.query;
  const pageSize = PAGE_SIZES.includes(Number(q.size)) ? Number(q.size) : 20;
  const page = Math.max(1, Math.floor(Number(q.page)) || 1);
  let backends = [];
  try {
    backends = (await request("/backends", { signal: ctx.signal })).devices || [];
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
  }
  const filters = h(
    "form",
    {
      class: "filters",
      "aria-label": "Filter jobs",
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const next = {};
        for (const key of ["status", "program", "backend", "tag", "from", "to", "size"]) {
          next[key] = String(data.get(key) || "").trim();
        }
        location.hash = route("/jobs", next);
      },
    },
    select("status", "Status", q.status, [
      ["", "Any"],
      ["pending", "Queued or running"],
      ["final", "Completed, failed or cancelled"],
    ]),
    select("program", "Program", q.program, [
      ["", "Any"],
      ["sampler", "Sampler"],
      ["estimator", "Estimator"],
      ["executor", "Executor"],
    ]),
    select("backend", "Backend", q.backend, [
      ["", "Any"],
      ...backends.map((device) => [device.name, device.name]),
      ...(q.backend && !backends.some((d) => d.name === q.backend) ? [[q.backend, q.backend]] : []),
    ]),
    input("tag", "Tags (all of, comma-separated)", q.tag, "text", { autocomplete: "off" }),
    input("from", "Created from", q.from, "date"),
    input("to", "Created until", q.to, "date"),
    select(
      "size",
      "Per page",
      String(pageSize),
      PAGE_SIZES.map((size) => [String(size), String(size)]),
    ),
    h(
      "div",
      { class: "field buttons" },
      h("button", { type: "submit", class: "primary" }, "Apply"),
      h("a", { href: "#/jobs", class: "button ghost" }, "Clear"),
    ),
  );
  const summary = h("p", { class: "summary", role: "status" });
  const holder = h("div", { class: "jobs-table" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const liveToggle = h("input", { type: "checkbox", id: "live-refresh", checked: true });
  const updated = h("span", { class: "muted updated" });
  replace(
    ctx.main,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Workloads"),
      h(
        "div",
        { class: "head-tools" },
        h("label", { class: "check" }, liveToggle, "Refresh automatically"),
        updated,
      ),
    ),
    filters,
    summary,
    holder,
    pager,
  );
  let pending = false;
  const load = async () => {
    const answer = await request("/jobs", { query: apiQuery(q, pageSize, page), signal: ctx.signal });
    const jobs = answer.jobs || [];
    const metrics = await metricsOf(jobs, ctx.signal);
    pending = jobs.some((job) => PENDING.has(job.status));
    const count = answer.count || 0;
    const first = count ? (page - 1) * pageSize + 1 : 0;
    const last = (page - 1) * pageSize + jobs.length;
    const filtered = ["status", "program", "backend", "tag", "from", "to"].some((key) => q[key]);
    replace(summary, count ? `Jobs ${first}–${last} of ${count}` : "");
    keepFocus(holder, () => {
      if (!jobs.length) {
        replace(
          holder,
          filtered || page > 1
            ? emptyState("No jobs match these filters.", h("a", { href: "#/jobs" }, "Show all jobs"))
            : emptyState(
                "No jobs yet.",
                h(
                  "p",
                  {},
                  "Jobs submitted to this instance appear here, e.g. with ",
                  h("code", {}, "SamplerV2(backend).run([circuit])"),
                  " and a provider connected to this service.",
                ),
              ),
        );
        return;
      }
      replace(holder, table(JOB_HEADERS, jobRows(jobs, metrics), { caption: "Jobs", numeric: [9] }));
    });
    const link = (label, target, rel) =>
      target
        ? h("a", { href: route("/jobs", { ...q, page: target }), class: "button", rel }, label)
        : h("span", { class: "button disabled", "aria-disabled": "true" }, label);
    const pages = Math.max(1, Math.ceil(count / pageSize));
    pager.hidden = count === 0 && page === 1;
    replace(
      pager,
      link("← Newer", page > 1 ? page - 1 : null, "prev"),
      h("span", { class: "muted" }, `Page ${Math.min(page, pages)} of ${pages}`),
      link("Older →", page < pages ? page + 1 : null, "next"),
    );
    replace(updated, `Updated ${fmtTime(new Date())}`);
  };
  try {
    await load();
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    replace(holder, errorBox(error, "Cannot list the jobs"));
  }
  ctx.poll(
    () => (liveToggle.checked ? (pending ? 2000 : 10000) : 1000),
    async () => {
      if (!liveToggle.checked) return;
      try {
        await load();
      } catch (error) {
        if (error && error.name === "AbortError") throw error;
        replace(holder, errorBox(error, "Cannot list the jobs"));
      }
    },
  );
}
