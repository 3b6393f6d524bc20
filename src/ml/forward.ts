// A plain-JavaScript forward pass of a trained Kaizen MLP, for serving. tfjs spends about 10 µs of
// bookkeeping per operation whatever the batch (engine scopes, kernel lookup, tensor tracking); a
// micro-batch of 50 rows costs ~500 µs through LayersModel.predict and ~60 µs here. Training and
// bulk scoring keep tfjs; a loaded bundle (immutable weights) predicts through this.
//
// The graph is read from the model itself, never assumed: inputs `numeric` and `cat_<i>`, one
// OneHot per categorical input (optionally followed by a bias-free linear `embed_<i>`), a
// concatenation in input order, relu dense layers, and a sigmoid/softmax/linear output. Anything
// else compiles to null and tfjs serves. A compiled pass is checked against tfjs on probe rows
// before it is used; a difference above 1e-5 also leaves tfjs serving.
//
// The first dense layer after the features is folded: a one-hot times its kernel is a row lookup,
// and an embedding times it is a [depth × units] table computed once.
import * as tf from '@tensorflow/tfjs';
import type { EncodedFeatures } from './dataset';
import { predictEncoded } from './model';

export interface CompiledForward {
  /** Outputs rows × units, as LayersModel.predict would give them. */
  (encoded: EncodedFeatures): Float32Array;
  readonly units: number;
}

interface Dense {
  inputs: number;
  units: number;
  kernel: Float32Array; // [inputs × units], row-major as tfjs keeps it
  bias: Float32Array | null;
  activation: string;
}

const ACTIVATIONS = new Set(['relu', 'sigmoid', 'softmax', 'linear']);

/** Folded category tables larger than this (8 bytes each: 128 MiB) leave the model to tfjs. */
export const MAX_TABLE_FLOATS = 16 * 1024 * 1024;

/** The largest output difference from tfjs a compiled pass may show on the probe rows. */
export const FORWARD_TOLERANCE = 1e-5;

type LayerLike = tf.layers.Layer & { inboundNodes: { inboundLayers: tf.layers.Layer[] }[] };

function inbound(layer: tf.layers.Layer): tf.layers.Layer[] {
  return (layer as LayerLike).inboundNodes[0]?.inboundLayers ?? [];
}

function denseOf(layer: tf.layers.Layer): Dense | null {
  if (layer.getClassName() !== 'Dense') return null;
  const config = layer.getConfig() as { units?: number; activation?: string; useBias?: boolean };
  const activation = config.activation ?? 'linear';
  if (!ACTIVATIONS.has(activation)) return null;
  const weights = layer.getWeights();
  const kernel = weights[0];
  if (!kernel || kernel.shape.length !== 2) return null;
  const [inputs, units] = kernel.shape as [number, number];
  const bias = config.useBias === false ? null : weights[1];
  if (bias !== null && (!bias || bias.size !== units)) return null;
  return {
    inputs,
    units,
    kernel: kernel.dataSync() as Float32Array,
    bias: bias ? (bias.dataSync() as Float32Array) : null,
    activation,
  };
}

/** A [depth × units] table: row d is what category d adds to the first dense layer's sums. */
interface CategoryTable {
  depth: number;
  table: Float64Array;
}

/**
 * Compiles the model's forward pass, or returns null (with why) when the graph is not one this
 * module knows or the compiled pass disagrees with tfjs.
 */
export function compileForward(
  model: tf.LayersModel,
  options: { maxTableFloats?: number } = {},
): { forward: CompiledForward | null; reason: string | null } {
  try {
    const built = build(model, options.maxTableFloats ?? MAX_TABLE_FLOATS);
    if (typeof built === 'string') return { forward: null, reason: built };
    const { forward } = built;
    const diff = probeDifference(model, built);
    if (!(diff <= FORWARD_TOLERANCE)) {
      return { forward: null, reason: `the compiled pass differs from tfjs by ${diff} on probe rows` };
    }
    return { forward, reason: null };
  } catch (err) {
    return { forward: null, reason: `compiling failed: ${(err as Error).message}` };
  }
}

interface Built {
  forward: CompiledForward;
  numericWidth: number;
  depths: number[];
}

