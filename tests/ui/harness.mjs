// What the browser scripts (tablet.mjs, printers.mjs, kpi.mjs) share: their
// environment, Debian's Chromium launched the same way, numbered
// screenshots, more tablets (`openPage`: a browser with a profile of its
// own, so each keeps its own pairing cookie), and the ending — every page
// must have run clean; on failure failure.png (and one per extra tablet),
// the URL, the error toast and the pages' console; exit 0 or 1.

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

// One Chromium with a fresh profile (its own cookies); its first page
// reports into `consoleLines`, each line prefixed with `tag`.
async function launch(userDataDir, consoleLines, tag) {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // A test's own flags, space-separated (tls.mjs pins its throwaway CA).
      ...(process.env.CHROMIUM_EXTRA_ARGS || '').split(' ').filter(Boolean),
    ],
    viewport: { width: 1280, height: 800 },
    locale: 'de-DE',
  });
  context.setDefaultTimeout(WAIT);
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => consoleLines.push(`${tag}[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`${tag}[pageerror] ${e.message}`));
  page.on('requestfailed', (r) => consoleLines.push(`${tag}[requestfailed] ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  return { context, page };
}

// Launches Chromium, calls `run({ page, screenshot, openPage })`, and exits
// the process with 0 when it passed (`label: all steps passed`) or 1.
// `screenshot(name, otherPage?)` shoots the first page unless told;
// `openPage(tag)` opens another tablet (a second Chromium, fresh profile).
export async function runInChromium(label, run) {
  const screenshotDir = env('SCREENSHOT_DIR');
  fs.mkdirSync(screenshotDir, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-edge-ui-'));
  const consoleLines = [];
  const extra = []; // {tag, context, page, dir} of openPage
  let context;
  let page;
  let shot = 0;
  const screenshot = async (name, which) => {
    shot += 1;
    const file = path.join(screenshotDir, `${String(shot).padStart(2, '0')}-${name}.png`);
    await (which || page).screenshot({ path: file, fullPage: true });
    console.log('screenshot: ' + file);
  };
  const openPage = async (tag) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-edge-ui-'));
    const opened = await launch(dir, consoleLines, `{${tag}} `);
    extra.push({ tag, dir, ...opened });
    return opened.page;
  };
  let code = 0;
  try {
    ({ context, page } = await launch(userDataDir, consoleLines, ''));
    await run({ page, screenshot, openPage });
    // The page itself must have run clean: no uncaught errors, no CSP refusals.
    const broken = consoleLines.filter((l) => /^(\{[^}]*\} )?\[pageerror\]/.test(l) || /Content Security Policy/i.test(l));
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
      for (const x of extra) {
        const other = path.join(screenshotDir, `failure-${x.tag}.png`);
        await x.page.screenshot({ path: other, fullPage: true }).then(() => console.error('screenshot: ' + other), () => {});
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
    for (const x of extra) {
      await x.context.close().catch(() => {});
      fs.rmSync(x.dir, { recursive: true, force: true });
    }
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.exit(code);
}
