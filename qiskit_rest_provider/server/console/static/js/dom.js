// DOM building and formatting helpers. Every piece of data reaches the page as text (text nodes,
// attributes): nothing is ever parsed as HTML (the Content-Security-Policy enforces it).

const SVG_NS = "http://www.w3.org/2000/svg";

function append(parent, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    child.forEach((c) => append(parent, c));
  } else if (child instanceof Node) {
    parent.appendChild(child);
  } else {
    parent.appendChild(document.createTextNode(String(child)));
  }
}

function apply(element, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else if (key === "text") {
      element.textContent = String(value);
    } else if (key === "value" && "value" in element) {
      element.value = String(value);
    } else if (key === "checked" || key === "selected" || key === "disabled") {
      element[key] = Boolean(value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  return element;
}

/** An HTML element: h("a", {href: "#/jobs", class: "x"}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const element = apply(document.createElement(tag), attrs);
  append(element, children);
  return element;
}

/** An SVG element, same calling convention as h(). */
export function s(tag, attrs, ...children) {
  const element = apply(document.createElementNS(SVG_NS, tag), attrs);
  append(element, children);
  return element;
}

/** Append children to `element`, skipping null, undefined and false (unlike Element.append,
 * which would write "null"). */
export function add(element, ...children) {
  append(element, children);
  return element;
}

/** Replace the children of `element`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** Parse an ISO-8601 date of the API (null for missing or invalid ones). */
export function parseDate(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "2026-12-03 08:01:31" in the browser's time zone (— for none). */
export function fmtTime(value, withSeconds = true) {
  const date = value instanceof Date ? value : parseDate(value);
  if (!date) return "—";
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return withSeconds ? `${day} ${time}:${pad(date.getSeconds())}` : `${day} ${time}`;
}

/** A <time> element showing the local time, with the UTC timestamp as its title. */
export function timeEl(value) {
  const date = parseDate(value);
  if (!date) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: date.toISOString(), title: date.toISOString() }, fmtTime(date));
}

/** "850 ms", "2.4 s", "3 min 05 s", "2 h 03 min". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${pad(Math.round(seconds % 60))} s`;
  return `${Math.floor(minutes / 60)} h ${pad(minutes % 60)} min`;
}

/** A number with `digits` significant digits, in exponent form when very small or large. */
export function fmtNumber(value, digits = 4) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-3 && magnitude < 1e6) {
    return String(Number(value.toPrecision(digits)));
  }
  return value.toExponential(digits - 1).replace(/\.?0+e/, "e");
}

/** The job status badge. */
export function statusBadge(status) {
  const text = status || "Unknown";
  const kind = text.split(" ")[0].toLowerCase();
  return h("span", { class: `badge status-${kind}` }, text);
}

/** A definition list from [term, value] pairs (values may be nodes). */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs
      .filter((pair) => pair)
      .map(([term, value]) => h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, value))),
  );
}

/** The box that says what went wrong (role=alert, so it is announced). */
export function errorBox(error, title = "Something went wrong") {
  const lines = [h("strong", {}, title)];
  if (error && error.status === 0) {
    lines.push(h("p", {}, "The service cannot be reached. Is it running?"));
  } else if (error) {
    const code = error.code ? ` (${error.status ? `${error.status} ` : ""}${error.code})` : "";
    lines.push(h("p", {}, `${error.message || String(error)}${code}`));
    if (error.trace) lines.push(h("p", { class: "muted" }, `Trace: ${error.trace}`));
  }
  return h("div", { class: "notice error", role: "alert" }, lines);
}

/** The box shown where a list or a chart has nothing to show. */
export function emptyState(title, ...detail) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), ...detail);
}

/** A table whose rows scroll sideways inside their box on narrow screens (`numeric`: the
 * indices of the right-aligned columns). */
export function table(headers, rows, { caption, className, numeric = [] } = {}) {
  return h(
    "div",
    { class: `table-wrap ${className || ""}` },
    h(
      "table",
      {},
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headers.map((header, i) =>
            h("th", { scope: "col", class: numeric.includes(i) ? "num-col" : null }, header),
          ),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

/** A small spinner with its text for screen readers. */
export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, h("span", { class: "spinner" }), text);
}

/** Parse "a=1&b=2" into an object of strings. */
export function parseQuery(text) {
  const out = {};
  for (const [key, value] of new URLSearchParams(text || "")) out[key] = value;
  return out;
}

/** The hash-route of a view with its query ("#/jobs?backend=x"), without empty values. */
export function route(path, query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return `#${path}${text ? `?${text}` : ""}`;
}

/** A two-step button: the first press asks, the second (on "Yes") acts. */
export function confirmButton({ label, question, confirmLabel, danger, onConfirm, id }) {
  const holder = h("span", { class: "confirm" });
  const first = h(
    "button",
    { type: "button", class: danger ? "danger" : "", id, onclick: () => ask() },
    label,
  );
  const reset = () => {
    replace(holder, first);
    first.focus();
  };
  const ask = () => {
    const yes = h(
      "button",
      {
        type: "button",
        class: danger ? "danger" : "primary",
        id: id ? `${id}-confirm` : null,
        onclick: async () => {
          yes.disabled = true;
          try {
            await onConfirm();
          } finally {
            if (yes.isConnected) reset();
          }
        },
      },
      confirmLabel || "Yes",
    );
    const no = h("button", { type: "button", onclick: reset }, "Keep it");
    replace(holder, h("span", { class: "question" }, question), yes, no);
    yes.focus();
  };
  replace(holder, first);
  return holder;
}
