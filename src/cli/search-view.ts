// How a hyper-parameter search looks in the terminal: one summary line for progress, and the trial
// table for `kaizen pipeline status` and the result.
import type { SearchStatus } from '../policy/search-table';
import { fmtNum, table } from './output';

const fmtParam = (v: unknown): string => (typeof v === 'number' ? String(Number(v.toPrecision(3))) : JSON.stringify(v));

/** `search: 7/20 trials, 2 running, 11 epochs; best trial 3 valAuc 0.6610` */
export function searchLine(s: SearchStatus): string {
  const best = s.best ? `best trial ${s.best.trial} ${s.metric} ${fmtNum(s.best.score, 4)}` : 'no result yet';
  const stop = s.stop ? `, stopped by ${s.stop.by}` : '';
  return `search: ${s.trials.length}/${s.budget} trials, ${s.running} running, ${s.epochsSpent} epochs; ${best}${stop}`;
}

/** Every trial: number, status, rung, epochs, score per rung, parameters. */
export function formatTrials(s: SearchStatus): string {
  const names = [...new Set(s.trials.flatMap((t) => Object.keys(t.params)))].sort();
  const rows = [['  trial', 'status', 'rung', 'epochs', `${s.metric} by rung`, ...names]];
  for (const t of s.trials) {
    rows.push([
      `  ${t.trial}${s.best?.trial === t.trial ? ' *' : ''}`,
      t.status,
      `${t.rung}/${s.rungs.length - 1}`,
      String(t.epochs),
      t.scores.map((v) => fmtNum(v, 4)).join(' → ') || '-',
      ...names.map((n) => (n in t.params ? fmtParam(t.params[n]) : '')),
    ]);
  }
  const head = `  ${s.strategy} search, rungs at ${s.rungs.join('/')} epochs${s.eta ? `, η ${s.eta}` : ''}, parallelism ${s.parallelism}; ${searchLine(s)}`;
  return [head, table(rows)].join('\n');
}
