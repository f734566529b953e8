// One job: its summary, results plotted (sampler counts per register, estimator expectation
// values over the sweep, the ZNE extrapolation), its timeline (status history and execution
// spans), its inputs, log and metrics; cancel, delete and download of the raw result.
//
// Only sampler and estimator documents go through the type-tagged decoder (decode.js, with its
// byte budget): they are what the page plots. Another program's params and result (the
// executor's quantum program, with its free-form passthrough data) are shown as JSON text, cut
// for display, and downloadable whole.

import { ApiError, request } from "./api.js";
import { PALETTE, barChart, lineChart, timeline } from "./charts.js";
import {
  DecodeFailure,
  NdArray,
  Tagged,
  bitCounts,
  decodeFailures,
  decodeTagged,
  fmtBytes,
  indices,
  observableAt,
  observableText,
  observablesShape,
  topCounts,
  unwrap,
} from "./decode.js";
import {
  add,
  confirmButton,
  emptyState,
  errorBox,
  facts,
  fmtDuration,
  fmtNumber,
  h,
  loading,
  parseDate,
  replace,
  statusBadge,
  table,
  timeEl,
} from "./dom.js";
import { PENDING } from "./jobs.js";

const TOP_K = [8, 16, 32, 64];
const MAX_SERIES = 8;
/** The programs whose params and results are decoded and plotted. */
const PLOTTED = new Set(["sampler", "estimator"]);
/** How much of a JSON document is shown as text (the download has all of it). */
const SHOWN_JSON_BYTES = 64 * 1024;
/** Documents up to this size are shown indented; larger ones as the service sent them. */
const INDENT_JSON_BYTES = 4 * 1024 * 1024;

const enc = encodeURIComponent;

function section(id, title, ...content) {
  return h(
    "section",
    { class: "card", id, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    ...content,
  );
}

/** The decode error of a value, said where the value would be shown. */
function failureText(failure, what) {
  return `${what} could not be decoded (${failure.type}): ${failure.message}.`;
}

function failureBox(failure, what) {
  return h("div", { class: "notice error decode-error", role: "note" }, failureText(failure, what));
}

/** `text` (JSON) in a <pre>: indented when not too large, cut to its first SHOWN_JSON_BYTES
 * with a note that says so and where the rest is. */
function jsonBlock(text, { id, rest }) {
  let shown = text;
  const size = new Blob([text]).size;
  if (size <= INDENT_JSON_BYTES) {
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      shown = text; // not JSON after all: shown as it came
    }
  }
  const cut = shown.length > SHOWN_JSON_BYTES;
  return [
    cut
      ? h(
          "p",
          { class: "notice truncated", role: "note" },
          `Showing the first ${fmtBytes(SHOWN_JSON_BYTES)} of ${fmtBytes(size)}: ${rest}`,
        )
      : null,
    h("pre", { class: "code", id }, cut ? `${shown.slice(0, SHOWN_JSON_BYTES)}\n…` : shown),
  ];
}

function qasmParameters(text) {
  const names = [];
  const pattern = /^\s*input\s+(?:float|angle)(?:\[\d+\])?\s+([A-Za-z_][\w]*)\s*;/gm;
  let match = pattern.exec(text);
  while (match) {
    names.push(match[1]);
    match = pattern.exec(text);
  }
  return names;
}

function circuitInfo(circuit) {
  if (typeof circuit === "string") {
    const qubits = new Set();
    for (const match of circuit.matchAll(/\$(\d+)/g)) qubits.add(Number(match[1]));
    return { qasm: circuit, parameters: qasmParameters(circuit), qubits: [...qubits].sort((a, b) => a - b) };
  }
  if (circuit instanceof Tagged) return { qpy: circuit.value, parameters: null, qubits: null };
  return { other: circuit, parameters: null, qubits: null };
}

function asArray(values) {
  if (values instanceof NdArray) return values;
  if (Array.isArray(values)) {
    const shape = [];
    let level = values;
    while (Array.isArray(level)) {
      shape.push(level.length);
      level = level[0];
    }
    return new NdArray("object", shape, values.flat(Infinity));
  }
  return null;
}

/** A pub of the submitted params, normalised: {circuit, observables, values, shots, precision}. */
function normalizePub(program, pub) {
  const items = Array.isArray(pub) && !(typeof pub[0] === "number") ? pub : [pub];
  if (program === "estimator") {
    return {
      circuit: items[0],
      observables: items[1],
      values: items[2] ?? null,
      precision: items[3] ?? null,
    };
  }
  return { circuit: items[0], values: items[1] ?? null, shots: items[2] ?? null };
}

