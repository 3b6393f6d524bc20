import { describe, expect, it } from 'vitest';
import {
  ashaBest,
  ashaNext,
  checkSpace,
  gridProposal,
  gridSize,
  randomProposal,
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
    expect(checkSpace(SPACE)).toEqual([]);
    expect(checkSpace({})).toEqual(['search.space: name at least one parameter']);
    expect(checkSpace({ lr: { min: 0, max: 1, log: true }, units: [], d: { min: 1, max: 0 } })).toEqual([
      'search.space.lr: a log range needs min > 0, got 0',
      'search.space.units: a list needs at least one value',
      'search.space.d: needs finite min <= max, got min 1 and max 0',
    ]);
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
