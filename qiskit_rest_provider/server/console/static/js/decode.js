// Decoding of the API's type-tagged JSON (RuntimeEncoder): ndarrays are base64 of zlib of .npy
// bytes, inflated with the browser's own DecompressionStream; BitArrays are counted here.
//
// Everything decoded here comes from the service, which passes on whatever a client submitted,
// so every inflation is bounded: a document's arrays share a byte budget (DecodeBudget), each
// array's declared size is checked against it before its data is inflated, and the inflation
// stops as soon as it passes the declared size. A value that cannot be decoded (too large,
// malformed) becomes a DecodeFailure in its place; the rest of the document decodes as usual.

/** The most bytes one array may take once inflated and converted. */
export const MAX_ARRAY_BYTES = 64 * 1024 * 1024;
/** The most bytes all the arrays of one document may take together. */
export const MAX_DOCUMENT_BYTES = 128 * 1024 * 1024;
/** The longest .npy header read (numpy writes a few hundred bytes). */
const MAX_NPY_HEADER = 64 * 1024;

/** An n-dimensional array: `data` is flat, in C order. */
export class NdArray {
  constructor(dtype, shape, data) {
    this.dtype = dtype;
    this.shape = shape;
    this.data = data;
  }

  get size() {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The element at a multi-index (C order). */
  at(index) {
    let flat = 0;
    for (let axis = 0; axis < this.shape.length; axis += 1) {
      flat = flat * this.shape[axis] + (index[axis] || 0);
    }
    return this.data[flat];
  }
}

/** A decoded wrapper other than an ndarray: {type: "BitArray", value: {...}}. */
export class Tagged {
  constructor(type, value) {
    this.type = type;
    this.value = value;
  }
}

/** A wrapper that could not be decoded (`type`: its __type__), kept in its place with the
 * reason, so the page can say so where the value would be shown. */
export class DecodeFailure {
  constructor(type, message) {
    this.type = type;
    this.message = message;
  }
}

/** An array larger than the console decodes. */
export class DecodeLimitError extends Error {
  constructor(message) {
    super(message);
    this.name = "DecodeLimitError";
  }
}

/** "1.5 MB", "64 MB", "1 GB" (binary multiples). */
export function fmtBytes(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? Number(value.toPrecision(3)) : value} ${units[unit]}`;
}

/** The bytes the arrays of one document may still take (shared by every value it holds). */
export class DecodeBudget {
  constructor(bytes = MAX_DOCUMENT_BYTES, perArray = MAX_ARRAY_BYTES) {
    this.left = bytes;
    this.perArray = perArray;
  }

  /** Take `bytes` for one array, or throw DecodeLimitError (taking nothing). */
  take(bytes, what = "this array") {
    if (!Number.isFinite(bytes) || bytes > this.perArray) {
      throw new DecodeLimitError(
        `${what} takes ${fmtBytes(bytes)}, more than the console decodes (${fmtBytes(this.perArray)})`,
      );
    }
    if (bytes > this.left) {
      throw new DecodeLimitError(
        `${what} takes ${fmtBytes(bytes)}, more than the ${fmtBytes(this.left)} left of the ` +
          "console's budget for this document",
      );
    }
    this.left -= bytes;
  }
}

export function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function concat(chunks, total) {
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/**
 * zlib-inflate `bytes` ("deflate" is the zlib format in the Compression Streams API), streamed:
 * the inflation stops, and DecodeLimitError is thrown, as soon as more than `limit` bytes come
 * out. `check(prefix)`, if given, sees the bytes inflated so far after each chunk until it
 * answers a number: the new limit (for a .npy array, its declared size), or it throws.
 */
export async function inflate(bytes, limit = MAX_ARRAY_BYTES, check = null) {
  const reader = new Blob([bytes])
    .stream()
    .pipeThrough(new DecompressionStream("deflate"))
    .getReader();
  const chunks = [];
  let total = 0;
  let bound = limit;
  let checking = typeof check === "function";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > bound) {
        throw new DecodeLimitError(
          `the compressed data inflates past ${fmtBytes(bound)}${
            bound < limit ? " (the size its header declares)" : ""
          }`,
        );
      }
      chunks.push(value);
      if (checking) {
        const answer = check(chunks.length === 1 ? value : concat(chunks, total));
        if (typeof answer === "number") {
          checking = false;
          bound = Math.min(bound, answer);
          if (total > bound) throw new DecodeLimitError("the data is longer than its header declares");
        }
      }
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
  return concat(chunks, total);
}

const READERS = {
  f: { 4: "getFloat32", 8: "getFloat64" },
  i: { 1: "getInt8", 2: "getInt16", 4: "getInt32", 8: "getBigInt64" },
  u: { 1: "getUint8", 2: "getUint16", 4: "getUint32", 8: "getBigUint64" },
  b: { 1: "getUint8" },
};

/**
 * The .npy header at the start of `bytes`: {descr, fortran, shape, size, itemBytes, offset};
 * null while `bytes` is a prefix too short to hold all of it. Throws for what is not a .npy
 * array, or whose header is unreadable, too long or declares an impossible shape.
 */
export function readNpyHeader(bytes) {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (magic.some((byte, i) => i < bytes.length && bytes[i] !== byte)) {
    throw new Error("not a .npy array");
  }
  if (bytes.length < 12) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  if (major < 1 || major > 3) throw new Error(`unknown .npy format version ${major}`);
  const length = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (length > MAX_NPY_HEADER) throw new Error("unreadable .npy header (too long)");
  if (bytes.length < start + length) return null;
  const header = new TextDecoder("latin1").decode(bytes.subarray(start, start + length));
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shapeText) throw new Error("unreadable .npy header");
  const shape = shapeText[1]
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part)
    .map(Number);
  if (shape.some((dim) => !Number.isSafeInteger(dim) || dim < 0)) {
    throw new Error(`impossible .npy shape (${shapeText[1]})`);
  }
  const itemBytes = Number(descr[1].slice(2)) || 0;
  if (!itemBytes) throw new Error(`unsupported array type ${descr[1]}`);
  return {
    descr: descr[1],
    fortran: fortran ? fortran[1] === "True" : false,
    shape,
    size: shape.reduce((a, b) => a * b, 1),
    itemBytes,
    offset: start + length,
  };
}

/** The .npy header of `bytes` (as readNpyHeader, but a short prefix is an error too). */
export function npyHeader(bytes) {
  const header = readNpyHeader(bytes);
  if (!header) throw new Error("not a .npy array (truncated header)");
  return header;
}

/** Roughly the bytes the page holds for an array with this header while it is decoded: its
 * data twice (inflated, then copied out), plus the JavaScript values it becomes unless it is
 * viewed in place (bytes, float64), plus the reordering of a Fortran-ordered one. */
export function npyCost({ descr, fortran, shape, size, itemBytes }) {
  const typed = descr === "|u1" || descr === "<u1" || descr === "<f8";
  const perValue = typed ? 0 : descr[1] === "c" ? 64 : 24;
  const reorder = fortran && shape.length > 1 ? 16 : 0;
  return size * (2 * itemBytes + perValue + reorder);
}

function toCOrder(data, shape) {
  // A Fortran-ordered array's elements, rearranged into C order.
  const size = data.length;
  const out = new Array(size);
  const strides = shape.map((_, axis) => shape.slice(0, axis).reduce((a, b) => a * b, 1));
  const index = new Array(shape.length).fill(0);
  for (let flat = 0; flat < size; flat += 1) {
    out[flat] = data[index.reduce((sum, value, axis) => sum + value * strides[axis], 0)];
    for (let axis = shape.length - 1; axis >= 0; axis -= 1) {
      index[axis] += 1;
      if (index[axis] < shape[axis]) break;
      index[axis] = 0;
    }
  }
  return out;
}

/** Parse .npy bytes into an NdArray (numbers; complex values as {re, im}). */
export function parseNpy(bytes) {
  const { descr, fortran, shape, size, itemBytes: width, offset } = npyHeader(bytes);
  const little = descr[0] !== ">";
  const kind = descr[1];
  if (bytes.length - offset < size * width) {
    throw new Error(
      `the .npy data holds ${bytes.length - offset} bytes, fewer than its shape needs (${size * width})`,
    );
  }
  const body = bytes.slice(offset, offset + size * width); // a copy: aligned, independent
  let data;
  if (descr === "|u1" || descr === "<u1") {
    data = body;
  } else if (descr === "<f8") {
    data = new Float64Array(body.buffer, 0, size);
  } else if (kind === "c" && (width === 8 || width === 16)) {
    const view = new DataView(body.buffer);
    const half = width / 2;
    const read = half === 8 ? "getFloat64" : "getFloat32";
    data = new Array(size);
    for (let i = 0; i < size; i += 1) {
      data[i] = { re: view[read](i * width, little), im: view[read](i * width + half, little) };
    }
  } else {
    const reader = (READERS[kind] || {})[width];
    if (!reader) throw new Error(`unsupported array type ${descr}`);
    const view = new DataView(body.buffer);
    data = new Array(size);
    for (let i = 0; i < size; i += 1) {
      const value = view[reader](i * width, little);
      data[i] = typeof value === "bigint" ? Number(value) : kind === "b" ? value !== 0 : value;
    }
  }
  if (fortran && shape.length > 1) data = toCOrder(Array.from(data), shape);
  return new NdArray(descr, shape, data);
}

function nestedShape(value) {
  const shape = [];
  let level = value;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  return shape;
}

function shapeText(shape) {
  return shape.length ? `(${shape.join(", ")}${shape.length === 1 ? "," : ""})` : "()";
}

/**
 * Decode an ndarray wrapper's value (base64 of zlib of .npy, or a plain JSON list). The
 * array's declared size is taken from `budget` before its data is inflated, and the inflation
 * stops at that size: DecodeLimitError when the budget has no room for it.
 */
export async function decodeNdarray(value, budget = new DecodeBudget()) {
  if (typeof value === "string") {
    const bytes = await inflate(base64Bytes(value), budget.perArray, (prefix) => {
      const header = readNpyHeader(prefix);
      if (!header) return null;
      budget.take(npyCost(header), `an array of shape ${shapeText(header.shape)} (${header.descr})`);
      return header.offset + header.size * header.itemBytes;
    });
    return parseNpy(bytes);
  }
  if (!Array.isArray(value)) throw new Error("an ndarray's value is neither .npy data nor a list");
  return new NdArray("object", nestedShape(value), [value].flat(Infinity));
}

async function decodeWrapper(type, inner, budget) {
  if (type === "ndarray") return decodeNdarray(inner, budget);
  if (type === "datetime") return inner;
  if (type === "complex") return { re: inner[0], im: inner[1] };
  if (type === "QuantumCircuit" || type === "Parameter" || type === "Instruction") {
    return new Tagged(type, inner); // QPY: binary, shown as such
  }
  return new Tagged(type, await decodeTagged(inner, budget));
}

/**
 * Decode type-tagged JSON: ndarrays become NdArray, other wrappers Tagged, dates strings. The
 * arrays of the whole document share `budget`; a wrapper that cannot be decoded becomes a
 * DecodeFailure in its place (this never rejects for one bad value).
 */
export async function decodeTagged(value, budget = new DecodeBudget()) {
  if (Array.isArray(value)) return Promise.all(value.map((item) => decodeTagged(item, budget)));
  if (!value || typeof value !== "object") return value;
  if (typeof value.__type__ === "string" && "__value__" in value) {
    const type = value.__type__;
    try {
      return await decodeWrapper(type, value.__value__, budget);
    } catch (error) {
      return new DecodeFailure(type, (error && error.message) || String(error));
    }
  }
  const out = {};
  const entries = await Promise.all(
    Object.entries(value).map(async ([key, item]) => [key, await decodeTagged(item, budget)]),
  );
  for (const [key, item] of entries) out[key] = item;
  return out;
}

/** The DecodeFailures inside a decoded document, with where they are ("pub_results[0].data"),
 * at most `limit` of them. */
export function decodeFailures(value, limit = 20) {
  const found = [];
  const walk = (node, path) => {
    if (found.length >= limit || !node || typeof node !== "object" || node instanceof NdArray) {
      return;
    }
    if (node instanceof DecodeFailure) {
      found.push({ path: path || "(the document)", failure: node });
    } else if (node instanceof Tagged) {
      walk(node.value, path);
    } else if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${path}[${i}]`));
    } else {
      for (const [key, item] of Object.entries(node)) walk(item, path ? `${path}.${key}` : key);
    }
  };
  walk(value, "");
  return found;
}