function shapeText(shape) {
  return shape.length ? `(${shape.join(", ")}${shape.length === 1 ? "," : ""})` : "()";
}

function rawInputs(doc, paramsText, paramsUrl) {
  // Another program's parameters (the executor's quantum program): shown as submitted, as text.
  return section(
    "inputs",
    "Inputs",
    h(
      "details",
      { class: "options", open: true },
      h("summary", {}, "The parameters as submitted"),
      ...jsonBlock(paramsText, {
        id: "params-json",
        rest: "download them whole with Download parameters JSON, below.",
      }),
    ),
    h(
      "p",
      {},
      h(
        "a",
        { class: "button", id: "download-params", href: paramsUrl, download: `job-${doc.id}-params.json` },
        "Download parameters JSON",
      ),
    ),
  );
}

function inputsSection(doc, params, rawParams) {
  if (doc.private) {
    return section(
      "inputs",
      "Inputs",
      emptyState("This job is private: the service does not return its inputs."),
    );
  }
  if (!doc.params) {
    return section("inputs", "Inputs", emptyState("The job document carries no inputs."));
  }
  if (!params || !Array.isArray(params.pubs)) return rawInputs(doc, rawParams.text, rawParams.url);
  const program = doc.program ? doc.program.id : "";
  const pubs = params.pubs.map((pub, index) => {
    const p = normalizePub(program, pub);
    const info = circuitInfo(p.circuit);
    const values = p.values instanceof DecodeFailure ? null : asArray(p.values);
    const rows = [
      ["Circuit", info.qasm ? `OpenQASM 3, ${info.qasm.split("\n").length} lines` : info.qpy ? "QPY (binary)" : "—"],
      info.qubits ? ["Physical qubits", info.qubits.length ? info.qubits.join(", ") : "none"] : null,
      info.parameters && info.parameters.length ? ["Parameters", info.parameters.join(", ")] : null,
      [
        "Parameter values",
        p.values instanceof DecodeFailure
          ? failureBox(p.values, "The parameter values")
          : values
          ? `shape ${shapeText(values.shape)}${
              values.shape.length > 1
                ? ` — ${values.shape.slice(0, -1).reduce((a, b) => a * b, 1)} point(s) of ${
                    values.shape[values.shape.length - 1]
                  } parameter(s)`
                : ""
            }`
          : "none",
      ],
    ];
    let extra = null;
    if (program === "estimator") {
      const shape = observablesShape(p.observables);
      const list = indices(shape).map((i) => observableText(observableAt(p.observables, shape, i)));
      rows.push(["Observables", `shape ${shapeText(shape)}`]);
      rows.push(["Precision", p.precision === null ? "default" : fmtNumber(p.precision)]);
      extra = h(
        "ol",
        { class: "observables", start: 0, "aria-label": `Observables of pub ${index}` },
        list.slice(0, 50).map((text) => h("li", { class: "mono" }, text)),
        list.length > 50 ? h("li", { class: "muted" }, `… ${list.length - 50} more`) : null,
      );
    } else {
      rows.push(["Shots", p.shots === null ? "default" : String(p.shots)]);
    }
    const circuitText = info.qasm
      ? h(
          "details",
          { class: "qasm", open: index === 0 && info.qasm.length < 4000 },
          h("summary", {}, "OpenQASM 3"),
          h("pre", { class: "code" }, h("code", {}, info.qasm)),
        )
      : info.qpy
        ? h(
            "p",
            { class: "muted" },
            `The circuit was sent as QPY (${Math.round((info.qpy.length * 3) / 4)} bytes), ` +
              "a binary format the console does not display.",
          )
        : null;
    return h("div", { class: "pub" }, h("h3", {}, `Pub ${index}`), facts(rows), extra, circuitText);
  });
  const options = { ...params };
  delete options.pubs;
  return section(
    "inputs",
    `Inputs (${params.pubs.length} pub${params.pubs.length === 1 ? "" : "s"})`,
    ...pubs,
    h(
      "details",
      { class: "options" },
      h("summary", {}, "Options and other parameters"),
      h("pre", { class: "code" }, JSON.stringify(options, null, 2)),
    ),
  );
}

// Results ---------------------------------------------------------------------------------------

function pointLabel(index) {
  return index.length ? `[${index.join(", ")}]` : "";
}

