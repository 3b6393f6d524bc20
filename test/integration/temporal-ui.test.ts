// The Temporal UI as the front door, driven in a real browser (Playwright + Debian's chromium) the
// way a person uses it: start a pipeline from the Start Workflow form with a hand-written spec and
// approve it with the Update form, see a bad field named, trigger a schedule, abort a canary.
// Screenshots of each journey go to artifacts/ui/ (git-ignored).
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/registry';
import { createObjectStore } from '../../src/storage/object-store';
import type { PipelineResult } from '../../src/types';
import { canaryStatusQuery } from '../../workflows/definitions';
import { FLIGHTS_3M, REPO_ROOT, runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig, testStack } from '../helpers/stack-env';

const CHROMIUM = process.env.KAIZEN_CHROMIUM ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser) console.warn(`temporal-ui.test.ts: SKIPPED, no Chromium at ${CHROMIUM} (see scripts/provision-browser.mjs)`);
const ARTIFACTS = path.join(REPO_ROOT, 'artifacts', 'ui');

/** A spec as a person would write it by hand: the parts that matter, an absolute data path, manual approval. */
function handWrittenSpec(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return smallFlightsSpec(model, { train: { hiddenUnits: [8], epochs: 2, batchSize: 128 }, approval: { mode: 'manual', timeout: '1h' }, ...extra });
}

const visible = (l: Locator): Locator => l.filter({ visible: true }).first();

/** Writes JSON into one of the UI's code editors (CodeMirror), replacing what was there. */
async function typeJson(page: Page, editor: Locator, value: unknown): Promise<void> {
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(JSON.stringify(value));
}

