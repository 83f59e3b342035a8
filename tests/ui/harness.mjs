// What the browser scripts (tablet.mjs, printers.mjs) share: their
// environment, Debian's Chromium launched the same way, numbered
// screenshots, and the ending — the page must have run clean; on failure
// failure.png, the URL, the error toast and the page's console; exit 0 or 1.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const WAIT = 30_000; // the machine is slow and shared

export function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (v == null || v === '') throw new Error(`environment variable ${name} is not set`);
  return v;
}

export const visible = (locator, timeout = WAIT) => locator.waitFor({ state: 'visible', timeout });

// Launches Chromium, calls `run({ page, screenshot })`, and exits the
// process with 0 when it passed (`label: all steps passed`) or 1.
export async function runInChromium(label, run) {
  const screenshotDir = env('SCREENSHOT_DIR');
  fs.mkdirSync(screenshotDir, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-edge-ui-'));
  const consoleLines = [];
  let context;
  let page;
  let shot = 0;
  const screenshot = async (name) => {
    shot += 1;
    const file = path.join(screenshotDir, `${String(shot).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log('screenshot: ' + file);
  };
  let code = 0;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: env('CHROMIUM', '/usr/bin/chromium'),
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
      viewport: { width: 1280, height: 800 },
      locale: 'de-DE',
    });
    context.setDefaultTimeout(WAIT);
    page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    page.on('requestfailed', (r) => consoleLines.push(`[requestfailed] ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
    await run({ page, screenshot });
    // The page itself must have run clean: no uncaught errors, no CSP refusals.
    const broken = consoleLines.filter((l) => l.startsWith('[pageerror]') || /Content Security Policy/i.test(l));
    if (broken.length) throw new Error('the page reported errors:\n' + broken.join('\n'));
    console.log(`${label}: all steps passed`);
  } catch (err) {
    code = 1;
    console.error(`${label} test failed:`, err && err.stack ? err.stack : err);
    if (page) {
      const file = path.join(screenshotDir, 'failure.png');
      try {
        await page.screenshot({ path: file, fullPage: true });
        console.error('screenshot: ' + file);
      } catch (e) {
        console.error('no failure screenshot: ' + e.message);
      }
      try {
        console.error('url: ' + page.url());
        const errorText = await page.locator('[data-testid="error"]').textContent({ timeout: 1000 }).catch(() => null);
        if (errorText) console.error('error toast: ' + errorText);
      } catch { /* best effort */ }
    }
    console.error('--- page console ---');
    for (const line of consoleLines) console.error(line);
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.exit(code);
}
