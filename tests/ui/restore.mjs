// Drives the staff tablet in headless Chromium through issue 14's shelf
// check: after `store-edge db restore`, an order that was open in the
// backup shows the step "check the shelf" in its hand-over; confirming
// without ticking it is refused on the tablet (nothing sent), ticking it
// sends `shelf_checked_after_restore: true` and the hand-over goes through.
// Run by tests/it/restore.rs, which has restored the box and started it;
// everything comes from the environment. Exits 0 on success, 1 with
// failure.png and the page's console otherwise.

import { WAIT, env, visible, runInChromium } from './harness.mjs';

const BASE = env('STORE_EDGE_URL').replace(/\/+$/, '');
const STAFF_ID = env('STAFF_ID');
const STAFF_PIN = env('STAFF_PIN');
const ORDER_ID = env('ORDER_ID');

async function run({ page, screenshot }) {
  const byId = (id) => page.getByTestId(id);

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

  // 2. The ready order's hand-over shows the shelf check first.
  const card = byId('col-ready').getByTestId('card-' + ORDER_ID);
  await visible(card);
  await card.click();
  await visible(byId('detail-shelf-check'));
  await visible(byId('action-handover'));
  await byId('action-handover').click();
  await visible(byId('step-shelf-check'));
  await byId('verify-id').click();
  await visible(byId('handover-pin'));
  await screenshot('shelf-check-step');

  // 3. Confirming without the shelf check is refused on the tablet.
  await byId('handover-pin').fill(STAFF_PIN);
  await byId('handover-confirm').click();
  await visible(byId('error'));
  const said = await byId('error').textContent();
  if (!/Regal|shelf/.test(said || '')) throw new Error('unexpected error toast: ' + said);
  if (await byId('handover-done').count()) throw new Error('handed over without the shelf check');
  await screenshot('shelf-check-missing');

  // 4. Ticked: the hand-over goes through.
  await byId('shelf-check').check();
  await byId('handover-pin').fill(STAFF_PIN);
  await byId('handover-confirm').click();
  await visible(byId('handover-done'));
  await screenshot('handed-over-after-shelf-check');
}

await runInChromium('shelf check UI', run);
