import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, type KaizenConfig } from '../config';
import { productionSecrets } from '../dev/production';
import { downStack, stackOptionsFromConfig, stackStatus, upStack, type StackStatus } from '../dev/stack';
import { CliExit } from './output';
import { table, type Output } from './output';

export type Profile = 'dev' | 'production';

function formatStatus(s: StackStatus): string {
  return table([
    ['component', 'pid', 'healthy', 'url'],
    ...s.components.map((c) => [c.name, c.pid === null ? '-' : String(c.pid), c.healthy ? 'yes' : 'NO', c.url ?? '-']),
  ]);
}

const profileFile = (cfg: KaizenConfig) => path.join(cfg.home, 'profile');

/** The profile asked for, else the one the home was last brought up with, else dev. */
async function profileOf(cfg: KaizenConfig, asked: string | undefined): Promise<Profile> {
  const p = asked ?? ((await readFile(profileFile(cfg), 'utf8').catch(() => '')).trim() || 'dev');
  if (p !== 'dev' && p !== 'production') throw new CliExit(`--profile must be dev or production, got "${p}"`);
  return p;
}

export async function devUp(cfg: KaizenConfig, out: Output, asked?: string): Promise<number> {
  const profile = await profileOf(cfg, asked);
  if (profile === 'production') {
    // no default secrets: they are made once for this home, and every later command reads them
    await productionSecrets(cfg.home);
    cfg = loadConfig();
    out.info(`production profile: secrets in ${path.join(cfg.home, 'production.env')} (mode 0600); every kaizen command with KAIZEN_HOME=${cfg.home} reads them`);
  }
  await mkdir(cfg.home, { recursive: true });
  await writeFile(profileFile(cfg), `${profile}\n`);
  const status = await upStack({ ...stackOptionsFromConfig(cfg, profile), log: (l) => out.info(l) });
  out.result(status, () => `${formatStatus(status)}\n\nStop the stack with: kaizen dev down`);
  return status.components.every((c) => c.healthy) ? 0 : 1;
}

export async function devDown(cfg: KaizenConfig, out: Output, asked?: string): Promise<number> {
  const status = await downStack({ ...stackOptionsFromConfig(cfg, await profileOf(cfg, asked)), log: (l) => out.info(l) });
  out.result(status, () => 'stack stopped');
  return 0;
}

export async function devStatus(cfg: KaizenConfig, out: Output, asked?: string): Promise<number> {
  const status = await stackStatus(stackOptionsFromConfig(cfg, await profileOf(cfg, asked)));
  out.result(status, () => formatStatus(status));
  return status.components.every((c) => c.healthy) ? 0 : 1;
}