/** The value inside a Tagged wrapper (or the value itself). */
export function unwrap(value) {
  return value instanceof Tagged ? value.value : value;
}

/**
 * Counts of a BitArray's outcomes as a Map("0101" -> count), over every shot of the pub or
 * only those of one point of its shape (`point`: flat index into the pub's shape).
 */
export function bitCounts(bitArray, point = null) {
  const { array, num_bits: numBits } = unwrap(bitArray);
  const shape = array.shape;
  const bytesPerShot = shape[shape.length - 1];
  const shots = shape[shape.length - 2];
  const points = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const data = array.data;
  const numeric = bytesPerShot <= 6;
  const tally = new Map();
  const first = point === null ? 0 : point;
  const last = point === null ? points : point + 1;
  for (let p = first; p < last; p += 1) {
    for (let shot = 0; shot < shots; shot += 1) {
      const start = (p * shots + shot) * bytesPerShot;
      let key;
      if (numeric) {
        key = 0;
        for (let b = 0; b < bytesPerShot; b += 1) key = key * 256 + data[start + b];
      } else {
        key = Array.from(data.subarray(start, start + bytesPerShot)).join(",");
      }
      tally.set(key, (tally.get(key) || 0) + 1);
    }
  }
  const counts = new Map();
  for (const [key, count] of tally) {
    let bits;
    if (numeric) {
      bits = key.toString(2).padStart(bytesPerShot * 8, "0");
    } else {
      bits = key
        .split(",")
        .map((byte) => Number(byte).toString(2).padStart(8, "0"))
        .join("");
    }
    counts.set(bits.slice(bits.length - numBits), count);
  }
  return counts;
}

