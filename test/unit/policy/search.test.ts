import { describe, expect, it } from 'vitest';
import { parsePipelineSpec } from '../../../src/policy/spec-schema';
import { completeRun, finishTable, initialState, nextRun, startRun } from '../../../src/policy/search-table';
import {
  ashaBest,
  ashaNext,
  gridProposal,
  gridSize,
  proposeTrial,
  randomProposal,
  searchRungs,
  tpeProposal,
  rungEpochs,
  type AshaOptions,
  type AshaTrial,
  type SearchSpace,
} from '../../../src/policy/search';

const SPACE: SearchSpace = {
  hiddenUnits: [[32], [64, 32], [128, 64]],
  learningRate: { min: 1e-4, max: 1e-1, log: true },
  batchSize: [128, 256, 512],
  dropout: { min: 0, max: 0.5 },
};

describe('search proposals', () => {
  it('random: a trial is a function of the seed and its number only, inside the space', () => {
    expect(randomProposal(SPACE, 7, 12)).toEqual(randomProposal(SPACE, 7, 12));
    expect(randomProposal(SPACE, 7, 12)).not.toEqual(randomProposal(SPACE, 7, 13));
    expect(randomProposal(SPACE, 7, 12)).not.toEqual(randomProposal(SPACE, 8, 12));
    const draws = Array.from({ length: 2000 }, (_, i) => randomProposal(SPACE, 1, i));
    for (const d of draws) {
      expect(SPACE.hiddenUnits).toContainEqual(d.hiddenUnits);
      expect(d.learningRate as number).toBeGreaterThanOrEqual(1e-4);
      expect(d.learningRate as number).toBeLessThanOrEqual(1e-1);
      expect(d.dropout as number).toBeLessThanOrEqual(0.5);
    }
    // log-uniform: half the draws below the geometric middle (1e-2.5), not a sixth as uniform would put there
    const below = draws.filter((d) => (d.learningRate as number) < 10 ** -2.5).length / draws.length;
    expect(below).toBeGreaterThan(0.45);
    expect(below).toBeLessThan(0.55);
    for (const units of SPACE.hiddenUnits as unknown[])
      expect(
        draws.filter((d) => JSON.stringify(d.hiddenUnits) === JSON.stringify(units)).length,
      ).toBeGreaterThan(550);
  });

  it('grid: every point once per pass, in a fixed order', () => {
    const space: SearchSpace = { a: [1, 2], b: { min: 0, max: 1 }, c: ['x'] };
    expect(gridSize(space, 3)).toBe(6);
    const pass = Array.from({ length: 6 }, (_, i) => JSON.stringify(gridProposal(space, i)));
    expect(new Set(pass).size).toBe(6);
    expect(gridProposal(space, 6)).toEqual(gridProposal(space, 0));
    expect(
      pass
        .map((p) => JSON.parse(p) as { b: number })
        .map((p) => p.b)
        .sort(),
    ).toEqual([0, 0, 0.5, 0.5, 1, 1]);
  });

  it('refuses spaces it cannot draw from, naming the parameter', () => {
    const spec = (search: unknown) => () => parsePipelineSpec({ model: 'm', data: { source: 'x.csv', target: 'y' }, search });
    expect(spec({ space: { hiddenUnits: SPACE.hiddenUnits, learningRate: SPACE.learningRate, batchSize: SPACE.batchSize, l2: { min: 0, max: 0.01 } } })).not.toThrow();
    expect(spec({ space: {} })).toThrow(/spec field search.space: name at least one parameter to search/);
    expect(spec({ space: { learningRate: { min: 0, max: 1, log: true } } })).toThrow(/search.space.learningRate: a log range needs min > 0/);
    expect(spec({ space: { batchSize: [] } })).toThrow(/search.space.batchSize: .*>=1 items|search.space.batchSize: Too small/);
    expect(spec({ space: { l2: { min: 0.1, max: 0 } } })).toThrow(/search.space.l2: min must be <= max/);
    expect(spec({ space: { batchSize: [128, -1] } })).toThrow(/search.space.batchSize\[1\]: not a valid train.batchSize/);
    expect(spec({ space: { hiddenUnits: { min: 1, max: 2 } } })).toThrow(/search.space.hiddenUnits.min: not a valid train.hiddenUnits/);
    expect(spec({ space: { dropout: [0.1] } })).toThrow(/search.space/);
    expect(spec({ space: { learningRate: [0.1] }, metric: 'auc' })).toThrow(/search.metric/);
  });
});

const ASHA: AshaOptions = { minEpochs: 1, maxEpochs: 27, eta: 3, maximize: true };
const trial = (n: number, scores: number[], running = false, finished = false): AshaTrial => ({
  trial: n,
  scores,
  running,
  finished,
});

