import { act } from './activities';
import { checkTrialInput } from '../src/policy/inputs';
import { trialScore, trialTrainSpec, type TrialInput, type TrialResult } from '../src/policy/search-table';

/**
 * One rung of one search trial: trains the trial to the rung's epochs on the training task queue,
 * continuing from the trial's own checkpoint (its earlier rungs), and reports its validation score.
 * Its workflow id comes from the search, the trial and the rung, so no crash, retry or replay of
 * the coordinator runs it twice.
 */
export async function searchTrial(raw: TrialInput): Promise<TrialResult> {
  const input = checkTrialInput(raw);
  const trained = await act.trainModel({
    workflowId: input.searchId,
    dataset: input.dataset,
    train: trialTrainSpec(input.train, input.params, input.epochs),
    trial: { searchId: input.searchId, trial: input.trial },
  });
  return {
    trial: input.trial,
    rung: input.rung,
    score: trialScore(trained.training, input.metric),
    bundleUri: trained.bundleUri,
    bundleSha256: trained.bundleSha256,
    training: trained.training,
  };
}