/** The `k` most frequent outcomes and the rest summed as one "other" entry (all of them, in
 * order, when they are no more than `k`). */
export function topCounts(counts, k) {
  const byLabel = (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  if (counts.size <= k) {
    // Everything fits: in the outcomes' order, as a histogram reads best.
    return [...counts.entries()].sort(byLabel).map(([label, value]) => ({ label, value }));
  }
  const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1] || byLabel(a, b));
  const top = sorted.slice(0, k).map(([label, value]) => ({ label, value }));
  const rest = sorted.slice(k);
  if (rest.length) {
    top.push({
      label: `other (${rest.length})`,
      value: rest.reduce((sum, [, value]) => sum + value, 0),
      other: true,
    });
  }
  return top;
}

/** "ZZ" over many qubits, written sparsely: "IIIZIZ" → "Z0 Z2" (qubit 0 is rightmost). */
export function sparsePauli(label) {
  if (typeof label !== "string") return String(label);
  if (label.length <= 6) return label;
  const terms = [];
  for (let qubit = 0; qubit < label.length; qubit += 1) {
    const pauli = label[label.length - 1 - qubit];
    if (pauli !== "I") terms.push(`${pauli}${qubit}`);
  }
  return terms.length ? terms.join(" ") : `I (${label.length} qubits)`;
}

