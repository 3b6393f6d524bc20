import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { PipelineResult } from '../../src/types';
import { runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testStack } from '../helpers/stack-env';

const CHROMIUM = process.env.KAIZEN_CHROMIUM ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser) console.warn(`temporal-ui.test.ts: SKIPPED, no Chromium at ${CHROMIUM} (see scripts/provision-browser.mjs)`);

describe.skipIf(!haveBrowser)('Temporal UI in a real browser', () => {
  it('shows a finished pipeline as Completed, and lists it by its KaizenStage search attribute', async () => {
    const res = await runCli(['pipeline', 'run', writeSpec(smallFlightsSpec('it-ui')), '--wait', '--json', '--id', 'it-ui-1'], stackEnv());
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as PipelineResult).outcome).toBe('promoted');

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const ui = testStack().temporalUiUrl;
      await page.goto(`${ui}/namespaces/default/workflows/it-ui-1`, { waitUntil: 'networkidle' });
      await expect.poll(async () => page.locator('body').innerText(), { timeout: 20_000 }).toMatch(/Completed/);
      const text = await page.locator('body').innerText();
      expect(text).toContain('it-ui-1');
      expect(text).toContain('trainingPipeline');

      const query = encodeURIComponent(`KaizenStage="done" AND KaizenModel="it-ui"`);
      await page.goto(`${ui}/namespaces/default/workflows?query=${query}`, { waitUntil: 'networkidle' });
      await expect.poll(async () => page.locator('body').innerText(), { timeout: 20_000 }).toContain('it-ui-1');
    } finally {
      await browser.close();
    }
  });
});
