// Backends: the list with status and queue, and each device's error map (coupling map coloured
// by the calibration), per-qubit table and calibration history (GET .../properties with
// updated_before, walked back one snapshot at a time).

import { request } from "./api.js";
import { colorLegend, colorScale, couplingMap, inferCoords, lineChart } from "./charts.js";
import {
  emptyState,
  errorBox,
  facts,
  fmtNumber,
  fmtTime,
  h,
  loading,
  parseDate,
  replace,
  table,
  timeEl,
} from "./dom.js";

const enc = encodeURIComponent;
const TWO_QUBIT_GATES = ["ecr", "cz", "cx"];
const HISTORY_SNAPSHOTS = 12;

function stateBadge(name) {
  const text = name || "unknown";
  return h("span", { class: `badge device-${text.toLowerCase()}` }, text);
}

/** The Backends page. */
export async function backendsView(ctx) {
  ctx.title("Backends");
  const devices = (await request("/backends", { signal: ctx.signal })).devices || [];
  const [statuses, calibrations] = await Promise.all([
    Promise.all(
      devices.map((device) =>
        request(`/backends/${enc(device.name)}/status`, { signal: ctx.signal }).catch(() => null),
      ),
    ),
    Promise.all(
      devices.map((device) =>
        device.is_simulator
          ? null
          : request(`/backends/${enc(device.name)}/properties`, { signal: ctx.signal }).catch(() => null),
      ),
    ),
  ]);
  const rows = devices.map((device, i) => {
    const status = statuses[i];
    const properties = calibrations[i];
    const count = Number(device.qubits) || 0;
    const typical = properties && properties.qubits ? medians(digest(properties, count), count) : null;
    const processor = device.processor_type || {};
    const cell = (value) => h("td", { class: "num" }, value === null || value === undefined ? "—" : fmtNumber(value, 3));
    return h(
      "tr",
      { "data-backend": device.name },
      h("td", {}, h("a", { href: `#/backends/${enc(device.name)}`, class: "backend-link" }, device.name)),
      h("td", {}, stateBadge(device.status && device.status.name), status && status.message ? ` ${status.message}` : ""),
      h("td", { class: "num" }, String(device.qubits ?? "—")),
      h(
        "td",
        {},
        device.is_simulator
          ? "Simulator"
          : processor.family
            ? `${processor.family}${processor.revision ? ` r${processor.revision}` : ""}`
            : "—",
      ),
      h("td", { class: "num" }, String(status ? status.length_queue : device.queue_length ?? "—")),
      cell(typical && typical.pair),
      cell(typical && typical.readout),
      cell(typical && typical.t1),
      h("td", { class: "nowrap" }, properties && properties.last_update_date ? timeEl(properties.last_update_date) : "—"),
    );
  });
  replace(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, "Backends")),
    devices.length
      ? table(
          [
            "Name",
            "Status",
            "Qubits",
            "Processor",
            "Queue",
            "Median 2q error",
            "Median readout error",
            "Median T1 (µs)",
            "Calibrated",
          ],
          rows,
          { caption: "Backends", numeric: [2, 4, 5, 6, 7] },
        )
      : emptyState("This instance may use no backend."),
    h("p", { class: "muted" }, "Medians over the working qubits and couplers of each device's latest calibration."),
  );
}

function nduvMap(list) {
  const out = {};
  for (const item of list || []) out[item.name] = item;
  return out;
}

function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const isFaulty = (nduv) => nduv && nduv.operational && !nduv.operational.value;

