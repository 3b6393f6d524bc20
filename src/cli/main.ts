import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from '../config';
import { TASK_QUEUES } from '../types';
import { devDown, devStatus, devUp } from './dev';
import { modelsList, modelsShow } from './models';
import { createOutput, reportError } from './output';
import { pipelineStatus, runPipeline } from './pipeline';
import { dataPrepare, dataUpload } from './data';
import { approveCommand } from './approve';
import { parseModelList, predictCommand, serveCommand } from './serve';
import { rollbackCommand } from './rollback';
import { replayCommand, type ReplayCommandOptions } from './replay';
import { driftCheckCommand } from './drift';
import { experimentStart, experimentStatus, type ExperimentStartOptions } from './experiment';

/** Builds the CLI; each action returns the exit code. */
export function buildProgram(setExit: (code: number) => void): Command {
  const cfg = () => loadConfig();
  const program = new Command('kaizen')
    .description('Durable MLOps pipelines on Temporal')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      const opts = args.find((a) => a && typeof a === 'object' && !Array.isArray(a) && !(a instanceof Command)) as
        | { json?: boolean }
        | undefined;
      try {
        setExit(await fn(...args));
      } catch (err) {
        setExit(reportError(err, Boolean(opts?.json)));
      }
    };

  const dev = program.command('dev').description('the local stack: Temporal dev server + UI, MinIO, workers, model servers');
  dev
    .command('up')
    .description('start (or repair) the local stack; idempotent')
    .option('--json', 'print one JSON document')
    .option('--profile <profile>', 'dev (Temporal dev server, one of each) or production (PostgreSQL, Temporal services, replicas behind HAProxy); default: the one this home was brought up with, else dev')
    .action(action(async (o: { json?: boolean; profile?: string }) => devUp(cfg(), createOutput(Boolean(o.json)), o.profile)));
  dev
    .command('down')
    .description('stop exactly what `dev up` started')
    .option('--json', 'print one JSON document')
    .option('--profile <profile>', 'dev (Temporal dev server, one of each) or production (PostgreSQL, Temporal services, replicas behind HAProxy); default: the one this home was brought up with, else dev')
    .action(action(async (o: { json?: boolean; profile?: string }) => devDown(cfg(), createOutput(Boolean(o.json)), o.profile)));
  dev
    .command('status')
    .description('health of each component')
    .option('--json', 'print one JSON document')
    .option('--profile <profile>', 'dev (Temporal dev server, one of each) or production (PostgreSQL, Temporal services, replicas behind HAProxy); default: the one this home was brought up with, else dev')
    .action(action(async (o: { json?: boolean; profile?: string }) => devStatus(cfg(), createOutput(Boolean(o.json)), o.profile)));

  program
    .command('worker')
    .description('run Temporal workers until SIGINT/SIGTERM')
    .option('--queues <list>', 'comma-separated task queues', `${TASK_QUEUES.pipeline},${TASK_QUEUES.training}`)
    .option('--metrics <address>', 'serve Prometheus /metrics on host:port (default KAIZEN_WORKER_METRICS; off without it)')
    .action(
      action(async (o: { queues: string; metrics?: string }) => {
        const { runWorkers } = await import('../temporal/worker');
        const metricsAddress = o.metrics ?? (process.env.KAIZEN_WORKER_METRICS || undefined);
        await runWorkers({ config: cfg(), queues: o.queues.split(',').map((q) => q.trim()).filter(Boolean), metricsAddress });
        return 0;
      }),
    );

  const pipeline = program.command('pipeline').description('run and watch training pipelines');
  pipeline
    .command('run <spec>')
    .description('start trainingPipeline for a spec file')
    .option('--wait', 'wait for the result, showing progress')
    .option('--json', 'print one JSON document')
    .addOption(new Option('--approve <mode>', 'override approval.mode').choices(['auto', 'manual']))
    .option('--id <workflowId>', 'workflow id (default: <model>-train-<time>)')
    .action(
      action(async (spec: string, o: { wait?: boolean; json?: boolean; approve?: 'auto' | 'manual'; id?: string }) =>
        runPipeline(cfg(), spec, o, createOutput(Boolean(o.json))),
      ),
    );
  pipeline
    .command('status <workflowId>')
    .description("the workflow's status query: stage, training progress, result")
    .option('--json', 'print one JSON document')
    .action(action(async (id: string, o: { json?: boolean }) => pipelineStatus(cfg(), id, createOutput(Boolean(o.json)))));

  program
    .command('approve <workflowId>')
    .description('approve (or --reject) a candidate waiting in awaiting_approval')
    .requiredOption('--by <name>', 'who decides (recorded in the registry lineage)')
    .option('--comment <text>', 'why')
    .option('--reject', 'reject instead of approve')
    .option('--json', 'print one JSON document')
    .action(
      action(async (id: string, o: { by: string; comment?: string; reject?: boolean; json?: boolean }) =>
        approveCommand(cfg(), id, o, createOutput(Boolean(o.json))),
      ),
    );

  const data = program.command('data').description('datasets');
  data
    .command('prepare <spec>')
    .description('data preparation alone: prints the dataset version and the validation report')
    .option('--json', 'print one JSON document')
    .action(action(async (spec: string, o: { json?: boolean }) => dataPrepare(cfg(), spec, createOutput(Boolean(o.json)))));
  data
    .command('upload <file>')
    .description('upload a data file to the object store and print its s3:// URI (the data.source for a run started from the Temporal UI)')
    .option('--as <name>', 'object name under uploads/ (default: the file name)')
    .option('--json', 'print one JSON document')
    .action(action(async (file: string, o: { as?: string; json?: boolean }) => dataUpload(cfg(), file, o, createOutput(Boolean(o.json)))));

  const models = program.command('models').description('the model registry');
  models
    .command('list <model>')
    .description('versions with metrics and aliases')
    .option('--json', 'print one JSON document')
    .action(action(async (model: string, o: { json?: boolean }) => modelsList(cfg(), model, createOutput(Boolean(o.json)))));
  models
    .command('show <model> [ref]')
    .description('lineage and metrics of a version (number, alias or "latest")')
    .option('--json', 'print one JSON document')
    .action(
      action(async (model: string, ref: string | undefined, o: { json?: boolean }) =>
        modelsShow(cfg(), model, ref ?? 'latest', createOutput(Boolean(o.json))),
      ),
    );

  program
    .command('rollback <model>')
    .description('move production back to the previous version (or --to VERSION), at once')
    .option('--to <version>', 'the version to go back to')
    .option('--by <name>', 'who rolls back (default: the OS user)')
    .option('--reason <text>', 'why (recorded in the alias history)')
    .option('--json', 'print one JSON document')
    .action(
      action(async (model: string, o: { to?: string; by?: string; reason?: string; json?: boolean }) =>
        rollbackCommand(cfg(), model, o, createOutput(Boolean(o.json))),
      ),
    );
  const experiment = program.command('experiment').description('champion/challenger experiments on live traffic');
  experiment
    .command('start <model>')
    .description('run registered versions beside the production champion; promote a significantly better one')
    .requiredOption('--challengers <versions>', 'comma-separated versions, e.g. 3,4')
    .option('--split <percents>', 'champion first, then each challenger, summing to 100 (default: 1% per challenger)')
    .option('--duration <d>', 'how long to collect live traffic and feedback (default 1h)')
    .option('--min-samples <n>', 'labelled predictions each arm needs (default 200)')
    .option('--alpha <a>', 'significance level, Bonferroni-corrected across challengers (default 0.05)')
    .option('--id <workflowId>', 'workflow id (default <model>-experiment-<time>)')
    .option('--by <name>', 'who starts it (default: the OS user)')
    .option('--wait', 'wait for the decision and print it')
    .option('--json', 'print one JSON document')
    .action(
      action(async (model: string, o: ExperimentStartOptions & { json?: boolean }) =>
        experimentStart(cfg(), model, o, createOutput(Boolean(o.json))),
      ),
    );
  experiment
    .command('status <workflowId>')
    .description('phase, weights and running figures of an experiment')
    .option('--json', 'print one JSON document')
    .action(action(async (id: string, o: { json?: boolean }) => experimentStatus(cfg(), id, createOutput(Boolean(o.json)))));
  const drift = program.command('drift').description('drift of live traffic against the training data');
  drift
    .command('check <model>')
    .description("drift of the prediction log over a window against the production version's training profile")
    .option('--window <d>', 'traffic of the last … (default 24h)')
    .option('--version <n>', 'compare with this version instead of production')
    .option('--json', 'print one JSON document')
    .action(
      action(async (model: string, o: { window?: string; version?: string; json?: boolean }) =>
        driftCheckCommand(cfg(), model, o, createOutput(Boolean(o.json))),
      ),
    );
  program
    .command('replay <model>')
    .description('send held-out rows (the test split behind a version) to production, each with its true label as feedback')
    .option('--from <ref>', 'version or alias whose dataset to replay (default production)')
    .option('--rate <n>', 'requests per second (default 50)')
    .option('--duration <d>', 'stop after this long (default 60s, or 1h with --until-workflow)')
    .option('--until-workflow <id>', 'stop when this workflow (e.g. a pipeline with a canary) finishes')
    .option('--no-feedback', 'send predictions only, no labels')
    .option('--json', 'print one JSON document')
    .action(
      action(async (model: string, o: ReplayCommandOptions & { json?: boolean }) =>
        replayCommand(cfg(), model, o, createOutput(Boolean(o.json))),
      ),
    );
  program
    .command('serve')
    .description('run a model server for the production or staging alias until SIGINT/SIGTERM')
    .addOption(new Option('--env <env>', 'the alias to serve').choices(['production', 'staging']).makeOptionMandatory())
    .option('--port <n>', 'port (default: from KAIZEN_<ENV>_URL)', (v) => Number(v))
    .option('--host <host>', 'interface to listen on (default: from KAIZEN_<ENV>_URL)')
    .option('--models <list>', 'comma-separated models to load at start (readiness waits for them)')
    .action(
      action(async (o: { env: 'production' | 'staging'; port?: number; host?: string; models?: string }) =>
        serveCommand(cfg(), { env: o.env, port: o.port, host: o.host, models: parseModelList(o.models) }),
      ),
    );
  program
    .command('predict <model>')
    .description("predictions from the env's model server")
    .requiredOption('--input <json>', 'one JSON object of feature values, an array of them, or @file.json')
    .addOption(new Option('--env <env>', 'which server').choices(['production', 'staging']).default('production'))
    .option('--json', 'print one JSON document')
    .action(
      action(async (model: string, o: { input: string; env: 'production' | 'staging'; json?: boolean }) =>
        predictCommand(cfg(), model, { input: o.input, env: o.env }, createOutput(Boolean(o.json))),
      ),
    );

  // Temporal Schedules: nightly training and periodic drift monitoring (src/cli/schedule.ts)
  const schedule = program.command('schedule').description('Temporal Schedules: nightly training, periodic drift monitoring');
  schedule
    .command('create [spec]')
    .description('schedule trainingPipeline for a spec (embedded in the schedule), or a drift monitor for a model')
    .option('--cron <expr>', 'cron expression, 5 fields, UTC (e.g. "0 2 * * *")')
    .option('--every <duration>', 'fixed interval instead of --cron (e.g. 1h)')
    .option('--id <scheduleId>', 'schedule id (default: <model>-training or <model>-drift-monitor)')
    .option('--catchup-window <duration>', 'take a run missed while Temporal was down if at most this late', '1h')
    .option('--drift-monitor <model>', 'schedule the driftMonitor workflow for a model instead of training')
    .addOption(new Option('--approve <mode>', 'override approval.mode of the spec').choices(['auto', 'manual']))
    .option('--json', 'print one JSON document')
    .action(
      action(async (spec: string | undefined, o: { cron?: string; every?: string; id?: string; catchupWindow?: string; driftMonitor?: string; approve?: 'auto' | 'manual'; json?: boolean }) => {
        const { scheduleCreate } = await import('./schedule');
        return scheduleCreate(cfg(), spec, o, createOutput(Boolean(o.json)));
      }),
    );
  schedule
    .command('list')
    .description('schedules with kind, model, cron/interval, next run, last run and its status, paused')
    .option('--json', 'print one JSON document')
    .action(
      action(async (o: { json?: boolean }) => {
        const { scheduleList } = await import('./schedule');
        return scheduleList(cfg(), createOutput(Boolean(o.json)));
      }),
    );
  schedule
    .command('trigger <scheduleId>')
    .description('run a schedule now (overlap SKIP: nothing starts while its previous run is still running)')
    .option('--json', 'print one JSON document')
    .action(
      action(async (id: string, o: { json?: boolean }) => {
        const { scheduleTrigger } = await import('./schedule');
        return scheduleTrigger(cfg(), id, createOutput(Boolean(o.json)));
      }),
    );
  schedule
    .command('delete <scheduleId>')
    .description('delete a schedule (runs it already started keep running)')
    .option('--json', 'print one JSON document')
    .action(
      action(async (id: string, o: { json?: boolean }) => {
        const { scheduleDelete } = await import('./schedule');
        return scheduleDelete(cfg(), id, createOutput(Boolean(o.json)));
      }),
    );

  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    return reportError(err, argv.includes('--json'));
  }
  return code;
}