function samplerPub(pubResult, pubIndex) {
  const result = unwrap(pubResult);
  const bin = unwrap(result.data);
  const shape = bin.shape || [];
  const points = shape.reduce((a, b) => a * b, 1);
  const registers = Object.entries(bin.fields || {});
  const holder = h("div", { class: "pub-result" });
  const controls = h("div", { class: "controls" });
  const charts = h("div", { class: "charts" });
  const topSelect = h(
    "select",
    { id: `topk-${pubIndex}` },
    TOP_K.map((k) => h("option", { value: k, selected: k === 16 }, `Top ${k}`)),
  );
  controls.append(
    h("label", { for: `topk-${pubIndex}` }, "Outcomes shown"),
    topSelect,
  );
  let pointSelect = null;
  if (shape.length) {
    pointSelect = h(
      "select",
      { id: `point-${pubIndex}` },
      h("option", { value: "" }, `All ${points} points`),
      indices(shape).map((index, flat) => h("option", { value: flat }, `Point ${pointLabel(index)}`)),
    );
    controls.append(h("label", { for: `point-${pubIndex}` }, "Sweep point"), pointSelect);
  }
  const draw = () => {
    const k = Number(topSelect.value);
    const point = pointSelect && pointSelect.value !== "" ? Number(pointSelect.value) : null;
    charts.replaceChildren();
    for (const [name, field] of registers) {
      const array = field instanceof Tagged ? unwrap(field).array : null;
      if (field instanceof DecodeFailure || array instanceof DecodeFailure) {
        charts.append(failureBox(field instanceof DecodeFailure ? field : array, `Register “${name}”`));
      } else if (field instanceof Tagged && field.type === "BitArray" && array instanceof NdArray) {
        const counts = bitCounts(field, point);
        const shots = [...counts.values()].reduce((a, b) => a + b, 0);
        const bars = topCounts(counts, k);
        charts.append(h("div", { class: "register" },
          barChart({
            bars,
            caption: `Register “${name}” — ${shots} shots, ${counts.size} distinct outcome${
              counts.size === 1 ? "" : "s"
            }${point !== null ? `, point ${point}` : ""}`,
            ariaLabel: `Histogram of register ${name} of pub ${pubIndex}`,
            xLabel: "Outcome (bit 0 rightmost)",
            className: "counts",
            width: registers.length > 1 ? 600 : 720,
          }),
          h(
            "details",
            { class: "counts-table" },
            h("summary", {}, `Counts of “${name}” as a table`),
            table(
              ["Outcome", "Count", "Share"],
              bars.map((bar) =>
                h(
                  "tr",
                  {},
                  h("td", { class: "mono" }, bar.label),
                  h("td", { class: "num" }, String(bar.value)),
                  h("td", { class: "num" }, `${((bar.value / (shots || 1)) * 100).toFixed(2)}%`),
                ),
              ),
            ),
          ),
        ));
      } else if (field instanceof NdArray) {
        charts.append(
          h(
            "p",
            { class: "muted" },
            `Register “${name}”: ${field.dtype.includes("c") ? "IQ data" : "array"} of shape ${shapeText(field.shape)} (in the raw result).`,
          ),
        );
      }
    }
    if (!charts.childElementCount) charts.append(emptyState("This pub has no classical data."));
  };
  topSelect.addEventListener("change", draw);
  if (pointSelect) pointSelect.addEventListener("change", draw);
  draw();
  holder.append(
    h("h3", {}, `Pub ${pubIndex}${shape.length ? ` — shape ${shapeText(shape)}` : ""}`),
    controls,
    charts,
  );
  return holder;
}

function paramValue(values, pubShape, index) {
  // The single parameter's value at a point of the pub (broadcast), or null.
  if (!values || !values.shape.length || values.shape[values.shape.length - 1] !== 1) return null;
  const own = values.shape.slice(0, -1);
  const offset = pubShape.length - own.length;
  const at = own.map((size, axis) => (size === 1 ? 0 : index[axis + offset]));
  const value = values.at([...at, 0]);
  return typeof value === "number" ? value : null;
}

function estimatorSeries(bin, pubInput, pubShape) {
  // Series along the last axis of the pub's shape, one per index of the leading axes.
  const evs = bin.fields.evs;
  const stds = bin.fields.stds;
  const values = pubInput ? asArray(pubInput.values) : null;
  const observables = pubInput ? pubInput.observables : null;
  const names = pubInput && pubInput.parameters ? pubInput.parameters : [];
  const lead = pubShape.slice(0, -1);
  const length = pubShape[pubShape.length - 1];
  const series = indices(lead).map((leadIndex) => {
    const points = [];
    for (let i = 0; i < length; i += 1) {
      const index = [...leadIndex, i];
      const x = paramValue(values, pubShape, index);
      points.push({
        index,
        x: x ?? i,
        y: evs.at(index),
        err: stds ? Math.abs(stds.at(index)) : 0,
        xLabel: x !== null ? `${names[0] || "θ"} = ${fmtNumber(x)}` : `point ${i}`,
      });
    }
    const obsShape = observables ? observablesShape(observables) : [];
    const obs = observables ? observableText(observableAt(observables, obsShape, [...leadIndex, 0])) : "";
    const varies = observables && obsShape.length && obsShape[obsShape.length - 1] > 1;
    return { name: obs && !varies ? obs : `series ${pointLabel(leadIndex) || "0"}`, points };
  });
  const distinct = series.every(
    (item) => new Set(item.points.map((p) => p.x)).size === item.points.length,
  );
  const usesParameter = series.some((item) => item.points.some((p, i) => p.x !== i));
  if (!distinct) {
    series.forEach((item) => item.points.forEach((p, i) => (p.x = i)));
  }
  return {
    series,
    xLabel: distinct && usesParameter ? names[0] || "parameter value" : "sweep index",
  };
}

