import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config';
import { loopbackEndpoints } from '../../src/dev/components';
import { freePorts } from '../../src/dev/processes';
import { throwawayProductionEnv } from '../../src/dev/production';
import { stackOptionsFromConfig, type StackOptions } from '../../src/dev/stack';
import { launchTestStack } from './global-setup';

// The production profile (PostgreSQL, the Temporal services, MinIO on four drives, two workers per
// queue, two replicas and staging behind HAProxy) once per `npm run test:production`, on free ports
// in a temporary KAIZEN_HOME, with fresh secrets. Test files reach it through stack-env.ts.
//   KAIZEN_KEEP_TEST_HOME=1   keep the temporary home (logs, data) after the run

const say = (line: string) => console.log(`[kaizen production stack] ${line}`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  const home = await mkdtemp(path.join(os.tmpdir(), 'kaizen-prod-'));
  const [temporal, ui, minio, minioConsole, lbProduction, lbStaging] = (await freePorts(6)) as [number, number, number, number, number, number];
  // Temporal stores membership ports as a SQL smallint: they must stay under 32768
  const secrets = await throwawayProductionEnv();
  const cfg = loadConfig({
    ...secrets,
    KAIZEN_HOME: home,
    ...loopbackEndpoints({ temporal, ui, minio, production: lbProduction, staging: lbStaging }),
  });
  const defaults = stackOptionsFromConfig(cfg, 'production');
  const o: StackOptions = {
    ...defaults,
    minioConsolePort: minioConsole,
    componentTimeoutMs: 180_000,
    readyTimeoutMs: 120_000,
    env: { ...secrets, KAIZEN_PREDICTION_LOG_WINDOW: '1s' },
    log: say,
  };
  return launchTestStack(project, o, { t0, say, withWorkers: true, extraEnv: secrets });
}