/** The calibration of a properties document, digested for drawing. */
function digest(properties, count) {
  const qubits = Array.from({ length: count }, (_, q) => nduvMap((properties.qubits || [])[q]));
  const gates = properties.gates || [];
  const names = new Map();
  for (const gate of gates) {
    if ((gate.qubits || []).length === 2) names.set(gate.gate, (names.get(gate.gate) || 0) + 1);
  }
  const twoQubit =
    TWO_QUBIT_GATES.find((name) => names.has(name)) ||
    [...names.keys()].filter((name) => name !== "rzz")[0] ||
    null;
  const oneQubit = gates.some((gate) => gate.gate === "sx") ? "sx" : gates.some((gate) => gate.gate === "x") ? "x" : null;
  const single = new Map();
  const pairs = new Map();
  for (const gate of gates) {
    const params = nduvMap(gate.parameters);
    const qs = gate.qubits || [];
    if (gate.gate === oneQubit && qs.length === 1) {
      single.set(qs[0], { error: params.gate_error ? params.gate_error.value : null, length: params.gate_length ? params.gate_length.value : null });
    }
    if (gate.gate === twoQubit && qs.length === 2) {
      const key = qs[0] < qs[1] ? `${qs[0]},${qs[1]}` : `${qs[1]},${qs[0]}`;
      const entry = pairs.get(key) || { errors: [], faulty: false, lengths: [] };
      const error = params.gate_error ? params.gate_error.value : null;
      if (Number.isFinite(error)) entry.errors.push(error);
      if (params.gate_length) entry.lengths.push(params.gate_length.value);
      if (isFaulty(params) || error >= 1) entry.faulty = true;
      pairs.set(key, entry);
    }
  }
  const value = (q, name) => (qubits[q][name] ? qubits[q][name].value : null);
  return {
    date: properties.last_update_date,
    calibrationId: properties.calibration_id,
    qubits,
    value,
    faultyQubit: (q) => isFaulty(qubits[q]),
    single,
    oneQubit,
    twoQubit,
    pairs,
    pairError: (a, b) => {
      const entry = pairs.get(a < b ? `${a},${b}` : `${b},${a}`);
      if (!entry || !entry.errors.length) return null;
      return entry.errors.reduce((x, y) => x + y, 0) / entry.errors.length;
    },
    pairFaulty: (a, b) => {
      const entry = pairs.get(a < b ? `${a},${b}` : `${b},${a}`);
      return Boolean(entry && entry.faulty);
    },
  };
}

function medians(cal, count) {
  const qs = Array.from({ length: count }, (_, q) => q).filter((q) => !cal.faultyQubit(q));
  const pairErrors = [...cal.pairs.values()].filter((e) => !e.faulty).map((e) => e.errors.reduce((x, y) => x + y, 0) / (e.errors.length || 1));
  return {
    t1: median(qs.map((q) => cal.value(q, "T1"))),
    t2: median(qs.map((q) => cal.value(q, "T2"))),
    readout: median(qs.map((q) => cal.value(q, "readout_error"))),
    single: median(qs.map((q) => (cal.single.get(q) || {}).error)),
    pair: median(pairErrors),
  };
}

const METRICS = {
  readout_error: { label: "Readout error", log: true, higherIsBetter: false, value: (cal, q) => cal.value(q, "readout_error") },
  T1: { label: "T1 (µs)", log: false, higherIsBetter: true, value: (cal, q) => cal.value(q, "T1") },
  T2: { label: "T2 (µs)", log: false, higherIsBetter: true, value: (cal, q) => cal.value(q, "T2") },
  single: { label: "1-qubit gate error", log: true, higherIsBetter: false, value: (cal, q) => (cal.single.get(q) || {}).error ?? null },
};

