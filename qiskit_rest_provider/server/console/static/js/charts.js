// Hand-written SVG charts: histograms, line charts with error bars, timelines, colour scales and
// the coupling map. Each chart is a <figure> holding an <svg role="img"> with an aria-label;
// every mark has a <title> (its tooltip, and its text for assistive technology).

import { fmtNumber, h, s } from "./dom.js";

export const PALETTE = [
  "#0f62fe",
  "#da1e28",
  "#198038",
  "#8a3ffc",
  "#b28600",
  "#007d79",
  "#ee5396",
  "#6f6f6f",
];

const clean = (value) => Number(value.toPrecision(12));

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  const step = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return step * magnitude;
}

/** Round tick values covering [min, max], about `count` of them. */
export function linearTicks(min, max, count = 5) {
  if (!(max > min)) {
    const pad = Math.abs(min) * 0.1 || 1;
    return linearTicks(min - pad, max + pad, count);
  }
  const step = niceStep(max - min, count);
  const ticks = [];
  for (let value = Math.ceil(min / step - 1e-9) * step; value <= max + step * 1e-9; value += step) {
    ticks.push(clean(value));
  }
  return ticks;
}

function niceDomain(min, max, count = 5) {
  if (!(max > min)) {
    const pad = Math.abs(min) * 0.1 || 1;
    return [min - pad, max + pad];
  }
  const step = niceStep(max - min, count);
  return [clean(Math.floor(min / step + 1e-9) * step), clean(Math.ceil(max / step - 1e-9) * step)];
}

function logTicks(min, max) {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const ticks = [];
  for (let power = lo; power <= hi; power += 1) {
    const multiples = hi - lo <= 2 ? [1, 2, 5] : [1];
    for (const m of multiples) {
      const value = clean(m * 10 ** power);
      if (value >= min * 0.999 && value <= max * 1.001) ticks.push(value);
    }
  }
  return ticks;
}

function scaleLinear([d0, d1], [r0, r1]) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (value) => r0 + (value - d0) * k;
}

function scaleLog([d0, d1], [r0, r1]) {
  const l0 = Math.log10(d0);
  const l1 = Math.log10(d1);
  const k = l1 === l0 ? 0 : (r1 - r0) / (l1 - l0);
  return (value) => r0 + (Math.log10(Math.max(value, d0 * 1e-3)) - l0) * k;
}

function frame(width, height, label, className) {
  return s("svg", {
    class: `chart-svg ${className || ""}`,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": label,
    preserveAspectRatio: "xMinYMin meet",
  });
}

function figure(svgElement, caption, legend, className) {
  return h(
    "figure",
    { class: `chart ${className || ""}` },
    caption ? h("figcaption", {}, caption) : null,
    svgElement,
    legend || null,
  );
}

function legendList(items) {
  return h(
    "ul",
    { class: "legend" },
    items.map((item) =>
      h(
        "li",
        {},
        s(
          "svg",
          { class: "swatch", viewBox: "0 0 16 10", width: 16, height: 10, "aria-hidden": "true" },
          item.dashed
            ? s("line", {
                x1: 0,
                y1: 5,
                x2: 16,
                y2: 5,
                stroke: item.color,
                "stroke-width": 2,
                "stroke-dasharray": item.dash || "4 2",
              })
            : s("rect", { x: 0, y: 1, width: 16, height: 8, rx: 2, fill: item.color }),
        ),
        item.label,
      ),
    ),
  );
}

function axisLabel(text, x, y, rotate) {
  return s(
    "text",
    {
      class: "axis-label",
      x,
      y,
      "text-anchor": "middle",
      transform: rotate ? `rotate(-90 ${x} ${y})` : null,
    },
    text,
  );
}

/**
 * A histogram: bars [{label, value, other}] with the values' share on hover; "other" bars grey.
 */