function zneChart(bin, metadata, pubShape, pubInput, pubIndex) {
  const fields = bin.fields;
  const zne = (metadata && metadata.resilience && metadata.resilience.zne) || {};
  const factors = zne.noise_factors;
  if (!(fields.evs_noise_factors instanceof NdArray) || !Array.isArray(factors)) return null;
  const extrapolators = zne.extrapolators || zne.extrapolator || [];
  const evalPoints = zne.extrapolated_noise_factors || [];
  const holder = h("div", { class: "zne" });
  const all = indices(pubShape);
  const observables = pubInput ? pubInput.observables : null;
  const obsShape = observables ? observablesShape(observables) : [];
  const values = pubInput ? asArray(pubInput.values) : null;
  const describe = (index) => {
    const parts = [];
    if (observables) parts.push(observableText(observableAt(observables, obsShape, index)));
    const x = paramValue(values, pubShape, index);
    if (x !== null) parts.push(`${(pubInput.parameters || [])[0] || "θ"} = ${fmtNumber(x)}`);
    return parts.join(", ") || `point ${pointLabel(index) || "0"}`;
  };
  const chooser = h(
    "select",
    { id: `zne-point-${pubIndex}` },
    all.map((index, flat) => h("option", { value: flat }, `${pointLabel(index)} ${describe(index)}`.trim())),
  );
  const chart = h("div", {});
  const draw = () => {
    const index = all[Number(chooser.value) || 0];
    const measured = factors.map((factor, f) => ({
      x: factor,
      y: fields.evs_noise_factors.at([...index, f]),
      err: fields.stds_noise_factors instanceof NdArray ? fields.stds_noise_factors.at([...index, f]) : 0,
      xLabel: `noise factor ${factor}`,
    }));
    const series = [{ name: "Measured at each noise factor", points: measured, line: false, color: PALETTE[0] }];
    if (fields.evs_extrapolated instanceof NdArray && evalPoints.length) {
      const names = Array.isArray(extrapolators) ? extrapolators : [extrapolators];
      names.forEach((name, e) => {
        series.push({
          name: `${name} extrapolation`,
          points: evalPoints.map((x, j) => ({
            x,
            y: fields.evs_extrapolated.at([...index, e, j]),
            xLabel: `noise factor ${x}`,
          })),
          dash: ["7 4", "2 3", "10 3 2 3", "4 4"][e % 4],
          markers: false,
          color: PALETTE[(e + 2) % PALETTE.length],
        });
      });
    }
    series.push({
      name: "Mitigated value (zero noise)",
      points: [{ x: 0, y: fields.evs.at(index), err: fields.stds instanceof NdArray ? fields.stds.at(index) : 0, r: 6, xLabel: "zero noise" }],
      line: false,
      color: PALETTE[1],
    });
    replace(
      chart,
      lineChart({
        series,
        caption: `Zero-noise extrapolation — ${describe(index)}`,
        xLabel: "noise factor",
        yLabel: "expectation value",
        ariaLabel: `Zero-noise extrapolation of pub ${pubIndex}`,
        className: "zne-chart",
        width: 600,
        xTicks: [0, ...factors].map((value) => ({ value, label: fmtNumber(value) })),
        legend: true,
      }),
    );
  };
  chooser.addEventListener("change", draw);
  draw();
  holder.append(
    h("div", { class: "controls" }, h("label", { for: `zne-point-${pubIndex}` }, "Zero-noise extrapolation of"), chooser),
    chart,
  );
  return holder;
}

