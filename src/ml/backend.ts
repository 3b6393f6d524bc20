// Chooses the TensorFlow.js backend: tfjs-node when it is installed (an optional dependency whose
// install downloads libtensorflow), else WebAssembly loaded from node_modules on disk, else the
// pure-JS cpu backend. The choice is process-wide (tfjs has one engine) and recorded in lineage.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { KaizenError, errorMessage } from '../errors';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: BackendName;
  tfjsVersion: string;
  backendVersion?: string;
  /** Backend specifics worth recording: wasm binary flavour and thread count. */
  details?: Record<string, string | number | boolean>;
}

/** Preference order when nothing is forced. */
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

const TFJS_NODE = '@tensorflow/tfjs-node';

// One availability probe per backend per process: a failed native import or wasm init is not retried.
const probes = new Map<BackendName, Promise<BackendInfo>>();
let current: BackendInfo | null = null;
// Serialises selections so two callers never interleave tf.setBackend calls.
let queue: Promise<unknown> = Promise.resolve();

/**
 * Makes `preferred` (or the best available backend) the active tfjs backend and returns what is
 * in use. Idempotent: calling it again with the same argument is cheap and returns the same answer.
 * A forced backend that cannot be used is an error; without a preference it falls back in
 * BACKEND_ORDER.
 */
export function selectBackend(preferred?: BackendName): Promise<BackendInfo> {
  const next = queue.then(() => select(preferred));
  queue = next.catch(() => undefined);
  return next;
}

/** The backend chosen by the last successful selectBackend call, if any. */
export function currentBackend(): BackendInfo | null {
  return current;
}

/** Selects the best available backend only if none was chosen yet (for loaders and predictors). */
export async function ensureBackend(): Promise<BackendInfo> {
  return current ?? selectBackend();
}

async function select(preferred: BackendName | undefined): Promise<BackendInfo> {
  if (preferred !== undefined) {
    if (!BACKEND_ORDER.includes(preferred)) {
      throw new KaizenError(
        'TrainingFailed',
        `train.backend "${String(preferred)}" is not one of ${BACKEND_ORDER.join(', ')}`,
      );
    }
    try {
      return await activate(preferred);
    } catch (err) {
      throw new KaizenError(
        'TrainingFailed',
        `train.backend "${preferred}" is not available: ${errorMessage(err)}`,
      );
    }
  }
  const failures: string[] = [];
  for (const name of BACKEND_ORDER) {
    try {
      return await activate(name);
    } catch (err) {
      failures.push(`${name}: ${errorMessage(err)}`);
    }
  }
  throw new KaizenError('TrainingFailed', `no TensorFlow.js backend is usable (${failures.join('; ')})`);
}

async function activate(name: BackendName): Promise<BackendInfo> {
  let probe = probes.get(name);
  if (!probe) {
    probe = probeBackend(name);
    probes.set(name, probe);
  }
  const info = await probe;
  if (tf.getBackend() !== name && !(await tf.setBackend(name))) {
    throw new Error(`tf.setBackend('${name}') failed`);
  }
  current = info;
  return info;
}

async function probeBackend(name: BackendName): Promise<BackendInfo> {
  const tfjsVersion = tf.version.tfjs;
  switch (name) {
    case 'tensorflow': {
      // A variable specifier: the package is optional and absent from most machines.
      const specifier: string = TFJS_NODE;
      const mod = (await import(specifier)) as { version?: Record<string, string> };
      if (!(await tf.setBackend('tensorflow'))) throw new Error('the tensorflow backend did not initialise');
      verify();
      return { name, tfjsVersion, backendVersion: mod.version?.['tfjs-node'] ?? tfjsVersion };
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dist = wasmDistDir();
      // Load the binaries from disk; never fetch. Node has no wasm threads in tfjs 4.x, so the
      // simd (or plain) single-threaded binary is used.
      wasm.setWasmPaths(dist);
      if (!(await tf.setBackend('wasm'))) throw new Error(`the wasm backend did not initialise from ${dist}`);
      verify();
      const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
      return {
        name,
        tfjsVersion,
        backendVersion: wasm.version_wasm,
        details: {
          binary: simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm',
          simd,
          threads: wasm.getThreadsCount(),
        },
      };
    }
    case 'cpu': {
      if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise');
      // tfjs prints an "install tfjs-node" banner on first use; the choice is recorded instead.
      (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
      verify();
      return { name, tfjsVersion, backendVersion: tf.version['tfjs-backend-cpu'] };
    }
  }
}

function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  const dist =
    path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
  for (const file of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) {
    if (!existsSync(dist + file)) throw new Error(`${dist + file} is missing`);
  }
  return dist;
}

/** A small exact computation: a backend that loads but computes wrongly is not usable. */
function verify(): void {
  const got = tf.tidy(() =>
    tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])).dataSync(),
  );
  const want = [19, 22, 43, 50];
  if (got.length !== 4 || want.some((v, i) => got[i] !== v)) {
    throw new Error(`self-test returned [${Array.from(got).join(', ')}] instead of [${want.join(', ')}]`);
  }
}