describe.skipIf(!haveBrowser)('Temporal UI in a real browser', () => {
  let browser: Browser;
  let client: Client;
  const ui = () => testStack().temporalUiUrl;
  const registry = new ModelRegistry(createObjectStore(testConfig()));

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    client = new Client({ connection: await Connection.connect({ address: testConfig().temporal.address }) });
  });
  afterAll(async () => {
    await browser?.close();
    await client?.connection.close();
  });

  async function newPage(): Promise<Page> {
    return browser.newPage({ viewport: { width: 1400, height: 1000 } });
  }

  /** Fills the Start a Workflow form and starts it; the first click can be lost to the editor re-formatting, so it checks. */
  async function startFromForm(page: Page, workflowId: string, workflowType: string, input: unknown): Promise<void> {
    await page.goto(`${ui()}/namespaces/default/workflows/start-workflow`, { waitUntil: 'domcontentloaded' });
    await page.locator('#workflowId').fill(workflowId);
    await page.locator('#taskQueue').fill('kaizen-pipeline');
    await page.locator('#workflowType').fill(workflowType);
    await typeJson(page, visible(page.locator('.cm-content[contenteditable=true]')), input);
    // click outside the editor first (it re-formats on blur and moves the button)
    await page.getByText('Start a Workflow', { exact: true }).click();
    await page.getByTestId('start-workflow-button').click();
    await expect.poll(async () => (await client.workflow.getHandle(workflowId).describe().catch(() => null))?.status.name, { timeout: 15_000 }).toBeTruthy();
  }

  async function workflowPage(page: Page, workflowId: string): Promise<void> {
    await page.goto(`${ui()}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`, { waitUntil: 'domcontentloaded' });
  }

  /** More Actions → Send a Signal / Send an Update: picks the handler by its description, types the payload, submits. */
  async function sendFromActions(page: Page, kind: 'signal' | 'update', description: string, payload: unknown): Promise<void> {
    await visible(page.getByRole('button', { name: 'More Actions' })).click();
    await visible(page.getByTestId(`${kind}-button`)).click();
    const dialog = visible(page.getByTestId(`${kind}-confirmation-modal`));
    await visible(dialog.getByTestId(`${kind}-select-button`)).click();
    await visible(page.getByRole('option').filter({ hasText: description })).click();
    await typeJson(page, visible(dialog.locator('.cm-content[contenteditable=true]')), payload);
    await visible(dialog.locator('[id^=modal-title]')).click();
    await visible(dialog.getByTestId('confirm-modal-button')).click();
  }

  /** What the page shows, including what it renders in frames (user metadata is Markdown in a sandboxed frame). */
  const bodyText = async (page: Page): Promise<string> => {
    const texts = await Promise.all(page.frames().map((f) => f.locator('body').innerText().catch(() => '')));
    return texts.join('\n');
  };

  it('1. starts trainingPipeline from the form with a hand-written spec, shows it awaiting approval, approves it with the Update form', async () => {
    // the data goes where every worker can read it, as the README says: `kaizen data upload` prints the URI
    const upload = await runCli(['data', 'upload', FLIGHTS_3M, '--as', 'ui/flights-3m.parquet', '--json'], stackEnv());
    expect(upload.code, upload.stderr).toBe(0);
    const { uri } = JSON.parse(upload.stdout) as { uri: string };
    expect(uri).toBe(`s3://${testConfig().s3.bucket}/uploads/ui/flights-3m.parquet`);
    const spec = handWrittenSpec('ui-approve');
    const page = await newPage();
    const id = 'ui-journey-approve';
    await startFromForm(page, id, 'trainingPipeline', { ...spec, data: { ...(spec.data as object), source: uri } });
    const handle = client.workflow.getHandle(id);
    await expect.poll(async () => (await handle.describe()).searchAttributes.KaizenStage?.[0], { timeout: 180_000, interval: 500 }).toBe('awaiting_approval');

    await workflowPage(page, id);
    await visible(page.getByText('User Metadata', { exact: true })).click();
    await expect.poll(() => bodyText(page), { timeout: 15_000 }).toMatch(/awaiting approval of version 1 until[\s\S]*?send the Update .approve./);
    await page.screenshot({ path: path.join(ARTIFACTS, '1-awaiting-approval.png') });

    // without "by" the Update is refused, and the form says why
    await sendFromActions(page, 'update', 'Approve the candidate', { comment: 'looks fine' });
    await expect.poll(() => bodyText(page), { timeout: 15_000 }).toMatch(/approve refused: it has no .by. naming who decides/);
    await page.screenshot({ path: path.join(ARTIFACTS, '1-update-refused.png') });
    await page.keyboard.press('Escape');

    await workflowPage(page, id);
    await sendFromActions(page, 'update', 'Approve the candidate', { by: 'ui-tester', comment: 'approved in the browser' });
    const result = (await handle.result()) as PipelineResult;
    expect(result).toMatchObject({ outcome: 'promoted', approval: { decision: 'approve', by: 'ui-tester', comment: 'approved in the browser' } });
    const doc = await registry.require('ui-approve');
    expect(doc.versions[0]?.lineage.approval).toMatchObject({ by: 'ui-tester' });
    expect(doc.production?.champion).toBe(1);

    await workflowPage(page, id);
    await expect.poll(() => bodyText(page), { timeout: 20_000 }).toMatch(/Completed/);
    await page.screenshot({ path: path.join(ARTIFACTS, '1-completed.png') });
    // the list finds it by its outcome
    const query = encodeURIComponent(`KaizenStage="promoted" AND KaizenModel="ui-approve"`);
    await page.goto(`${ui()}/namespaces/default/workflows?query=${query}`, { waitUntil: 'domcontentloaded' });
    await expect.poll(() => bodyText(page), { timeout: 20_000 }).toContain(id);
    await page.close();
  });

  it('2. a bad field started from the form fails within seconds, and the UI names the field', async () => {
    const page = await newPage();
    const id = 'ui-journey-bad-field';
    const started = Date.now();
    await startFromForm(page, id, 'trainingPipeline', handWrittenSpec('ui-bad', { train: { epochs: 'ten' } }));
    await expect.poll(async () => (await client.workflow.getHandle(id).describe()).status.name, { timeout: 10_000, interval: 200 }).toBe('FAILED');
    expect(Date.now() - started).toBeLessThan(10_000);
    await workflowPage(page, id);
    await expect.poll(() => bodyText(page), { timeout: 15_000 }).toMatch(/train\.epochs/);
    expect(await bodyText(page)).toMatch(/Failed/);
    await page.screenshot({ path: path.join(ARTIFACTS, '2-bad-field.png') });
    await page.close();
  });

  it('3. triggers a schedule from the Schedules page and the run appears', async () => {
    const created = await runCli(['schedule', 'create', '--drift-monitor', 'ui-sched-model', '--every', '30d', '--id', 'ui-sched', '--json'], stackEnv());
    expect(created.code, created.stderr).toBe(0);
    const page = await newPage();
    await page.goto(`${ui()}/namespaces/default/schedules/ui-sched`, { waitUntil: 'domcontentloaded' });
    await visible(page.locator('#schedule-actions-menu-button')).click();
    await visible(page.getByTestId('trigger-schedule')).click();
    const confirm = page.getByTestId('confirm-modal-button').filter({ visible: true });
    if (await confirm.count()) await confirm.first().click();
    const runs = async () => {
      const ids: string[] = [];
      for await (const w of client.workflow.list({ query: `WorkflowId STARTS_WITH 'ui-sched-'` })) ids.push(w.workflowId);
      return ids;
    };
    await expect.poll(async () => (await runs()).length, { timeout: 30_000, interval: 500 }).toBeGreaterThan(0);
    const [runId] = await runs();
    await page.reload({ waitUntil: 'domcontentloaded' });
    await expect.poll(() => bodyText(page), { timeout: 20_000 }).toContain(runId!);
    await page.screenshot({ path: path.join(ARTIFACTS, '3-schedule-triggered.png') });
    await page.close();
    expect((await runCli(['schedule', 'delete', 'ui-sched'], stackEnv())).code).toBe(0);
  });

  it('4. aborts a canary from the UI and the champion is back at 100%', async () => {
    const first = await runCli(['pipeline', 'run', writeSpec(smallFlightsSpec('ui-canary')), '--wait', '--json', '--id', 'ui-canary-1'], stackEnv());
    expect(first.code, first.stderr).toBe(0);
    const canary = { steps: [50, 100], stepDuration: '5m', minRequestsPerStep: 1, maxErrorRate: 0.5, maxP99Ms: 5000, maxMetricDrop: 1 };
    const spec = writeSpec(smallFlightsSpec('ui-canary', { train: { hiddenUnits: [8], epochs: 2, batchSize: 128, learningRate: 0.005, seed: 2 }, gate: { maxRegression: 1 }, canary }));
    const started = await runCli(['pipeline', 'run', spec, '--json', '--id', 'ui-canary-2'], stackEnv());
    expect(started.code, started.stderr).toBe(0);
    const child = client.workflow.getHandle('ui-canary-2-canary');
    await expect.poll(async () => (await child.query(canaryStatusQuery).catch(() => null))?.weights, { timeout: 180_000, interval: 500 }).toEqual({ '1': 50, '2': 50 });

    const page = await newPage();
    await workflowPage(page, 'ui-canary-2-canary');
    await expect.poll(() => bodyText(page), { timeout: 20_000 }).toMatch(/Running/);
    await sendFromActions(page, 'signal', 'Roll back now', { by: 'ui-tester', reason: 'seen from the UI' });
    const result = (await client.workflow.getHandle('ui-canary-2').result()) as PipelineResult;
    expect(result).toMatchObject({ outcome: 'rolled_back', canary: { decision: 'rollback', reasons: ['aborted by ui-tester: seen from the UI'] } });
    const doc = await registry.require('ui-canary');
    expect(doc.production).toMatchObject({ champion: 1, weights: { '1': 100 } });
    await workflowPage(page, 'ui-canary-2-canary');
    await expect.poll(() => bodyText(page), { timeout: 20_000 }).toMatch(/Completed/);
    await page.screenshot({ path: path.join(ARTIFACTS, '4-canary-aborted.png') });
    await page.close();
  });
});
