import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { searchTrial } from './search-trial';
import { extendSignal, searchStatusQuery, stopSearchSignal } from './definitions';
import { checkSearchInput, invalidInput } from '../src/policy/inputs';
import { defaultSearchMetric, searchMetricsOf, searchRungs, searchBudget } from '../src/policy/search';
import {
  completeRun,
  failRun,
  finishTable,
  initialState,
  nextRun,
  searchStatus,
  startRun,
  stopRun,
  trialWorkflowId,
  type NextRun,
  type SearchInput,
  type SearchResult,
} from '../src/policy/search-table';
import { TASK_QUEUES } from '../src/types';

/** Most trials one `extend` may add. */
const MAX_EXTEND = 10_000;

/** The failure at the bottom of a child's failure chain (child → activity → application). */
function rootFailure(err: unknown): { type: string; message: string } {
  let e = err as { cause?: unknown; type?: string; message?: string } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return { type: e?.type ?? 'Error', message: e?.message ?? String(err) };
}

/**
 * Asynchronous successive halving over the spec's search space. At most `parallelism` child runs
 * at once; each free slot promotes a paused trial that ranks in the top 1/η of its rung, or starts
 * the next trial (proposed from the seed, so a replay proposes the same). Every
 * `continueAsNewEvery` child runs it drains its running trials and continues-as-new with the trial
 * table. Signals: `extend` {"trials": n, "by"}, `stop` {"by", "reason"}. Query: `status`.
 */
export async function hyperparameterSearch(raw: SearchInput): Promise<SearchResult> {
  const input = checkSearchInput(raw);
  const { workflowId: searchId } = workflowInfo();
  const spec = input.search;
  const metric = spec.metric ?? defaultSearchMetric(input.task);
  if (!searchMetricsOf(input.task).includes(metric)) {
    throw invalidInput(`search.metric ${metric} is not reported for a ${input.task} model; use one of ${searchMetricsOf(input.task).join(', ')}`);
  }
  const rungs = searchRungs(spec, input.train.epochs);
  const state = input.state ? { ...input.state, coordinatorRuns: input.state.coordinatorRuns + 1 } : initialState(searchBudget(spec));
  let done = false;
  let changed = false;
  const running = new Map<number, CancellationScope>();
  setHandler(searchStatusQuery, () => searchStatus(searchId, spec, state, rungs, metric, done), {
    description: 'Every trial: parameters, rung, score per rung, epochs, status; the best so far.',
  });

  const refuse = (signal: string, reason: string): void => {
    state.invalidSignals.push({ at: new Date(Date.now()).toISOString(), signal, reason });
  };
  setHandler(
    extendSignal,
    (payload) => {
      const n = payload?.trials;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_EXTEND) {
        return refuse('extend', `extend ignored: "trials" must be an integer from 1 to ${MAX_EXTEND}, e.g. {"trials": 10, "by": "alice"}; got ${JSON.stringify(n)}`);
      }
      if (state.stop) return refuse('extend', `extend ignored: the search was stopped by ${state.stop.by}`);
      state.budget += n;
      changed = true;
    },
    { description: 'Add trials: {"trials": 10, "by": "your name"}. Invalid ones are listed in the status.' },
  );
  setHandler(
    stopSearchSignal,
    (payload) => {
      if (state.stop) return;
      const by = typeof payload?.by === 'string' && payload.by.trim() ? payload.by.trim() : 'unknown';
      state.stop = { by, at: new Date(Date.now()).toISOString(), ...(typeof payload?.reason === 'string' ? { reason: payload.reason } : {}) };
      for (const scope of running.values()) scope.cancel();
      changed = true;
    },
    { description: 'Finish now with the best trial so far (running trials are cancelled): {"by": "your name", "reason": "why"}.' },
  );

  let cancelled: unknown = null;
  let runsHere = 0;
  const describe = (): void => {
    const b = state.best;
    setCurrentDetails(
      `search: ${state.trials.length}/${state.budget} trials, ${running.size} running, ${state.epochsSpent} epochs; ` +
        `best ${b ? `trial ${b.trial} ${metric} ${b.score.toFixed(4)}` : 'none yet'}. Signals: extend {"trials": n}, stop {"by"}`,
    );
  };
  const launch = (run: NextRun): void => {
    startRun(state, run);
    runsHere++;
    const t = state.trials[run.trial]!;
    const scope = new CancellationScope();
    running.set(run.trial, scope);
    scope
      .run(() =>
        executeChild(searchTrial, {
          workflowId: trialWorkflowId(searchId, run.trial, run.rung),
          taskQueue: TASK_QUEUES.pipeline,
          args: [{ searchId, trial: run.trial, rung: run.rung, epochs: run.epochs, params: t.params, metric, dataset: input.dataset, train: input.train }],
        }),
      )
      .then(
        (r) => completeRun(state, r, rungs, metric, run.epochs),
        (err) => {
          if (isCancellation(err)) {
            stopRun(state, run.trial);
            if (!state.stop) cancelled = err;
          } else failRun(state, run.trial, rootFailure(err), null);
        },
      )
      .finally(() => {
        running.delete(run.trial);
        changed = true;
      });
  };

  try {
    for (;;) {
      const draining = (): boolean => runsHere >= spec.continueAsNewEvery || workflowInfo().continueAsNewSuggested;
      while (!cancelled && !draining() && running.size < spec.parallelism) {
        const run = nextRun(state, spec, rungs, metric);
        if (!run) break;
        launch(run);
      }
      describe();
      if (running.size === 0) {
        if (!cancelled && draining() && nextRun(state, spec, rungs, metric)) {
          await continueAsNew<typeof hyperparameterSearch>({ ...input, state });
        }
        break;
      }
      changed = false;
      await condition(() => changed);
    }
  } catch (err) {
    if (isCancellation(err)) cancelled = err;
    else throw err;
  }
  if (cancelled) {
    // the search itself was cancelled: wait for the trials' cancellation, then end as cancelled
    await CancellationScope.nonCancellable(() => condition(() => running.size === 0));
    throw cancelled;
  }
  finishTable(state);
  done = true;
  describe();
  const winner = state.best;
  if (!winner) {
    const first = state.trials.find((t) => t.error)?.error;
    throw ApplicationFailure.create({
      type: first?.type === 'TrainingFailed' || !first ? 'TrainingFailed' : first.type,
      message: `no trial of the search produced a model (${state.trials.length} trials${first ? `; the first failure: ${first.message}` : ''})`,
      nonRetryable: true,
    });
  }
  return { ...searchStatus(searchId, spec, state, rungs, metric, true), winner, space: spec.space };
}
