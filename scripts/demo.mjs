#!/usr/bin/env node
// The demo: start the local stack, run the flights-delay pipeline on real data, then roll a second
// model out as a canary under replayed traffic with feedback; print the summaries and leave the
// stack running for the Temporal UI.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const kaizen = path.join(root, 'bin', 'kaizen.js');
const started = Date.now();

function step(title, args) {
  console.log(`\n== ${title}`);
  const res = spawnSync(process.execPath, [kaizen, ...args], { stdio: 'inherit', cwd: root });
  if (res.status !== 0) {
    console.error(`\ndemo: "kaizen ${args.join(' ')}" failed (exit ${res.status}); logs are in ${path.join(process.env.KAIZEN_HOME ?? path.join(root, '.kaizen'), 'logs')}`);
    process.exit(res.status ?? 1);
  }
}

step('Starting the local stack (Temporal + UI, MinIO, workers)', ['dev', 'up']);
step('Running the pipeline on flights-3m.parquet, January 2001 (target: delay > 15 min)', [
  'pipeline',
  'run',
  path.join(root, 'examples', 'flights-delay.json'),
  '--wait',
  '--approve',
  'auto',
]);

// A second model, trained on the next month, rolls out as a canary while held-out rows (with
// their labels) are replayed against production, so the analysis has real traffic and feedback.
const canaryId = `flights-delay-canary-${Date.now().toString(36)}`;
step('Training the next model (mid-January to mid-February) and rolling it out as a canary', [
  'pipeline',
  'run',
  path.join(root, 'examples', 'flights-delay-canary.json'),
  '--approve',
  'auto',
  '--id',
  canaryId,
]);
step('Replaying held-out January flights, with their labels, against production until the rollout ends', [
  'replay',
  'flights-delay',
  '--rate',
  '40',
  '--until-workflow',
  canaryId,
]);
step('The second pipeline: canary steps and decision', ['pipeline', 'status', canaryId]);
console.log(`\nDemo finished in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
console.log('The stack is still running: Temporal UI at http://127.0.0.1:8233, MinIO console at http://127.0.0.1:9001.');
console.log('Try: npx kaizen models list flights-delay   |   npx kaizen dev status');
console.log('Stop it with: npx kaizen dev down');