function errorMap(config, cal, count, metricKey) {
  const metric = METRICS[metricKey];
  const edges = [];
  const seen = new Set();
  for (const [a, b] of config.coupling_map || []) {
    const key = a < b ? `${a},${b}` : `${b},${a}`;
    if (!seen.has(key) && a < count && b < count) {
      seen.add(key);
      edges.push(a < b ? [a, b] : [b, a]);
    }
  }
  const coords =
    Array.isArray(config.coords) && config.coords.length === count
      ? config.coords.map((c) => [Number(c[0]), Number(c[1])])
      : inferCoords(count, edges);
  const qubitValues = Array.from({ length: count }, (_, q) => (cal.faultyQubit(q) ? null : metric.value(cal, q)));
  const qubitScale = colorScale(qubitValues, metric);
  const pairValues = edges.map(([a, b]) => (cal.pairFaulty(a, b) ? null : cal.pairError(a, b)));
  const pairScale = colorScale(pairValues, { log: true });
  const twoName = cal.twoQubit || "2-qubit gate";
  const map = couplingMap({
    count,
    coords,
    pairs: edges,
    ariaLabel: `Error map of ${config.backend_name}: ${count} qubits coloured by ${metric.label.toLowerCase()}, ${edges.length} couplers coloured by ${twoName} error`,
    qubit: {
      color: (q) => qubitScale.color(qubitValues[q]),
      faulty: (q) => cal.faultyQubit(q),
      label: (q) =>
        [
          `Qubit ${q}${cal.faultyQubit(q) ? " — faulty (not operational)" : ""}`,
          `T1 ${fmtNumber(cal.value(q, "T1"))} µs, T2 ${fmtNumber(cal.value(q, "T2"))} µs`,
          `readout error ${fmtNumber(cal.value(q, "readout_error"))}`,
          cal.single.has(q) ? `${cal.oneQubit} error ${fmtNumber(cal.single.get(q).error)}` : null,
        ]
          .filter(Boolean)
          .join("\n"),
    },
    coupler: {
      color: (a, b) => pairScale.color(cal.pairError(a, b)),
      faulty: (a, b) => cal.pairFaulty(a, b),
      label: (a, b) =>
        `${twoName} ${a}–${b}: error ${fmtNumber(cal.pairError(a, b))}${cal.pairFaulty(a, b) ? " — faulty (not operational)" : ""}`,
    },
  });
  const faultyQubits = Array.from({ length: count }, (_, q) => q).filter((q) => cal.faultyQubit(q));
  const faultyPairs = edges.filter(([a, b]) => cal.pairFaulty(a, b));
  return h(
    "div",
    { class: "error-map" },
    h("div", { class: "map-scroll" }, map),
    h(
      "div",
      { class: "map-legend" },
      colorLegend(qubitScale, `Qubits: ${metric.label}${metric.higherIsBetter ? " (higher is better)" : ""}`),
      colorLegend(pairScale, `Couplers: ${twoName} error`),
      h(
        "p",
        { class: "fault-note" },
        h("span", { class: "fault-key", "aria-hidden": "true" }, "✕"),
        faultyQubits.length || faultyPairs.length
          ? ` Faulty: ${faultyQubits.length ? `qubit${faultyQubits.length > 1 ? "s" : ""} ${faultyQubits.join(", ")}` : ""}${
              faultyQubits.length && faultyPairs.length ? "; " : ""
            }${faultyPairs.length ? `coupler${faultyPairs.length > 1 ? "s" : ""} ${faultyPairs.map((p) => p.join("–")).join(", ")}` : ""} (dashed, crossed).`
          : " No faulty qubit or coupler in this calibration.",
      ),
    ),
  );
}