export function barChart({ bars, caption, xLabel, yLabel, className, ariaLabel, width = 720 }) {
  const longest = Math.max(1, ...bars.map((bar) => String(bar.label).length));
  const rotate = bars.length > 6 || longest > 6;
  // Rotated labels reach down about 0.72 of their length (12.5 px monospace: 7.6 px a glyph).
  const bottom = rotate ? Math.min(190, 48 + longest * 7.6 * 0.72) : 44;
  const labelEvery = Math.ceil(bars.length / 40);
  const margin = { top: 24, right: 16, bottom, left: 64 };
  const plotHeight = 230;
  const height = margin.top + plotHeight + margin.bottom;
  const total = bars.reduce((sum, bar) => sum + bar.value, 0) || 1;
  const maxValue = Math.max(1, ...bars.map((bar) => bar.value));
  const [, top] = niceDomain(0, maxValue);
  const y = scaleLinear([0, top], [margin.top + plotHeight, margin.top]);
  const slot = (width - margin.left - margin.right) / Math.max(1, bars.length);
  const barWidth = Math.max(2, Math.min(56, slot * 0.72));
  const svgElement = frame(width, height, ariaLabel || caption || "Histogram", "histogram");
  for (const tick of linearTicks(0, top)) {
    svgElement.append(
      s("line", {
        class: "grid",
        x1: margin.left,
        x2: width - margin.right,
        y1: y(tick),
        y2: y(tick),
      }),
      s("text", { class: "tick", x: margin.left - 6, y: y(tick) + 4, "text-anchor": "end" }, fmtNumber(tick)),
    );
  }
  bars.forEach((bar, i) => {
    const cx = margin.left + slot * (i + 0.5);
    const share = ((bar.value / total) * 100).toFixed(1);
    svgElement.append(
      s(
        "rect",
        {
          class: bar.other ? "bar other" : "bar",
          x: cx - barWidth / 2,
          y: y(bar.value),
          width: barWidth,
          height: Math.max(0, y(0) - y(bar.value)),
          fill: bar.other ? "#a8a8a8" : PALETTE[0],
          "data-label": bar.label,
          "data-value": bar.value,
        },
        s("title", {}, `${bar.label}: ${bar.value} (${share}%)`),
      ),
    );
    if (bars.length <= 24) {
      svgElement.append(
        s(
          "text",
          { class: "bar-value", x: cx, y: y(bar.value) - 4, "text-anchor": "middle" },
          String(bar.value),
        ),
      );
    }
    const labelY = y(0) + 14;
    if (i % labelEvery) return;
    svgElement.append(
      s(
        "text",
        {
          class: "tick mono",
          x: cx,
          y: labelY,
          "text-anchor": rotate ? "end" : "middle",
          transform: rotate ? `rotate(-45 ${cx} ${labelY})` : null,
        },
        bar.label,
      ),
    );
  });
  svgElement.append(
    s("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0) }),
    axisLabel(yLabel || "Count", 16, margin.top + plotHeight / 2, true),
  );
  if (xLabel) svgElement.append(axisLabel(xLabel, width / 2, height - 6, false));
  return figure(svgElement, caption, null, className);
}

/**
 * A line chart with optional error bars: series [{name, points: [{x, y, err}], color, dashed,
 * line (false: markers only), markers (false: line only), dash}]. Options: xLabel, yLabel, logY,
 * xTicks ([{value, label}]), xFormat, yFormat, caption, className, ariaLabel, width (of the
 * drawing, in CSS pixels at full size: the text keeps its size when drawn that wide).
 */
export function lineChart(options) {
  const { series, caption, xLabel, yLabel, logY, className, ariaLabel } = options;
  const width = options.width || 720;
  const height = options.height || 320;
  const margin = { top: 20, right: 20, bottom: 52, left: 72 };
  const all = series.flatMap((item) => item.points).filter((p) => Number.isFinite(p.y));
  const xs = all.map((p) => p.x);
  let xDomain = [Math.min(...xs), Math.max(...xs)];
  if (xDomain[0] === xDomain[1]) xDomain = [xDomain[0] - 1, xDomain[1] + 1];
  const span = xDomain[1] - xDomain[0];
  xDomain = [xDomain[0] - span * 0.04, xDomain[1] + span * 0.04];
  const lows = all.map((p) => p.y - (p.err || 0));
  const highs = all.map((p) => p.y + (p.err || 0));
  let yDomain;
  let yTicks;
  let y;
  const plotTop = margin.top;
  const plotBottom = height - margin.bottom;
  if (logY) {
    const positive = all.map((p) => p.y).filter((value) => value > 0);
    const lo = Math.min(...positive);
    const hi = Math.max(...positive);
    yDomain = [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi))];
    if (yDomain[0] === yDomain[1]) yDomain = [yDomain[0] / 10, yDomain[1] * 10];
    yTicks = logTicks(yDomain[0], yDomain[1]);
    y = scaleLog(yDomain, [plotBottom, plotTop]);
  } else {
    yDomain = niceDomain(Math.min(...lows), Math.max(...highs));
    yTicks = linearTicks(yDomain[0], yDomain[1]);
    y = scaleLinear(yDomain, [plotBottom, plotTop]);
  }
  const x = scaleLinear(xDomain, [margin.left, width - margin.right]);
  const svgElement = frame(width, height, ariaLabel || caption || "Line chart", "line-chart");
  const yFormat = options.yFormat || ((value) => fmtNumber(value, 3));
  for (const tick of yTicks) {
    svgElement.append(
      s("line", { class: "grid", x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick) }),
      s("text", { class: "tick", x: margin.left - 6, y: y(tick) + 4, "text-anchor": "end" }, yFormat(tick)),
    );
  }
  const xTicks =
    options.xTicks ||
    linearTicks(xDomain[0], xDomain[1], 6)
      .filter((value) => value >= xDomain[0] && value <= xDomain[1])
      .map((value) => ({ value, label: (options.xFormat || fmtNumber)(value) }));
  for (const tick of xTicks) {
    svgElement.append(
      s("line", { class: "tick-mark", x1: x(tick.value), x2: x(tick.value), y1: plotBottom, y2: plotBottom + 5 }),
      s("text", { class: "tick x-tick", x: x(tick.value), y: plotBottom + 18, "text-anchor": "middle" }, tick.label),
    );
  }
  svgElement.append(
    s("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: plotBottom, y2: plotBottom }),
    s("line", { class: "axis", x1: margin.left, x2: margin.left, y1: plotTop, y2: plotBottom }),
  );
  if (!logY && yDomain[0] < 0 && yDomain[1] > 0) {
    svgElement.append(
      s("line", { class: "zero", x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0) }),
    );
  }
  series.forEach((item, index) => {
    const color = item.color || PALETTE[index % PALETTE.length];
    const points = item.points.filter((p) => Number.isFinite(p.y) && (!logY || p.y > 0));
    const group = s("g", { class: `series ${item.className || ""}`, "data-series": item.name });
    if (item.line !== false && points.length > 1) {
      const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.x).toFixed(2)},${y(p.y).toFixed(2)}`);
      group.append(
        s("path", {
          class: "line",
          d: d.join(""),
          fill: "none",
          stroke: color,
          "stroke-width": 2,
          "stroke-dasharray": item.dash || (item.dashed ? "6 4" : null),
        }),
      );
    }
    for (const p of points) {
      const label = `${item.name}: ${fmtNumber(p.y)}${p.err ? ` ± ${fmtNumber(p.err, 2)}` : ""} at ${
        p.xLabel || fmtNumber(p.x)
      }`;
      if (p.err) {
        const cx = x(p.x);
        const top = y(p.y + p.err);
        const bottom = y(logY ? Math.max(p.y - p.err, yDomain[0]) : p.y - p.err);
        group.append(
          s(
            "g",
            { class: "error-bar", stroke: color, "stroke-width": 1.5 },
            s("line", { x1: cx, x2: cx, y1: top, y2: bottom }),
            s("line", { x1: cx - 4, x2: cx + 4, y1: top, y2: top }),
            s("line", { x1: cx - 4, x2: cx + 4, y1: bottom, y2: bottom }),
          ),
        );
      }
      if (item.markers !== false) {
        group.append(
          s(
            "circle",
            {
              class: `point ${p.className || ""}`,
              cx: x(p.x),
              cy: y(p.y),
              r: p.r || 4,
              fill: p.hollow ? "#ffffff" : color,
              stroke: color,
              "stroke-width": 2,
            },
            s("title", {}, label),
          ),
        );
      }
    }
    svgElement.append(group);
  });
  if (yLabel) svgElement.append(axisLabel(yLabel, 18, (plotTop + plotBottom) / 2, true));
  if (xLabel) svgElement.append(axisLabel(xLabel, (margin.left + width - margin.right) / 2, height - 10, false));
  const legend =
    series.length > 1 || options.legend
      ? legendList(
          series.map((item, index) => ({
            label: item.name,
            color: item.color || PALETTE[index % PALETTE.length],
            dashed: item.dashed || Boolean(item.dash),
            dash: item.dash,
          })),
        )
      : null;
  return figure(svgElement, caption, legend, className);
}

/**
 * A timeline: rows [{label, start, stop (ms since epoch), detail, color}] on one time axis,
 * labelled in seconds from `origin`.
 */
export function timeline({ rows, caption, className, ariaLabel, origin }) {
  const width = 720;
  const rowHeight = 26;
  const margin = { top: 12, right: 20, bottom: 40, left: 150 };
  const height = margin.top + rows.length * rowHeight + margin.bottom;
  const start = origin ?? Math.min(...rows.map((row) => row.start));
  const stop = Math.max(...rows.map((row) => row.stop), start + 1);
  const x = scaleLinear([0, (stop - start) / 1000], [margin.left, width - margin.right]);
  const svgElement = frame(width, height, ariaLabel || caption || "Timeline", "timeline");
  const plotBottom = margin.top + rows.length * rowHeight;
  for (const tick of linearTicks(0, (stop - start) / 1000, 6)) {
    if (tick < 0 || tick > (stop - start) / 1000 + 1e-9) continue;
    svgElement.append(
      s("line", { class: "grid", x1: x(tick), x2: x(tick), y1: margin.top, y2: plotBottom }),
      s("text", { class: "tick", x: x(tick), y: plotBottom + 16, "text-anchor": "middle" }, `${fmtNumber(tick, 3)} s`),
    );
  }
  rows.forEach((row, i) => {
    const top = margin.top + i * rowHeight + 4;
    const x0 = x((row.start - start) / 1000);
    const x1 = Math.max(x0 + 2, x((row.stop - start) / 1000));
    svgElement.append(
      s("text", { class: "row-label", x: margin.left - 8, y: top + 13, "text-anchor": "end" }, row.label),
      s(
        "rect",
        {
          class: `span ${row.className || ""}`,
          x: x0,
          y: top,
          width: x1 - x0,
          height: rowHeight - 8,
          rx: 3,
          fill: row.color || PALETTE[0],
        },
        s("title", {}, `${row.label}: ${fmtNumber((row.stop - row.start) / 1000, 3)} s${row.detail ? ` — ${row.detail}` : ""}`),
      ),
    );
  });
  svgElement.append(
    s("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: plotBottom, y2: plotBottom }),
    axisLabel("seconds since the job was created", (margin.left + width - margin.right) / 2, height - 6, false),
  );
  return figure(svgElement, caption, null, className);
}

// Colour scales: blue is good, red is bad, whichever way the quantity runs.
const RAMP = ["#2166ac", "#4393c3", "#92c5de", "#f7e8a6", "#f4a582", "#d6604d", "#b2182b"];

function mix(a, b, t) {
  const pa = [1, 3, 5].map((i) => parseInt(a.slice(i, i + 2), 16));
  const pb = [1, 3, 5].map((i) => parseInt(b.slice(i, i + 2), 16));
  return `#${pa
    .map((value, i) => Math.round(value + (pb[i] - value) * t).toString(16).padStart(2, "0"))
    .join("")}`;
}

/** A colour scale over `values` (log for errors); `higherIsBetter` flips it (T1, T2). */
export function colorScale(values, { log = false, higherIsBetter = false } = {}) {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let min = finite.length ? Math.min(...finite) : 0;
  let max = finite.length ? Math.max(...finite) : 1;
  if (min === max) {
    min = log ? min / 2 : min - 1;
    max = log ? max * 2 : max + 1;
  }
  const position = (value) => {
    const t = log
      ? (Math.log10(value) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))
      : (value - min) / (max - min);
    const clamped = Math.min(1, Math.max(0, t));
    return higherIsBetter ? 1 - clamped : clamped;
  };
  const color = (value) => {
    if (!Number.isFinite(value) || (log && value <= 0)) return "#c6c6c6";
    const t = position(value) * (RAMP.length - 1);
    const i = Math.min(RAMP.length - 2, Math.floor(t));
    return mix(RAMP[i], RAMP[i + 1], t - i);
  };
  return { min, max, log, higherIsBetter, color };
}

/** A horizontal colour bar for a scale, with its extremes and a title. */
export function colorLegend(scale, title, format = fmtNumber) {
  const width = 260;
  const steps = 40;
  const svgElement = s("svg", {
    class: "color-legend",
    viewBox: `0 0 ${width} 44`,
    width,
    height: 44,
    role: "img",
    "aria-label": `${title}: from ${format(scale.min)} to ${format(scale.max)}`,
  });
  for (let i = 0; i < steps; i += 1) {
    const t = i / (steps - 1);
    const value = scale.log
      ? 10 ** (Math.log10(scale.min) + t * (Math.log10(scale.max) - Math.log10(scale.min)))
      : scale.min + t * (scale.max - scale.min);
    svgElement.append(
      s("rect", { x: 10 + (i * (width - 20)) / steps, y: 18, width: (width - 20) / steps + 0.5, height: 10, fill: scale.color(value) }),
    );
  }
  svgElement.append(
    s("text", { class: "tick", x: 10, y: 12 }, title),
    s("text", { class: "tick", x: 10, y: 41 }, format(scale.min)),
    s("text", { class: "tick", x: width - 10, y: 41, "text-anchor": "end" }, format(scale.max)),
  );
  return svgElement;
}

/**
 * Positions for a coupling map without coordinates, inferred from IBM's row-by-row numbering
 * (heavy-hex and square lattices): runs of consecutive coupled qubits are rows, lone qubits
 * bridge them. Falls back to a force-directed layout when the inference does not hold.
 */
export function inferCoords(count, edges) {
  if (!count) return [];
  const adjacent = Array.from({ length: count }, () => new Set());
  for (const [a, b] of edges) {
    if (a < count && b < count && a !== b) {
      adjacent[a].add(b);
      adjacent[b].add(a);
    }
  }
  const rows = [];
  for (let q = 0; q < count; q += 1) {
    if (q > 0 && adjacent[q].has(q - 1)) rows[rows.length - 1].push(q);
    else rows.push([q]);
  }
  // Place the first row, then any row with a placed neighbour: below it if the neighbour
  // comes earlier in the numbering, above it otherwise; repeat until nothing more can be placed
  // (a row cut by a missing coupler is placed through the bridges below it).
  const placed = new Map();
  rows[0].forEach((q, i) => placed.set(q, [i, 0]));
  let waiting = rows.slice(1);
  let ok = true;
  while (waiting.length) {
    const still = [];
    for (const row of waiting) {
      let anchor = null;
      for (let i = 0; i < row.length && !anchor; i += 1) {
        const known = [...adjacent[row[i]]].filter((n) => placed.has(n)).sort((a, b) => a - b);
        if (known.length) {
          const [nx, ny] = placed.get(known[0]);
          anchor = { i, x: nx, y: known[0] < row[i] ? ny + 1 : ny - 1 };
        }
      }
      if (anchor) row.forEach((q, i) => placed.set(q, [anchor.x + (i - anchor.i), anchor.y]));
      else still.push(row);
    }
    if (still.length === waiting.length) {
      ok = false;
      break;
    }
    waiting = still;
  }
  const taken = new Set();
  if (ok) {
    for (const [x, y] of placed.values()) {
      const key = `${x},${y}`;
      if (taken.has(key)) ok = false;
      taken.add(key);
    }
    for (const [a, b] of edges) {
      const pa = placed.get(a);
      const pb = placed.get(b);
      if (!pa || !pb || Math.abs(pa[0] - pb[0]) + Math.abs(pa[1] - pb[1]) > 1) ok = false;
    }
  }
  if (ok && placed.size === count) {
    return Array.from({ length: count }, (_, q) => placed.get(q));
  }
  return forceLayout(count, edges);
}

function forceLayout(count, edges) {
  // Fruchterman-Reingold from a circle: deterministic, fine for a few hundred qubits.
  const side = Math.ceil(Math.sqrt(count)) + 1;
  const pos = Array.from({ length: count }, (_, q) => [
    side / 2 + (side / 2.2) * Math.cos((2 * Math.PI * q) / count),
    side / 2 + (side / 2.2) * Math.sin((2 * Math.PI * q) / count),
  ]);
  const k = 1;
  let temperature = side / 4;
  for (let iteration = 0; iteration < 300; iteration += 1) {
    const shift = pos.map(() => [0, 0]);
    for (let a = 0; a < count; a += 1) {
      for (let b = a + 1; b < count; b += 1) {
        const dx = pos[a][0] - pos[b][0];
        const dy = pos[a][1] - pos[b][1];
        const d = Math.max(0.01, Math.hypot(dx, dy));
        const f = (k * k) / d;
        shift[a][0] += (dx / d) * f;
        shift[a][1] += (dy / d) * f;
        shift[b][0] -= (dx / d) * f;
        shift[b][1] -= (dy / d) * f;
      }
    }
    for (const [a, b] of edges) {
      const dx = pos[a][0] - pos[b][0];
      const dy = pos[a][1] - pos[b][1];
      const d = Math.max(0.01, Math.hypot(dx, dy));
      const f = (d * d) / k;
      shift[a][0] -= (dx / d) * f;
      shift[a][1] -= (dy / d) * f;
      shift[b][0] += (dx / d) * f;
      shift[b][1] += (dy / d) * f;
    }
    for (let q = 0; q < count; q += 1) {
      const d = Math.max(0.01, Math.hypot(shift[q][0], shift[q][1]));
      pos[q][0] += (shift[q][0] / d) * Math.min(d, temperature);
      pos[q][1] += (shift[q][1] / d) * Math.min(d, temperature);
    }
    temperature = Math.max(0.01, temperature * 0.985);
  }
  // In units of the median coupler length, as the inferred layouts are.
  const lengths = edges
    .filter(([a, b]) => a < count && b < count)
    .map(([a, b]) => Math.hypot(pos[a][0] - pos[b][0], pos[a][1] - pos[b][1]))
    .sort((x, y) => x - y);
  const unit = lengths.length ? lengths[Math.floor(lengths.length / 2)] || 1 : 1;
  return pos.map(([x, y]) => [x / unit, y / unit]);
}

/**
 * The coupling map: one circle per qubit (class "qubit", coloured by `qubit.color(q)`), one
 * line per coupled pair (class "coupler"), faulty ones marked with a cross and a dashed outline.
 */
export function couplingMap({ count, coords, pairs, qubit, coupler, ariaLabel }) {
  const xs = coords.map((c) => c[0]);
  const ys = coords.map((c) => c[1]);
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  const spanX = Math.max(...xs) - minX;
  const spanY = Math.max(...ys) - minY;
  const spacing = 46;
  const pad = 26;
  const width = spanX * spacing + 2 * pad;
  const height = spanY * spacing + 2 * pad;
  const at = (q) => [pad + (coords[q][0] - minX) * spacing, pad + (coords[q][1] - minY) * spacing];
  const svgElement = s("svg", {
    class: "coupling-map",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": ariaLabel,
    width,
    height,
  });
  const couplers = s("g", { class: "couplers" });
  for (const [a, b] of pairs) {
    const [x1, y1] = at(a);
    const [x2, y2] = at(b);
    const faulty = coupler.faulty(a, b);
    const line = s(
      "line",
      {
        class: `coupler${faulty ? " faulty" : ""}`,
        x1,
        y1,
        x2,
        y2,
        stroke: faulty ? "#393939" : coupler.color(a, b),
        "stroke-width": 9,
        "stroke-linecap": "round",
        "stroke-dasharray": faulty ? "3 5" : null,
        "data-qubits": `${a},${b}`,
      },
      s("title", {}, coupler.label(a, b)),
    );
    couplers.append(line);
    if (faulty) {
      const mx = (x1 + x2) / 2;
      const my = (y1 + y2) / 2;
      const cross = `M${mx - 6},${my - 6}L${mx + 6},${my + 6}M${mx - 6},${my + 6}L${mx + 6},${my - 6}`;
      couplers.append(
        s("path", { class: "fault-halo", d: cross, stroke: "#ffffff", "stroke-width": 6, "stroke-linecap": "round" }),
        s(
          "path",
          { class: "fault-mark", d: cross, stroke: "#da1e28", "stroke-width": 3, "stroke-linecap": "round" },
          s("title", {}, coupler.label(a, b)),
        ),
      );
    }
  }
  const qubits = s("g", { class: "qubits" });
  for (let q = 0; q < count; q += 1) {
    const [cx, cy] = at(q);
    const faulty = qubit.faulty(q);
    const fill = faulty ? "#f4f4f4" : qubit.color(q);
    qubits.append(
      s(
        "g",
        { class: "qubit-group" },
        s(
          "circle",
          {
            class: `qubit${faulty ? " faulty" : ""}`,
            cx,
            cy,
            r: 14,
            fill,
            stroke: faulty ? "#da1e28" : "#161616",
            "stroke-width": faulty ? 2.5 : 1,
            "stroke-dasharray": faulty ? "4 3" : null,
            "data-qubit": q,
          },
          s("title", {}, qubit.label(q)),
        ),
        s(
          "text",
          {
            class: `qubit-label${isDark(fill) ? " on-dark" : ""}`,
            x: cx,
            y: cy + 3.5,
            "text-anchor": "middle",
            "aria-hidden": "true",
          },
          String(q),
        ),
        faulty
          ? s("path", {
              class: "fault-mark",
              d: `M${cx + 7},${cy - 15}l8,8M${cx + 7},${cy - 7}l8,-8`,
              stroke: "#da1e28",
              "stroke-width": 2.5,
            })
          : null,
      ),
    );
  }
  svgElement.append(couplers, qubits);
  return svgElement;
}

function isDark(hex) {
  if (!/^#[0-9a-f]{6}$/i.test(hex)) return false;
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b < 140;
}
