// Drives the staff tablet UI in headless Chromium through issue 12's
// printers: pair and log in, see a printer out of paper on the board, see
// two print jobs cut off mid-send appear in the uncertain banner without a
// reload (this script prints `cut off two print jobs`; the Rust test then
// sends a big job to each of two serial printers that stopped reading and
// unplugs them mid-job), print one again and skip the other, and press
// "print slip again" on a ready order.
// Run by a Rust test (tests/it/ui_browser.rs) that has started store-edge,
// the printers and the fake central; everything comes from the environment.
// Exits 0 on success, 1 with failure.png and the page's console otherwise.

import { WAIT, env, visible, runInChromium } from './harness.mjs';

// A cut-off job: unplugged, or at worst the worker's 30 s without progress.
const LONG = 90_000;

const BASE = env('STORE_EDGE_URL').replace(/\/+$/, '');
const STAFF_ID = env('STAFF_ID');
const STAFF_PIN = env('STAFF_PIN');
const ORDER_ID = env('ORDER_ID');
const PAPER_OUT_PRINTER = env('PAPER_OUT_PRINTER');
const REPRINT_PRINTER = env('REPRINT_PRINTER');
const SKIP_PRINTER = env('SKIP_PRINTER');

let page;

const byId = (id) => page.getByTestId(id);
const gone = (locator) => locator.waitFor({ state: 'detached', timeout: WAIT });
const textOf = (testId, re) => page.waitForFunction(
  ([id, src]) => new RegExp(src).test(document.querySelector(`[data-testid="${id}"]`)?.textContent ?? ''),
  [testId, re.source],
  { timeout: WAIT, polling: 250 },
);

async function run(ui) {
  page = ui.page;
  const { screenshot } = ui;

  // 1. Pair and log in.
  await page.goto(BASE + '/', { waitUntil: 'domcontentloaded', timeout: WAIT });
  await visible(byId('pair-code'));
  await byId('pair-code').fill(env('PAIR_CODE'));
  await byId('pair-name').fill('counter tablet');
  await byId('pair-submit').click();
  await visible(byId('staff-' + STAFF_ID));
  await byId('staff-' + STAFF_ID).click();
  await visible(byId('pin-ok'));
  for (const d of STAFF_PIN) await byId('pin-' + d).click();
  await byId('pin-ok').click();
  await visible(byId('board'));

  // 2. The board shows the printer whose roll is empty.
  await textOf('printer-' + PAPER_OUT_PRINTER, /Papier leer|out of paper/);
  if (await byId('print-banner').count()) throw new Error('an uncertain banner before any job was cut off');
  await screenshot('board-paper-out');

  // 3. Two jobs are cut off mid-send while the tablet watches (the Rust
  //    test does it when told): both come into the banner by themselves.
  console.log('cut off two print jobs');
  const jobOn = (printer) => byId('print-banner').locator('[data-testid^="print-job-"]', { hasText: ' ' + printer });
  await visible(jobOn(REPRINT_PRINTER), LONG);
  await visible(jobOn(SKIP_PRINTER), LONG);
  await textOf('print-banner', /^2 Drucke |^2 prints /);
  // Unplugged, they show as unreachable rather than as an unknown paper state.
  await textOf('printer-' + REPRINT_PRINTER, /nicht erreichbar|unreachable/);
  await screenshot('uncertain-banner');

  // 4. A person decides: print one again, skip the other; each leaves the
  //    banner, and then the banner goes.
  await jobOn(REPRINT_PRINTER).locator('[data-testid^="print-reprint-"]').click();
  await gone(jobOn(REPRINT_PRINTER));
  await jobOn(SKIP_PRINTER).locator('[data-testid^="print-skip-"]').click();
  await gone(byId('print-banner'));
  await screenshot('banner-decided');

  // 5. The ready order's page prints its slip again.
  const card = byId('col-ready').getByTestId('card-' + ORDER_ID);
  await visible(card);
  await card.click();
  await visible(byId('print-slip'));
  await byId('print-slip').click();
  await textOf('notice', /Abholschein wird gedruckt|The slip is printing/);
  await screenshot('slip-again');
}

await runInChromium('printers UI', run);