function estimatorPub(pubResult, pubIndex, pubInput) {
  const result = unwrap(pubResult);
  const bin = unwrap(result.data);
  const metadata = result.metadata || {};
  const shape = bin.shape || [];
  const evs = bin.fields.evs;
  const stds = bin.fields.stds;
  const holder = h("div", { class: "pub-result" });
  holder.append(h("h3", {}, `Pub ${pubIndex}${shape.length ? ` — shape ${shapeText(shape)}` : ""}`));
  if (evs instanceof DecodeFailure) {
    holder.append(failureBox(evs, "The expectation values"));
    return holder;
  }
  if (!(evs instanceof NdArray)) {
    holder.append(emptyState("This pub has no expectation values."));
    return holder;
  }
  const notes = [
    metadata.shots ? ["Shots", String(metadata.shots)] : null,
    metadata.target_precision ? ["Target precision", fmtNumber(metadata.target_precision)] : null,
    metadata.num_randomizations ? ["Randomizations", String(metadata.num_randomizations)] : null,
  ].filter(Boolean);
  if (notes.length) holder.append(facts(notes));
  const values = h("div", { class: "evs" });
  const grid = h("div", { class: "charts" }, values);
  holder.append(grid);
  if (!shape.length) {
    // One value: nothing to plot over, said plainly.
    const observable =
      pubInput && pubInput.observables
        ? observableText(observableAt(pubInput.observables, [], []))
        : "the observable";
    values.append(
      h(
        "p",
        { class: "single-value" },
        h("span", { class: "mono" }, `⟨${observable}⟩`),
        " = ",
        h("strong", {}, fmtNumber(evs.at([]), 5)),
        stds instanceof NdArray ? ` ± ${fmtNumber(stds.at([]), 3)}` : "",
      ),
    );
  } else {
    const { series, xLabel } = estimatorSeries({ fields: { evs, stds: stds instanceof NdArray ? stds : null } }, pubInput, shape);
    const shown = series.slice(0, MAX_SERIES);
    add(
      values,
      lineChart({
        series: shown.map((item) => ({ ...item, line: shape[shape.length - 1] > 1 })),
        caption: "Expectation values ± standard error",
        xLabel,
        yLabel: "expectation value",
        ariaLabel: `Expectation values with error bars of pub ${pubIndex}`,
        className: "evs-chart",
        legend: shown.length > 1,
        width: 600,
      }),
      series.length > shown.length
        ? h("p", { class: "muted" }, `The first ${shown.length} of ${series.length} series are drawn; every value is in the table and the raw result.`)
        : null,
    );
  }
  const points = indices(shape);
  if (points.length <= 256) {
    values.append(
      h(
        "details",
        { class: "evs-table" },
        h("summary", {}, "Values as a table"),
        table(
          ["Point", "Observable", "Expectation value", "Standard error"],
          points.map((index) =>
            h(
              "tr",
              {},
              h("td", { class: "mono" }, pointLabel(index) || "—"),
              h(
                "td",
                { class: "mono" },
                pubInput && pubInput.observables
                  ? observableText(observableAt(pubInput.observables, observablesShape(pubInput.observables), index))
                  : "—",
              ),
              h("td", { class: "num" }, fmtNumber(evs.at(index), 5)),
              h("td", { class: "num" }, stds instanceof NdArray ? fmtNumber(stds.at(index), 3) : "—"),
            ),
          ),
        ),
      ),
    );
  }
  const zne = zneChart(bin, metadata, shape, pubInput, pubIndex);
  if (zne) grid.append(zne);
  return holder;
}

function spansOf(result) {
  const body = unwrap(result);
  const metadata = (body && body.metadata) || {};
  const spans = metadata.execution && unwrap(metadata.execution.execution_spans);
  if (!spans || !Array.isArray(spans.spans)) return [];
  return spans.spans.map((span) => {
    const value = unwrap(span);
    return {
      type: span instanceof Tagged ? span.type : "ExecutionSpan",
      start: parseDate(value.start),
      stop: parseDate(value.stop),
      pubs: Object.keys(value.data_slices || {}).map(Number),
      slices: value.data_slices || {},
    };
  });
}

/** Results of a program the page does not plot: said so, and shown as JSON text. */
function rawResults(doc, text) {
  const program = doc.program ? doc.program.id : "";
  return [
    h(
      "p",
      { class: "muted" },
      `The console plots sampler and estimator results; this ${program || "job"} result is shown as JSON text.`,
    ),
    ...jsonBlock(text, {
      id: "result-json",
      rest: "download it whole with Download result JSON, above.",
    }),
  ];
}

