// The entry of the object-writer thread (off-thread-writes.ts): TypeScript is compiled on the fly in
// this thread too, as bin/kaizen.js does in the main one.
import { register } from 'tsx/esm/api';

register();
await import('./put-worker.ts');