describe('ASHA', () => {
  it('rungs grow by η up to the maximum', () => {
    expect(rungEpochs(ASHA)).toEqual([1, 3, 9, 27]);
    expect(rungEpochs({ minEpochs: 2, maxEpochs: 10, eta: 3 })).toEqual([2, 6, 10]);
    expect(rungEpochs({ minEpochs: 8, maxEpochs: 8, eta: 3 })).toEqual([8]);
  });

  it('promotes the top 1/η of a rung as soon as they rank there, without waiting for the rung to fill', () => {
    expect(ashaNext([], ASHA)).toEqual({ kind: 'new', rung: 0, epochs: 1 });
    // two trials at rung 0: ⌊2/3⌋ = 0 may go up, so a new trial starts
    expect(ashaNext([trial(0, [0.5]), trial(1, [0.9])], ASHA)).toEqual({ kind: 'new', rung: 0, epochs: 1 });
    // the third arrives: the best of three goes up to 3 epochs
    const three = [trial(0, [0.5]), trial(1, [0.9]), trial(2, [0.7])];
    expect(ashaNext(three, ASHA)).toEqual({ kind: 'promote', trial: 1, rung: 1, epochs: 3 });
    // while it runs, nothing else of rung 0 ranks in the top third: a new trial
    expect(ashaNext([trial(0, [0.5]), trial(1, [0.9], true), trial(2, [0.7])], ASHA).kind).toBe('new');
    // once it reached rung 1 it is not promoted from rung 0 again
    expect(ashaNext([trial(0, [0.5]), trial(1, [0.9, 0.91]), trial(2, [0.7])], ASHA).kind).toBe('new');
    // a failed trial is never promoted; a NaN score ranks last
    expect(ashaNext([trial(0, [0.5]), trial(1, [0.9], false, true), trial(2, [0.7])], ASHA).kind).toBe('new');
    expect(ashaNext([trial(0, [Number.NaN]), trial(1, [0.2]), trial(2, [0.1])], ASHA)).toMatchObject({
      kind: 'promote',
      trial: 1,
    });
    // minimising: the lowest goes up
    expect(ashaNext(three, { ...ASHA, maximize: false })).toMatchObject({ kind: 'promote', trial: 0 });
  });

  it('prefers the highest rung with a promotable trial', () => {
    const trials = [
      ...Array.from({ length: 6 }, (_, i) => trial(i, [i / 10])),
      trial(6, [0.9, 0.8]),
      trial(7, [0.95, 0.85]),
      trial(8, [0.99, 0.7]),
    ];
    // rung 1 has 3 trials: the best (7, 0.85) goes to rung 2 before anything of rung 0
    expect(ashaNext(trials, ASHA)).toEqual({ kind: 'promote', trial: 7, rung: 2, epochs: 9 });
  });

  it('on a simulated search finds the best of the trials with a fraction of the epochs', () => {
    // a trial's score at e epochs: its quality, approached as epochs grow (the order is kept from the first rung on, mostly)
    const quality = Array.from(
      { length: 81 },
      (_, i) => randomProposal({ q: { min: 0, max: 1 } }, 3, i).q as number,
    );
    const score = (t: number, epochs: number) => quality[t]! * (1 - 0.5 / (1 + epochs));
    const trials: AshaTrial[] = [];
    let epochsSpent = 0;
    let started = 0;
    // one slot, so the simulation is sequential; the decisions are what is tested
    for (let step = 0; step < 10_000 && (started < 81 || ashaNext(trials, ASHA).kind === 'promote'); step++) {
      const d = ashaNext(trials, ASHA);
      if (d.kind === 'new') {
        if (started >= 81) break;
        trials.push(trial(started, [score(started, d.epochs)]));
        epochsSpent += d.epochs;
        started++;
      } else {
        const t = trials.find((x) => x.trial === d.trial)!;
        const before = rungEpochs(ASHA)[d.rung - 1]!;
        epochsSpent += d.epochs - before; // it continues from its own checkpoint
        trials[trials.indexOf(t)] = trial(t.trial, [...t.scores, score(t.trial, d.epochs)]);
      }
    }
    const best = ashaBest(trials, true)!;
    const trueBest = quality.indexOf(Math.max(...quality));
    expect(best.scores.length).toBe(4);
    expect(quality[best.trial]!).toBeGreaterThanOrEqual(quality[trueBest]! - 0.02);
    // full budget would be 81 × 27 epochs
    expect(epochsSpent).toBeLessThan((81 * 27) / 3);
  });

  it('best: the highest rung reached wins, then the score, then the lower trial number', () => {
    expect(ashaBest([], true)).toBeNull();
    expect(ashaBest([trial(0, [0.99]), trial(1, [0.5, 0.6])], true)?.trial).toBe(1);
    expect(ashaBest([trial(3, [0.5, 0.6]), trial(1, [0.5, 0.6])], true)?.trial).toBe(1);
    expect(ashaBest([trial(0, [0.5, 0.7]), trial(1, [0.5, 0.6])], false)?.trial).toBe(1);
  });
});