/** One observable ({label: coeff}, a label, or a list of them) as text. */
export function observableText(observable) {
  if (observable instanceof DecodeFailure) return `(not decoded: ${observable.message})`;
  if (typeof observable === "string") return sparsePauli(observable);
  if (Array.isArray(observable)) return observable.map(observableText).join(" + ");
  if (observable && typeof observable === "object") {
    return Object.entries(observable)
      .map(([label, coeff]) => {
        const value = typeof coeff === "number" ? coeff : coeff && coeff.re;
        const pauli = sparsePauli(label);
        return value === 1 ? pauli : `${Number(value).toPrecision(4).replace(/\.?0+$/, "")}·${pauli}`;
      })
      .join(" + ");
  }
  return String(observable);
}

/** The shape of nested observables (a single one has shape []). */
export function observablesShape(observables) {
  if (Array.isArray(observables) && observables.length && Array.isArray(observables[0])) {
    return [observables.length, ...observablesShape(observables[0])];
  }
  if (Array.isArray(observables) && observables.length && typeof observables[0] === "object") {
    return [observables.length];
  }
  return [];
}

/** The observable at a multi-index of a broadcast (missing or size-1 axes repeat). */
export function observableAt(observables, shape, index) {
  const own = observablesShape(observables);
  const offset = index.length - own.length;
  let level = observables;
  for (let axis = 0; axis < own.length; axis += 1) {
    const i = own[axis] === 1 ? 0 : index[axis + offset] || 0;
    level = level[i];
  }
  return level;
}

/** All multi-indices of a shape, in C order. */
export function indices(shape) {
  const out = [];
  const size = shape.reduce((a, b) => a * b, 1);
  const index = new Array(shape.length).fill(0);
  for (let flat = 0; flat < size; flat += 1) {
    out.push([...index]);
    for (let axis = shape.length - 1; axis >= 0; axis -= 1) {
      index[axis] += 1;
      if (index[axis] < shape[axis]) break;
      index[axis] = 0;
    }
  }
  return out;
}
