// The object-writer thread: puts the objects the main thread hands it (their bytes transferred,
// not copied) with an ObjectStore of its own. The S3 client hashes every body (MD5, and SHA-256
// to sign it over plain HTTP) and sends it; here that happens off the server's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../errors';
import { ObjectStore } from './object-store';
import type { PutReply, PutRequest, WriterData } from './off-thread-writes';

const store = new ObjectStore((workerData as WriterData).s3);
const port = parentPort!;
port.on('message', (m: PutRequest) => {
  store.put(m.key, Buffer.from(m.body), { contentType: m.contentType }).then(
    () => port.postMessage({ id: m.id, ok: true } satisfies PutReply),
    (err: unknown) => port.postMessage({ id: m.id, ok: false, error: errorMessage(err) } satisfies PutReply),
  );
});
port.postMessage({ id: 0, ok: true } satisfies PutReply);
