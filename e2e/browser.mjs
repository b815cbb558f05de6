// What every console script shares: its settings from the environment, a
// headless Chromium started as this machine allows, and the helpers that
// take screenshots and check what a page says.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// need returns the environment variable name, which the driver sets.
export const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

// openConsole starts Chromium with a new profile and returns its page,
// the errors its pages throw, shot (a numbered screenshot in OUT_DIR),
// expectText, and close, which ends the browser and drops the profile.
export async function openConsole() {
  const outDir = process.env.OUT_DIR || mkdtempSync(join(tmpdir(), 'qoo10hook-e2e-shots-'));
  mkdirSync(outDir, { recursive: true });
  const userDataDir = mkdtempSync(join(tmpdir(), 'qoo10hook-e2e-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(15000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  let step = 0;
  const shot = async (name) => page.screenshot({ path: join(outDir, `${String(++step).padStart(2, '0')}-${name}.png`), fullPage: true });
  const expectText = async (locator, text, what) => {
    const got = (await locator.textContent()) || '';
    if (!got.includes(text)) throw new Error(`${what}: want "${text}", got "${got.trim().slice(0, 300)}"`);
  };
  const close = async () => {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { page, pageErrors, shot, expectText, outDir, close };
}