function resultsSection(doc, decoded, pubInputs) {
  const program = doc.program ? doc.program.id : "";
  const failed = decodeFailures(decoded);
  const notes = failed.length
    ? [
        h(
          "div",
          { class: "notice error decode-error", role: "note" },
          h("strong", {}, `Some values of the result could not be decoded (${failed.length}${failed.length >= 20 ? " or more" : ""}); they are in the downloaded result.`),
          h(
            "ul",
            {},
            failed.map(({ path, failure }) => h("li", {}, h("span", { class: "mono" }, path), `: ${failure.message}`)),
          ),
        ),
      ]
    : [];
  const body = unwrap(decoded);
  const pubs = (body && Array.isArray(body.pub_results) && body.pub_results) || [];
  if (!pubs.length) {
    return [...notes, emptyState("The result has no pub results.")];
  }
  const hasEvs = (pub) => {
    const data = unwrap(unwrap(pub).data) || {};
    return Boolean(data.fields && data.fields.evs);
  };
  // By program: expectation values or counts. One pub that cannot be drawn says so in its
  // place; the others are drawn.
  return [
    ...notes,
    ...pubs.map((pub, index) => {
      try {
        if (pub instanceof DecodeFailure) return failureBox(pub, `Pub ${index}`);
        return program === "estimator" || (program !== "sampler" && hasEvs(pub))
          ? estimatorPub(pub, index, pubInputs[index])
          : samplerPub(pub, index);
      } catch (error) {
        return errorBox({ message: String((error && error.message) || error) }, `Cannot show pub ${index}`);
      }
    }),
  ];
}

function timelineSection(doc, metrics, spans) {
  const stamps = (metrics && metrics.timestamps) || {};
  const created = parseDate(stamps.created || doc.created);
  const running = parseDate(stamps.running);
  const finished = parseDate(stamps.finished);
  const now = new Date();
  const history = [
    { status: "Queued", at: created, until: running || finished || null },
    running ? { status: "Running", at: running, until: finished || null } : null,
    finished ? { status: doc.status, at: finished, until: null } : null,
  ].filter(Boolean);
  const list = h(
    "ol",
    { class: "history" },
    history.map((entry) =>
      h(
        "li",
        {},
        statusBadge(entry.status),
        " ",
        timeEl(entry.at && entry.at.toISOString()),
        entry.until || PENDING.has(entry.status)
          ? h(
              "span",
              { class: "muted" },
              ` — for ${fmtDuration(((entry.until || now) - entry.at) / 1000)}${entry.until ? "" : " so far"}`,
            )
          : null,
      ),
    ),
  );
  const rows = [];
  if (created) {
    rows.push({ label: "Queued", start: +created, stop: +(running || finished || now), color: "#a8a8a8" });
  }
  if (running) {
    rows.push({ label: "Running", start: +running, stop: +(finished || now), color: "#6f6f6f" });
  }
  spans.forEach((span, i) => {
    if (!span.start || !span.stop) return;
    rows.push({
      label: `Span ${i} · pub${span.pubs.length === 1 ? "" : "s"} ${span.pubs.join(", ")}`,
      start: +span.start,
      stop: +span.stop,
      color: PALETTE[(i % (PALETTE.length - 1)) + 0],
      className: "execution-span",
      detail: Object.entries(span.slices)
        .map(([pub, slice]) => `pub ${pub}: shape ${shapeText(slice[0])}`)
        .join("; "),
    });
  });
  return section(
    "timeline",
    "Status history and execution",
    list,
    rows.length
      ? timeline({
          rows,
          origin: created ? +created : undefined,
          caption: spans.length
            ? `${spans.length} execution span${spans.length === 1 ? "" : "s"} (from the result's metadata)`
            : "Queued and running times",
          ariaLabel: "Timeline of the job",
          className: "job-timeline",
        })
      : null,
  );
}

function metricsFacts(doc, metrics) {
  const stamps = (metrics && metrics.timestamps) || {};
  const created = parseDate(stamps.created || doc.created);
  const running = parseDate(stamps.running);
  const finished = parseDate(stamps.finished);
  const state = doc.state || {};
  return facts([
    ["Status", statusBadge(doc.status)],
    state.reason
      ? ["Reason", `${state.reason_code ? `Error code ${state.reason_code}; ` : ""}${state.reason}`]
      : null,
    ["Program", doc.program ? doc.program.id : "—"],
    ["Backend", doc.backend ? h("a", { href: `#/backends/${enc(doc.backend)}` }, doc.backend) : "—"],
    [
      "Session",
      doc.session_id
        ? h("a", { href: `#/sessions/${enc(doc.session_id)}`, class: "mono" }, doc.session_id)
        : "—",
    ],
    [
      "Tags",
      doc.tags && doc.tags.length
        ? h("span", { class: "tags" }, doc.tags.map((tag) => h("span", { class: "tag" }, tag)))
        : "—",
    ],
    ["Created", timeEl(created && created.toISOString())],
    ["Running", timeEl(running && running.toISOString())],
    ["Finished", timeEl(finished && finished.toISOString())],
    ["Time in queue", created && running ? fmtDuration((running - created) / 1000) : "—"],
    ["Time running", running ? fmtDuration(((finished || new Date()) - running) / 1000) : "—"],
    [
      "Execution time",
      metrics ? fmtDuration((metrics.circuits_execution_time_ns || 0) / 1e9) : "—",
    ],
    [
      "Usage (billed)",
      doc.usage ? `${doc.usage.qpu_charge_time_seconds} s (${doc.usage.status})` : "—",
    ],
    ["Max execution time", doc.cost ? `${doc.cost} s` : "—"],
    doc.private ? ["Private", "yes: inputs hidden, result readable once"] : null,
    doc.calibration_id ? ["Calibration", doc.calibration_id] : null,
    metrics && metrics.qiskit_version ? ["Qiskit (service)", metrics.qiskit_version] : null,
    metrics && metrics.caller ? ["Client", metrics.caller] : null,
  ]);
}