function qubitTable(cal, count) {
  const columns = [
    ["Qubit", (q) => q, (v) => String(v)],
    ["T1 (µs)", (q) => cal.value(q, "T1"), fmtNumber],
    ["T2 (µs)", (q) => cal.value(q, "T2"), fmtNumber],
    ["Frequency (GHz)", (q) => cal.value(q, "frequency"), fmtNumber],
    ["Readout error", (q) => cal.value(q, "readout_error"), fmtNumber],
    ["P(0|1)", (q) => cal.value(q, "prob_meas0_prep1"), fmtNumber],
    ["P(1|0)", (q) => cal.value(q, "prob_meas1_prep0"), fmtNumber],
    [`${cal.oneQubit || "1q"} error`, (q) => (cal.single.get(q) || {}).error ?? null, fmtNumber],
    ["Operational", (q) => (cal.faultyQubit(q) ? 0 : 1), (v) => (v ? "yes" : "no (faulty)")],
  ].filter(([name, get]) => name === "Qubit" || Array.from({ length: count }, (_, q) => get(q)).some((v) => v !== null && v !== undefined));
  let sortBy = 0;
  let descending = false;
  const holder = h("div", {});
  const draw = () => {
    const order = Array.from({ length: count }, (_, q) => q).sort((a, b) => {
      const va = columns[sortBy][1](a);
      const vb = columns[sortBy][1](b);
      const na = va === null || va === undefined;
      const nb = vb === null || vb === undefined;
      if (na || nb) return na - nb;
      return descending ? vb - va : va - vb;
    });
    const headers = columns.map(([name], i) =>
      h(
        "button",
        {
          type: "button",
          class: "sort",
          "aria-label": `${name}, sort ${i === sortBy && !descending ? "descending" : "ascending"}`,
          onclick: () => {
            descending = i === sortBy ? !descending : false;
            sortBy = i;
            draw();
            holder.querySelectorAll("button.sort")[i].focus();
          },
        },
        name,
        i === sortBy ? (descending ? " ▼" : " ▲") : "",
      ),
    );
    const rows = order.map((q) =>
      h(
        "tr",
        { class: cal.faultyQubit(q) ? "faulty" : "" },
        columns.map(([, get, format], i) =>
          h(i ? "td" : "th", { class: i < columns.length - 1 ? "num" : null, scope: i ? null : "row" }, format(get(q))),
        ),
      ),
    );
    replace(
      holder,
      table(headers, rows, {
        caption: "Qubit properties",
        className: "tall",
        numeric: columns.map((_, i) => i).slice(0, -1),
      }),
    );
    holder.querySelectorAll("th[scope=col]").forEach((th, i) => th.setAttribute("aria-sort", i === sortBy ? (descending ? "descending" : "ascending") : "none"));
  };
  draw();
  return holder;
}

async function history(name, latest, count, signal) {
  // Walk back: each snapshot's predecessor is the latest one updated before it.
  const snapshots = [latest];
  let current = latest;
  while (snapshots.length < HISTORY_SNAPSHOTS) {
    const date = parseDate(current.last_update_date);
    if (!date) break;
    const before = new Date(date.getTime() - 1000).toISOString();
    const older = await request(`/backends/${enc(name)}/properties`, { query: { updated_before: before }, signal });
    if (!older || !older.last_update_date || older.last_update_date === current.last_update_date) break;
    snapshots.push(older);
    current = older;
  }
  return snapshots.reverse().map((properties) => ({ date: parseDate(properties.last_update_date), ...medians(digest(properties, count), count) }));
}

function historyCharts(points, cal) {
  const xTicks = points.map((p) => ({ value: +p.date, label: fmtTime(p.date, false).slice(0, 10) }));
  const series = (key, name) => ({
    name,
    points: points.filter((p) => p[key] !== null).map((p) => ({ x: +p.date, y: p[key], xLabel: fmtTime(p.date, false) })),
  });
  const coherence = [series("t1", "median T1"), series("t2", "median T2")].filter((s) => s.points.length);
  const errors = [
    series("readout", "median readout error"),
    series("single", `median ${cal.oneQubit || "1-qubit"} error`),
    series("pair", `median ${cal.twoQubit || "2-qubit"} error`),
  ].filter((s) => s.points.length);
  return h(
    "div",
    { class: "chart-grid" },
    coherence.length
      ? lineChart({ series: coherence, caption: "Coherence times (medians over working qubits)", yLabel: "µs", xTicks, className: "history-chart", ariaLabel: "Median T1 and T2 over the calibrations", legend: true, width: 560 })
      : null,
    errors.length
      ? lineChart({ series: errors, caption: "Error rates (medians, log scale)", yLabel: "error", logY: true, xTicks, className: "history-chart", ariaLabel: "Median error rates over the calibrations", legend: true, width: 560 })
      : null,
  );
}

