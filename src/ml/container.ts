// One binary layout for checkpoints and model bundles, so each is a single object to upload:
//   magic (4 ASCII bytes) | u32 LE format version | u32 LE header length | header JSON (UTF-8)
//   | zero padding to 4 bytes | tensor blob (little-endian) | sha256 of everything before it (32 bytes)
// The header lists each tensor's name, dtype, shape and byte offset in the blob. The trailing
// digest makes any flipped byte detectable without an external hash.
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { KaizenError } from '../errors';

export type TensorData = Float32Array | Int32Array;

export interface NamedTensor {
  name: string;
  shape: number[];
  data: TensorData;
}

export interface TensorEntry {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  offset: number;
  bytes: number;
}

export interface DecodedContainer<H> {
  version: number;
  header: H;
  tensors: Map<string, NamedTensor>;
}

const DIGEST_BYTES = 32;
const PREFIX_BYTES = 12;

export function encodeContainer(
  magic: string,
  version: number,
  header: object,
  tensors: readonly NamedTensor[],
): Buffer {
  if (endianness() !== 'LE')
    throw new Error('Kaizen model files are little-endian; this machine is big-endian');
  const entries: TensorEntry[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`duplicate tensor name ${t.name}`);
    seen.add(t.name);
    const bytes = t.data.byteLength;
    entries.push({
      name: t.name,
      dtype: t.data instanceof Int32Array ? 'int32' : 'float32',
      shape: t.shape,
      offset,
      bytes,
    });
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify({ ...header, tensors: entries }), 'utf8');
  const pad = (4 - ((PREFIX_BYTES + json.length) % 4)) % 4;
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.write(magic, 0, 4, 'ascii');
  prefix.writeUInt32LE(version, 4);
  prefix.writeUInt32LE(json.length + pad, 8);
  const parts: Buffer[] = [prefix, json, Buffer.alloc(pad, 0x20)];
  for (const t of tensors) parts.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/** Parses and verifies a container; any mismatch is an ArtifactIntegrity error naming `what`. */
export function decodeContainer<H>(buf: Uint8Array, magic: string, what: string): DecodedContainer<H> {
  const fail = (why: string): never => {
    throw new KaizenError('ArtifactIntegrity', `${what} is corrupt or not a Kaizen file: ${why}`);
  };
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < PREFIX_BYTES + DIGEST_BYTES) fail(`only ${b.length} bytes`);
  if (b.toString('ascii', 0, 4) !== magic) fail(`expected magic ${magic}`);
  const bodyEnd = b.length - DIGEST_BYTES;
  const digest = createHash('sha256').update(b.subarray(0, bodyEnd)).digest();
  if (!digest.equals(b.subarray(bodyEnd))) fail('its embedded sha256 does not match its contents');
  const version = b.readUInt32LE(4);
  const headerBytes = b.readUInt32LE(8);
  const blobStart = PREFIX_BYTES + headerBytes;
  if (blobStart > bodyEnd) fail('header length out of range');
  let header: H & { tensors?: TensorEntry[] };
  try {
    header = JSON.parse(b.toString('utf8', PREFIX_BYTES, blobStart)) as H & { tensors?: TensorEntry[] };
  } catch (err) {
    return fail(`header is not JSON (${(err as Error).message})`);
  }
  const tensors = new Map<string, NamedTensor>();
  for (const e of header.tensors ?? []) {
    const start = blobStart + e.offset;
    if (e.offset < 0 || start + e.bytes > bodyEnd || e.bytes % 4 !== 0) fail(`tensor ${e.name} out of range`);
    const size = e.shape.reduce((a, d) => a * d, 1);
    if (size * 4 !== e.bytes) fail(`tensor ${e.name} has ${e.bytes} bytes for shape [${e.shape.join(', ')}]`);
    // Copy into a fresh, aligned buffer: tensors must not alias the file buffer.
    const copy = new Uint8Array(e.bytes);
    copy.set(b.subarray(start, start + e.bytes));
    const data = e.dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
    tensors.set(e.name, { name: e.name, shape: e.shape, data });
  }
  return { version, header, tensors };
}