/** The job page. */
export async function jobView(ctx) {
  const id = ctx.params[0];
  ctx.title(`Job ${id}`);
  const base = `/jobs/${enc(id)}`;
  let doc = await request(base, { signal: ctx.signal });
  const program = doc.program ? doc.program.id : "";
  const plotted = PLOTTED.has(program);
  // Only the plotted programs' params are decoded (each document with its own byte budget).
  const decodeParams = (jobDoc) =>
    plotted && jobDoc.params ? decodeTagged(jobDoc.params) : Promise.resolve(null);
  let params = await decodeParams(doc);
  let metrics = await request(`${base}/metrics`, { signal: ctx.signal }).catch(() => null);
  const pubInputs = params && Array.isArray(params.pubs)
    ? params.pubs.map((pub) => {
        const p = normalizePub(program, pub);
        return { ...p, parameters: circuitInfo(p.circuit).parameters };
      })
    : [];
  const heading = h("div", { class: "page-head" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Job actions" });
  const summary = section("summary", "Summary");
  const results = section("results", "Results", loading("Loading the result…"));
  const timelineHolder = h("div", {});
  const logsBox = section("logs", "Log");
  const metricsBox = section("metrics", "Metrics");
  const message = h("div", { class: "action-message" });
  let downloadUrl = null;
  let paramsUrl = null;
  let resultText = null;
  let spans = [];
  let logRequests = 0;
  let actionsKey = null;
  ctx.signal.addEventListener("abort", () => {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    if (paramsUrl) URL.revokeObjectURL(paramsUrl);
  });
  const drawHead = () => {
    replace(
      heading,
      h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, h("a", { href: "#/jobs" }, "Workloads"), " / ", id),
      h("div", { class: "title-row" }, h("h1", {}, "Job ", h("span", { class: "mono" }, id)), statusBadge(doc.status)),
    );
    // Rebuilt only when they change: a refresh must not undo a pending "Cancel this job?".
    const key = `${PENDING.has(doc.status)}/${downloadUrl}`;
    if (key === actionsKey) return;
    actionsKey = key;
    const buttons = [];
    if (PENDING.has(doc.status)) {
      buttons.push(
        confirmButton({
          id: "cancel-job",
          label: "Cancel job",
          question: "Cancel this job?",
          confirmLabel: "Yes, cancel it",
          danger: true,
          onConfirm: async () => {
            try {
              await request(`${base}/cancel`, { method: "POST" });
              ctx.announce("Job cancelled");
              replace(message, h("div", { class: "notice", role: "status" }, "The job was cancelled."));
            } catch (error) {
              replace(message, errorBox(error, "Cannot cancel the job"));
            }
            await refresh();
          },
        }),
      );
    } else {
      buttons.push(
        confirmButton({
          id: "delete-job",
          label: "Delete job",
          question: "Delete this job and its result for good?",
          confirmLabel: "Yes, delete it",
          danger: true,
          onConfirm: async () => {
            try {
              await request(base, { method: "DELETE" });
              ctx.announce("Job deleted");
              location.hash = "#/jobs";
            } catch (error) {
              replace(message, errorBox(error, "Cannot delete the job"));
            }
          },
        }),
      );
    }
    if (downloadUrl) {
      buttons.push(
        h(
          "a",
          { class: "button", id: "download-result", href: downloadUrl, download: `job-${id}-result.json` },
          "Download result JSON",
        ),
      );
    }
    replace(actions, buttons);
  };
  const drawBody = () => {
    replace(summary, h("h2", { id: "summary-title" }, "Summary"), metricsFacts(doc, metrics));
    replace(timelineHolder, timelineSection(doc, metrics, spans));
    const shown = metricsBox.querySelector("details");
    replace(
      metricsBox,
      h("h2", { id: "metrics-title" }, "Metrics"),
      h(
        "details",
        { open: Boolean(shown && shown.open) },
        h("summary", {}, "The metrics document (GET /v1/jobs/{id}/metrics)"),
        h("pre", { class: "code" }, JSON.stringify(metrics, null, 2)),
      ),
    );
    const asked = ++logRequests;
    request(`${base}/logs`, { as: "text", signal: ctx.signal })
      .then((text) => {
        if (asked !== logRequests) return; // a newer read is on its way
        replace(
          logsBox,
          h("h2", { id: "logs-title" }, "Log"),
          text && text.trim() ? h("pre", { class: "code log" }, text) : emptyState("The log is empty."),
        );
      })
      .catch((error) => {
        if (!ctx.signal.aborted && asked === logRequests) {
          replace(logsBox, h("h2", { id: "logs-title" }, "Log"), errorBox(error, "Cannot read the log"));
        }
      });
  };
  const showResult = async (text) => {
    resultText = text;
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([resultText], { type: "application/json" }));
    let shown;
    if (plotted) {
      const decoded = await decodeTagged(JSON.parse(text));
      spans = spansOf(decoded);
      shown = resultsSection(doc, decoded, pubInputs);
    } else {
      shown = rawResults(doc, text);
    }
    replace(results, h("h2", { id: "results-title" }, "Results"), ...shown);
    drawHead();
    drawBody();
  };
  const loadResult = async () => {
    if (doc.status === "Completed") {
      if (doc.private) {
        const once = h(
          "button",
          {
            type: "button",
            id: "read-private-result",
            onclick: async () => {
              once.disabled = true;
              try {
                const text = await request(`${base}/results`, { as: "text" });
                if (text) await showResult(text);
              } catch (error) {
                replace(results, h("h2", {}, "Results"), errorBox(error, "Cannot read the result"));
              }
            },
          },
          "Read the result (once)",
        );
        replace(
          results,
          h("h2", { id: "results-title" }, "Results"),
          h(
            "div",
            { class: "notice" },
            "This job is private: the service hands its result out once and then deletes it. " +
              "Read it here only if no program still needs it.",
          ),
          once,
        );
        return;
      }
      const text = await request(`${base}/results`, { as: "text", signal: ctx.signal });
      if (!text) {
        replace(results, h("h2", {}, "Results"), emptyState("The service returned no result."));
        return;
      }
      await showResult(text);
    } else if (doc.status === "Failed") {
      const text = await request(`${base}/results`, { as: "text", signal: ctx.signal }).catch(() => null);
      replace(
        results,
        h("h2", { id: "results-title" }, "Results"),
        h("div", { class: "notice error" }, h("strong", {}, "The job failed."), text ? h("pre", { class: "code" }, text) : null),
      );
    } else if (doc.status.startsWith("Cancelled")) {
      replace(results, h("h2", { id: "results-title" }, "Results"), emptyState("The job was cancelled: it has no result."));
    } else {
      replace(
        results,
        h("h2", { id: "results-title" }, "Results"),
        emptyState(`The job is ${doc.status.toLowerCase()}: its result appears here when it completes.`),
      );
    }
  };
  const refresh = async () => {
    const before = doc.status;
    doc = await request(base, { signal: ctx.signal });
    metrics = await request(`${base}/metrics`, { signal: ctx.signal }).catch(() => metrics);
    if (!params && doc.params) params = await decodeParams(doc);
    drawHead();
    drawBody();
    if (doc.status !== before) {
      ctx.announce(`Job ${doc.status.toLowerCase()}`);
      await loadResult();
    }
  };
  // The params as text (shown cut, downloadable whole) unless they are decoded and drawn.
  const paramsText = doc.params && !(params && Array.isArray(params.pubs)) ? JSON.stringify(doc.params) : "";
  if (paramsText) paramsUrl = URL.createObjectURL(new Blob([paramsText], { type: "application/json" }));
  drawHead();
  drawBody();
  replace(
    ctx.main,
    heading,
    actions,
    message,
    summary,
    results,
    timelineHolder,
    inputsSection(doc, params, { text: paramsText, url: paramsUrl }),
    logsBox,
    metricsBox,
  );
  try {
    await loadResult();
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    replace(results, h("h2", {}, "Results"), errorBox(error instanceof ApiError ? error : { message: String(error) }, "Cannot show the result"));
  }
  ctx.poll(
    () => (PENDING.has(doc.status) ? 1500 : null),
    async () => {
      await refresh();
    },
  );
}
