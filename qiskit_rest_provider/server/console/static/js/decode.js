// Decoding of the API's type-tagged JSON (RuntimeEncoder): ndarrays are base64 of zlib of .npy
// bytes, inflated with the browser's own DecompressionStream; BitArrays are counted here.

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

export function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** zlib-inflate `bytes` ("deflate" is the zlib format in the Compression Streams API). */
export async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const READERS = {
  f: { 4: "getFloat32", 8: "getFloat64" },
  i: { 1: "getInt8", 2: "getInt16", 4: "getInt32", 8: "getBigInt64" },
  u: { 1: "getUint8", 2: "getUint16", 4: "getUint32", 8: "getBigUint64" },
  b: { 1: "getUint8" },
};

/** The .npy header of `bytes`: {descr, fortran, shape, offset}. */
export function npyHeader(bytes) {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((byte, i) => bytes[i] !== byte)) {
    throw new Error("not a .npy array");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const length = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder("latin1").decode(bytes.subarray(start, start + length));
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shape) throw new Error("unreadable .npy header");
  return {
    descr: descr[1],
    fortran: fortran ? fortran[1] === "True" : false,
    shape: shape[1]
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part)
      .map(Number),
    offset: start + length,
  };
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
  const { descr, fortran, shape, offset } = npyHeader(bytes);
  const size = shape.reduce((a, b) => a * b, 1);
  const little = descr[0] !== ">";
  const kind = descr[1];
  const width = Number(descr.slice(2));
  const body = bytes.slice(offset); // a copy: aligned, and independent of the source
  let data;
  if (descr === "|u1" || descr === "<u1") {
    data = body.subarray(0, size);
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

/** Decode an ndarray wrapper's value (base64 .npy, or a plain JSON list). */
export async function decodeNdarray(value) {
  if (typeof value === "string") return parseNpy(await inflate(base64Bytes(value)));
  return new NdArray("object", nestedShape(value), [value].flat(Infinity));
}

/** Decode type-tagged JSON: ndarrays become NdArray, other wrappers Tagged, dates strings. */
export async function decodeTagged(value) {
  if (Array.isArray(value)) return Promise.all(value.map(decodeTagged));
  if (!value || typeof value !== "object") return value;
  if (typeof value.__type__ === "string" && "__value__" in value) {
    const type = value.__type__;
    const inner = value.__value__;
    if (type === "ndarray") return decodeNdarray(inner);
    if (type === "datetime") return inner;
    if (type === "complex") return { re: inner[0], im: inner[1] };
    if (type === "QuantumCircuit" || type === "Parameter" || type === "Instruction") {
      return new Tagged(type, inner); // QPY: binary, shown as such
    }
    return new Tagged(type, await decodeTagged(inner));
  }
  const out = {};
  const entries = await Promise.all(
    Object.entries(value).map(async ([key, item]) => [key, await decodeTagged(item)]),
  );
  for (const [key, item] of entries) out[key] = item;
  return out;
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