function build(model: tf.LayersModel, maxTableFloats: number): Built | string {
  const inputNames = model.inputLayers.map((l) => l.name);
  const hasNumeric = inputNames[0] === 'numeric';
  const catInputs = inputNames.slice(hasNumeric ? 1 : 0);
  if (catInputs.some((n, i) => n !== `cat_${i}`)) return `unexpected inputs ${inputNames.join(', ')}`;
  const numericWidth = hasNumeric ? ((model.inputs[0]!.shape[1] as number | null) ?? -1) : 0;
  if (numericWidth < 0) return 'the numeric input has no fixed width';

  // each branch: the layer whose output enters the concatenation
  const branchEnds: tf.layers.Layer[] = [];
  const categorical: { depth: number; embed: Dense | null }[] = [];
  if (hasNumeric) branchEnds.push(model.getLayer('numeric'));
  for (let i = 0; i < catInputs.length; i++) {
    const onehot = model.getLayer(`onehot_${i}`);
    if (onehot.getClassName() !== 'KaizenOneHot' || inbound(onehot)[0]?.name !== `cat_${i}`) {
      return `categorical input ${i} is not one-hot encoded`;
    }
    const depth = (onehot.getConfig() as { depth?: number }).depth;
    if (typeof depth !== 'number' || depth < 1) return `onehot_${i} has no depth`;
    let embed: Dense | null = null;
    let end: tf.layers.Layer = onehot;
    const embedLayer = model.layers.find((l) => l.name === `embed_${i}`);
    if (embedLayer) {
      embed = denseOf(embedLayer);
      if (!embed || embed.bias !== null || embed.activation !== 'linear' || embed.inputs !== depth) {
        return `embed_${i} is not a bias-free linear embedding`;
      }
      if (inbound(embedLayer)[0]?.name !== onehot.name) return `embed_${i} does not follow onehot_${i}`;
      end = embedLayer;
    }
    categorical.push({ depth, embed });
    branchEnds.push(end);
  }
  if (branchEnds.length === 0) return 'the model has no inputs';

  // the dense stack after the features, in order
  let features: tf.layers.Layer;
  if (branchEnds.length === 1) features = branchEnds[0]!;
  else {
    features = model.getLayer('features');
    const order = inbound(features).map((l) => l.name);
    if (features.getClassName() !== 'Concatenate' || order.join() !== branchEnds.map((l) => l.name).join()) {
      return 'the features are not concatenated in input order';
    }
  }
  const stack: Dense[] = [];
  let previous = features.name;
  for (let k = 1; ; k++) {
    const layer = model.layers.find((l) => l.name === `hidden_${k}`);
    if (!layer) break;
    const dense = denseOf(layer);
    if (!dense || dense.activation !== 'relu' || inbound(layer)[0]?.name !== previous) {
      return `hidden_${k} is not a relu dense layer on ${previous}`;
    }
    stack.push(dense);
    previous = layer.name;
  }
  const outputLayer = model.getLayer('output');
  const output = denseOf(outputLayer);
  if (!output || inbound(outputLayer)[0]?.name !== previous || model.outputLayers[0]?.name !== 'output') {
    return 'the output is not a dense layer at the end of the stack';
  }
  stack.push(output);
  const layerNames = new Set(['numeric', 'features', 'output', ...catInputs]);
  for (let i = 0; i < catInputs.length; i++) layerNames.add(`onehot_${i}`).add(`embed_${i}`);
  for (let k = 1; k < stack.length; k++) layerNames.add(`hidden_${k}`);
  const extra = model.layers.find((l) => !layerNames.has(l.name));
  if (extra) return `unexpected layer ${extra.name} (${extra.getClassName()})`;

  // fold the first dense layer's kernel into per-category tables
  const first = stack[0]!;
  const width = numericWidth + categorical.reduce((a, c) => a + (c.embed ? c.embed.units : c.depth), 0);
  if (first.inputs !== width) return `the first dense layer takes ${first.inputs} inputs, the features are ${width} wide`;
  const h = first.units;
  const tableFloats = categorical.reduce((a, c) => a + c.depth * h, 0);
  if (tableFloats > maxTableFloats) {
    return `the category tables would hold ${tableFloats} numbers (at most ${maxTableFloats})`;
  }
  const tables: CategoryTable[] = [];
  let offset = numericWidth;
  for (const c of categorical) {
    const table = new Float64Array(c.depth * h);
    if (!c.embed) {
      for (let d = 0; d < c.depth; d++) {
        for (let j = 0; j < h; j++) table[d * h + j] = first.kernel[(offset + d) * h + j]!;
      }
      offset += c.depth;
    } else {
      const e = c.embed;
      for (let d = 0; d < c.depth; d++) {
        for (let k = 0; k < e.units; k++) {
          const v = e.kernel[d * e.units + k]!;
          if (v === 0) continue;
          const row = (offset + k) * h;
          for (let j = 0; j < h; j++) table[d * h + j]! += v * first.kernel[row + j]!;
        }
      }
      offset += e.units;
    }
    tables.push({ depth: c.depth, table });
  }
  const rest = stack.slice(1);
  const units = stack[stack.length - 1]!.units;
  const widest = Math.max(...stack.map((d) => d.units));
  const bufferA = new Float64Array(widest);
  const bufferB = new Float64Array(widest);
  // float64 copies: the sums run in float64, and one element type keeps the loops monomorphic
  const firstBias = first.bias ? Float64Array.from(first.bias) : new Float64Array(h);
  const firstKernel = Float64Array.from(first.kernel);
  const layers = rest.map((d) => ({
    units: d.units,
    inputs: d.inputs,
    kernel: Float64Array.from(d.kernel),
    bias: d.bias ? Float64Array.from(d.bias) : new Float64Array(d.units),
    activation: d.activation,
  }));

  const forward = (encoded: EncodedFeatures): Float32Array => {
    if (encoded.numericNames.length !== numericWidth || encoded.categorical.length !== tables.length) {
      throw new Error(
        `the encoded features have ${encoded.numericNames.length} numeric and ${encoded.categorical.length} categorical columns; the model takes ${numericWidth} and ${tables.length}`,
      );
    }
    const rows = encoded.rows;
    const out = new Float32Array(rows * units);
    const numeric = encoded.numeric;
    for (let r = 0; r < rows; r++) {
      let x = bufferA;
      let y = bufferB;
      // first layer: bias + numeric · kernel + the categories' table rows
      for (let j = 0; j < h; j++) x[j] = firstBias[j]!;
      for (let n = 0; n < numericWidth; n++) {
        const v = numeric[r * numericWidth + n]!;
        if (v === 0) continue;
        addScaled(x, v, firstKernel, n * h, h);
      }
      for (let c = 0; c < tables.length; c++) {
        const t = tables[c]!;
        const d = encoded.categorical[c]![r]!;
        if (d < 0 || d >= t.depth) continue; // out of range: an all-zero one-hot, as tf.oneHot gives
        addScaled(x, 1, t.table, d * h, h);
      }
      activate(first.activation, x, h);
      for (let k = 0; k < layers.length; k++) {
        const layer = layers[k]!;
        const u = layer.units;
        const w = layer.inputs;
        const kernel = layer.kernel;
        const bias = layer.bias;
        // y = bias + Σ x[i]·kernel[i, :], skipping the inputs relu left at zero (about half)
        for (let j = 0; j < u; j++) y[j] = bias[j]!;
        for (let i = 0; i < w; i++) {
          const v = x[i]!;
          if (v === 0) continue;
          addScaled(y, v, kernel, i * u, u);
        }
        activate(layer.activation, y, u);
        const swap = x;
        x = y;
        y = swap;
      }
      for (let j = 0; j < units; j++) out[r * units + j] = x[j]!;
    }
    return out;
  };
  return {
    forward: Object.assign(forward, { units }),
    numericWidth,
    depths: categorical.map((c) => c.depth),
  };
}