/** A backend's page. */
export async function backendView(ctx) {
  const name = ctx.params[0];
  ctx.title(`Backend ${name}`);
  const base = `/backends/${enc(name)}`;
  const [config, status, properties] = await Promise.all([
    request(`${base}/configuration`, { signal: ctx.signal }),
    request(`${base}/status`, { signal: ctx.signal }).catch(() => null),
    request(`${base}/properties`, { signal: ctx.signal }),
  ]);
  const count = Number(config.n_qubits) || 0;
  const processor = config.processor_type || {};
  const head = h(
    "div",
    { class: "page-head" },
    h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, h("a", { href: "#/backends" }, "Backends"), " / ", name),
    h("h1", {}, name),
  );
  const summary = h(
    "section",
    { class: "card", "aria-labelledby": "backend-summary" },
    h("h2", { id: "backend-summary" }, "Summary"),
    facts([
      ["Status", status ? `${status.status}${status.message ? ` — ${status.message}` : ""}` : "—"],
      ["Queue", status ? `${status.length_queue} job${status.length_queue === 1 ? "" : "s"}` : "—"],
      ["Qubits", String(count)],
      ["Processor", processor.family ? `${processor.family}${processor.revision ? ` r${processor.revision}` : ""}` : "—"],
      ["Basis gates", (config.basis_gates || []).join(", ") || "—"],
      ["Max shots", config.max_shots ? String(config.max_shots) : "—"],
      ["Version", config.backend_version || "—"],
      ["Calibrated", properties && properties.last_update_date ? timeEl(properties.last_update_date) : "—"],
      config.description ? ["Description", config.description] : null,
      [
        "Jobs",
        h("a", { href: `#/jobs?backend=${enc(name)}` }, "This backend's jobs"),
      ],
    ]),
  );
  if (!properties || !properties.qubits) {
    replace(
      ctx.main,
      head,
      summary,
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Calibration"),
        emptyState(
          config.simulator
            ? "This is a simulator: it has no calibration (no noise) and no coupling map to draw."
            : "This backend publishes no calibration.",
        ),
      ),
    );
    return;
  }
  const cal = digest(properties, count);
  const metricSelect = h(
    "select",
    { id: "map-metric" },
    Object.entries(METRICS).map(([key, metric]) => h("option", { value: key }, metric.label)),
  );
  const mapHolder = h("div", {});
  const drawMap = () => {
    replace(
      mapHolder,
      config.coupling_map && config.coupling_map.length
        ? errorMap(config, cal, count, metricSelect.value)
        : emptyState("This backend has no coupling map: every qubit pair is coupled."),
    );
  };
  metricSelect.addEventListener("change", drawMap);
  drawMap();
  const historyHolder = h("div", {}, loading("Reading earlier calibrations…"));
  replace(
    ctx.main,
    head,
    summary,
    h(
      "section",
      { class: "card", id: "error-map", "aria-labelledby": "map-title" },
      h("h2", { id: "map-title" }, "Error map"),
      h(
        "div",
        { class: "controls" },
        h("label", { for: "map-metric" }, "Colour qubits by"),
        metricSelect,
        h("span", { class: "muted" }, `Calibration of ${fmtTime(properties.last_update_date)}`),
      ),
      mapHolder,
    ),
    h(
      "section",
      { class: "card", id: "qubits", "aria-labelledby": "qubits-title" },
      h("h2", { id: "qubits-title" }, "Qubits"),
      qubitTable(cal, count),
    ),
    h(
      "section",
      { class: "card", id: "history", "aria-labelledby": "history-title" },
      h("h2", { id: "history-title" }, "Calibration history"),
      historyHolder,
    ),
  );
  try {
    const points = await history(name, properties, count, ctx.signal);
    replace(
      historyHolder,
      points.length > 1
        ? historyCharts(points, cal)
        : emptyState("Only one calibration is published for this backend."),
      h("p", { class: "muted" }, `${points.length} calibration snapshot${points.length === 1 ? "" : "s"}, read with updated_before.`),
    );
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    replace(historyHolder, errorBox(error, "Cannot read the calibration history"));
  }
}