describe('TPE', () => {
  const space: SearchSpace = { learningRate: { min: 1e-4, max: 1, log: true }, hiddenUnits: [[16], [64, 32], [128, 64]] };
  // best at learningRate 0.003 and [64, 32]; higher is better
  const objective = (p: Record<string, unknown>): number =>
    1 - Math.abs(Math.log10(p.learningRate as number) - Math.log10(0.003)) / 4 - (JSON.stringify(p.hiddenUnits) === '[64,32]' ? 0 : 0.1);
  const run = (strategy: 'tpe' | 'random', n: number) => {
    const observed: { params: Record<string, unknown>; score: number }[] = [];
    for (let i = 0; i < n; i++) {
      const params = proposeTrial({ strategy, space, seed: 7, gridSteps: 3 }, i, observed, true);
      observed.push({ params, score: objective(params) });
    }
    return observed;
  };

  it('is random until it has `startup` observations, then a function of the seed, the index and the observations', () => {
    const observed = run('tpe', 12);
    for (let i = 0; i < 10; i++) expect(observed[i]!.params).toEqual(randomProposal(space, 7, i));
    expect(tpeProposal(space, 7, 12, observed, true)).toEqual(tpeProposal(space, 7, 12, observed, true));
    expect(tpeProposal(space, 7, 12, observed, true)).not.toEqual(tpeProposal(space, 7, 12, observed, false));
    const p = tpeProposal(space, 7, 12, observed, true);
    expect(p.learningRate as number).toBeGreaterThanOrEqual(1e-4);
    expect(p.learningRate as number).toBeLessThanOrEqual(1);
  });

  it('proposes better trials than random search once it has learnt the space', () => {
    const mean = (xs: { score: number }[]) => xs.reduce((a, b) => a + b.score, 0) / xs.length;
    const tpe = run('tpe', 40).slice(20);
    const random = run('random', 40).slice(20);
    expect(mean(tpe)).toBeGreaterThan(mean(random) + 0.05);
  });
});

describe('the trial table', () => {
  const spec = { parallelism: 2, strategy: 'random', seed: 1, space: { learningRate: [0.1, 0.01] }, asha: { minEpochs: 1, eta: 2 }, continueAsNewEvery: 100, gridSteps: 3 } as const;
  const result = (trial: number, rung: number, score: number, epochs: number) => ({
    trial, rung, score, bundleUri: `b${trial}`, bundleSha256: 'x',
    training: { backend: 'cpu', epochs, bestEpoch: epochs, resumedFromEpoch: null, samplesPerSecond: 1, history: [{ epoch: epochs, loss: 1, metrics: { valAuc: score } }] },
  });

  it('starts new trials while the budget lasts, promotes the rung leader, stops when stopped', () => {
    const rungs = searchRungs(spec, 4);
    expect(rungs).toEqual([1, 2, 4]);
    const state = initialState(2);
    const a = nextRun(state, spec, rungs, 'valAuc')!;
    startRun(state, a);
    const b = nextRun(state, spec, rungs, 'valAuc')!;
    startRun(state, b);
    expect([a.kind, b.kind, a.trial, b.trial]).toEqual(['new', 'new', 0, 1]);
    expect(nextRun(state, spec, rungs, 'valAuc')).toBeNull(); // budget spent, nothing to promote yet
    completeRun(state, result(0, 0, 0.6, 1), rungs, 'valAuc', 1);
    expect(nextRun(state, spec, rungs, 'valAuc')).toBeNull(); // 1 of 1 reached: ⌊1/2⌋ = 0 go up
    completeRun(state, result(1, 0, 0.7, 1), rungs, 'valAuc', 1);
    expect(state.best).toMatchObject({ trial: 1, score: 0.7 });
    expect(nextRun(state, spec, rungs, 'valAuc')).toEqual({ kind: 'promote', trial: 1, rung: 1, epochs: 2 });
    state.stop = { by: 'x', at: 'now' };
    expect(nextRun(state, spec, rungs, 'valAuc')).toBeNull();
    finishTable(state);
    expect(state.trials.map((t) => t.status)).toEqual(['pruned', 'pruned']);
    expect(state.epochsSpent).toBe(2);
  });

  it('a trial that early stopping ended short of its rung is completed, not promoted again', () => {
    const rungs = searchRungs(spec, 4);
    const state = initialState(1);
    startRun(state, nextRun(state, spec, rungs, 'valAuc')!);
    completeRun(state, result(0, 0, 0.5, 1), rungs, 'valAuc', 1);
    state.trials[0]!.status = 'running';
    completeRun(state, result(0, 1, 0.55, 1), rungs, 'valAuc', 2);
    expect(state.trials[0]).toMatchObject({ status: 'completed', scores: [0.5, 0.55] });
  });
});