/** y[0..n) += v · w[from..from+n), unrolled by four (V8 does not vectorise; this halves the loop overhead). */
function addScaled(y: Float64Array, v: number, w: Float64Array, from: number, n: number): void {
  let j = 0;
  for (; j + 3 < n; j += 4) {
    y[j] = y[j]! + v * w[from + j]!;
    y[j + 1] = y[j + 1]! + v * w[from + j + 1]!;
    y[j + 2] = y[j + 2]! + v * w[from + j + 2]!;
    y[j + 3] = y[j + 3]! + v * w[from + j + 3]!;
  }
  for (; j < n; j++) y[j] = y[j]! + v * w[from + j]!;
}

function activate(kind: string, x: Float64Array, n: number): void {
  if (kind === 'relu') {
    for (let j = 0; j < n; j++) if (!(x[j]! > 0)) x[j] = 0;
  } else if (kind === 'sigmoid') {
    for (let j = 0; j < n; j++) x[j] = 1 / (1 + Math.exp(-x[j]!));
  } else if (kind === 'softmax') {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[j]!);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += x[j] = Math.exp(x[j]! - max);
    for (let j = 0; j < n; j++) x[j]! /= sum;
  }
}

/** Largest absolute difference between the compiled pass and tfjs on seeded probe rows. */
function probeDifference(model: tf.LayersModel, { forward, numericWidth, depths }: Built): number {
  const rows = 64;
  let seed = 12345;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  // standardised numerics, mostly within ±3, and every category (the last is out of vocabulary)
  const numeric = new Float32Array(rows * numericWidth).map(() => (next() - 0.5) * 6);
  const categorical = depths.map((d) => Int32Array.from({ length: rows }, () => Math.floor(next() * d)));
  const encoded: EncodedFeatures = {
    rows,
    numericNames: Array.from({ length: numericWidth }, (_, i) => `n${i}`),
    numeric,
    categoricalNames: depths.map((_, i) => `c${i}`),
    categorical,
  };
  const want = predictEncoded(model, encoded);
  const got = forward(encoded);
  if (got.length !== want.length) return Infinity;
  let diff = 0;
  for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
  return Number.isNaN(diff) ? Infinity : diff;
}
