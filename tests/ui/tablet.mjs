// Drives the staff tablet UI in headless Chromium through a whole pickup:
// pair, log in, a new order arrives live, pick it (a card number typed as
// the shelf is refused with a plain message), hand it over by a scanned
// pass, find it again, keep the log-in over a reload, be asked for the PIN
// again after the staff session's idle time, see the banner when central
// dies, and log out.
// Run by a Rust test that has started store-edge, the fake central and the
// counter scanner pty; everything it needs comes from the environment.
// Exits 0 on success, 1 with failure.png and the page's console otherwise.

import fs from 'node:fs';

import { WAIT, env, visible, runInChromium } from './harness.mjs';

const BASE = env('STORE_EDGE_URL').replace(/\/+$/, '');
const PAIR_CODE = env('PAIR_CODE');
const STAFF_ID = env('STAFF_ID');
const STAFF_PIN = env('STAFF_PIN');
const CENTRAL_URL = env('CENTRAL_URL').replace(/\/+$/, '');
const CENTRAL_PID = env('CENTRAL_PID');
const PTY_HOST = env('PTY_HOST');
const ORDER_DOC = env('ORDER_DOC');
const ORDER2_DOC = env('ORDER2_DOC');
const STAFF_NAME = env('STAFF_NAME');
// The service's `pickup.staff_session_idle_s`; the test waits a bit longer.
const IDLE_S = Number(env('STAFF_SESSION_IDLE_S'));

const ORDER_ID = JSON.parse(ORDER_DOC).order_id;
if (!ORDER_ID) throw new Error('ORDER_DOC has no order_id');
const ORDER2_ID = JSON.parse(ORDER2_DOC).order_id;

let page;
let screenshot;

const byId = (id) => page.getByTestId(id);

async function centralPost(route, body) {
  const resp = await fetch(CENTRAL_URL + route, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body,
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`POST ${route}: ${resp.status} ${text}`);
  return JSON.parse(text);
}

// The detail screen's state, once it shows `state`.
async function waitForDetailState(state, orderId = ORDER_ID) {
  await visible(page.locator(`[data-testid="detail"][data-order-id="${orderId}"] [data-testid="detail-state"][data-state="${state}"]`));
}

// Who the box says is logged in on this tablet (null when nobody).
async function boxStaff() {
  const s = await page.evaluate(() => fetch('/api/v1/session', { credentials: 'same-origin' }).then((r) => r.json()));
  return s.staff;
}

async function enterPin() {
  await visible(byId('pin-ok'));
  for (const d of STAFF_PIN) await byId('pin-' + d).click();
  await byId('pin-ok').click();
}

async function run(ui) {
  ({ page, screenshot } = ui);

  // 1. A new tablet lands on the pair screen.
  await page.goto(BASE + '/', { waitUntil: 'domcontentloaded', timeout: WAIT });
  await visible(byId('pair-code'));
  await byId('pair-code').fill(PAIR_CODE);
  await byId('pair-name').fill('counter tablet');
  await screenshot('pair');
  await byId('pair-submit').click();

  // 2. Staff log in on the PIN pad.
  await visible(byId('staff-' + STAFF_ID));
  await screenshot('login');
  await byId('staff-' + STAFF_ID).click();
  await enterPin();
  await visible(byId('board'));
  await visible(byId('col-received').getByText('Eingang'));
  await screenshot('board-de');

  // The language toggle: German by locale, English after one tap.
  await byId('lang-toggle').click();
  await visible(byId('col-received').getByText('Incoming'));
  await visible(byId('col-overdue').getByText('Overdue'));
  await screenshot('board-en');

  // 3. Central publishes the order; it must appear without a reload.
  await centralPost('/_control/orders', ORDER_DOC);
  const card = byId('col-received').getByTestId('card-' + ORDER_ID);
  await visible(card);
  await screenshot('order-arrived');

  // 4. Pick it: start, tick every line, shelve it, mark it ready.
  await card.click();
  await visible(byId('action-start-picking'));
  await screenshot('detail-received');
  await byId('action-start-picking').click();
  await waitForDetailState('picking');
  const boxes = page.locator('input[type="checkbox"][data-testid^="line-"]');
  await visible(boxes.first());
  for (const box of await boxes.all()) await box.check();
  // A card number typed as the shelf is refused, and the tablet says why
  // without showing the number again.
  await byId('location').fill('4111 1111 1111 1111');
  await byId('action-ready').click();
  const refused = byId('error');
  await visible(refused);
  await page.waitForFunction(
    () => (document.querySelector('[data-testid="error"]')?.textContent ?? '') === "Please don't enter card numbers.",
    null,
    { timeout: WAIT, polling: 250 },
  );
  await screenshot('card-number-refused');
  await refused.click();
  await waitForDetailState('picking');
  await byId('location').fill('A-12');
  await screenshot('picking');
  await byId('action-ready').click();
  await waitForDetailState('ready');
  await screenshot('ready');

  // 5. The customer's pass is scanned at the counter: the hand-over opens
  //    by itself, already verified.
  await byId('back').click();
  await visible(byId('board'));
  await visible(byId('col-ready').getByTestId('card-' + ORDER_ID));
  const { pass } = await centralPost(
    '/_control/passes',
    JSON.stringify({ order_id: ORDER_ID, exp: Math.floor(Date.now() / 1000) + 3600 }),
  );
  if (typeof pass !== 'string' || !pass) throw new Error('central made no pass');
  fs.writeFileSync(PTY_HOST, pass + '\r\n');
  const flow = page.locator(`[data-testid="handover"][data-order-id="${ORDER_ID}"]`);
  await visible(flow);
  await visible(flow.locator('[data-testid="verified"][data-verified-by="pass"]'));
  await visible(byId('handover-pin'));
  await screenshot('handover');
  await byId('handover-pin').fill(STAFF_PIN);
  await byId('handover-confirm').click();
  await visible(byId('handover-done'));
  await screenshot('handover-done');

  // 6. Found again by search, it shows as handed over.
  await byId('done-back').click();
  await visible(byId('board'));
  await byId('search').fill(ORDER_ID);
  const hit = byId('search-results').getByTestId('card-' + ORDER_ID);
  await visible(hit);
  await screenshot('search');
  await hit.click();
  await waitForDetailState('handed_over');
  await screenshot('detail-handed-over');

  // 7. The log-in is the box's: a reload comes back to the board as the
  //    same staff member, not to the PIN pad.
  await page.reload({ waitUntil: 'domcontentloaded' });
  await visible(byId('board'));
  await page.waitForFunction(
    (name) => document.querySelector('[data-testid="staff-name"]')?.textContent === name,
    STAFF_NAME,
    { timeout: WAIT, polling: 250 },
  );
  const staff = await boxStaff();
  if (!staff || staff.id !== STAFF_ID) throw new Error('the box has no staff session: ' + JSON.stringify(staff));

  // 8. Left alone past the idle time, the tablet asks for the PIN again at
  //    the next action: the PIN pad of the same person, never pairing.
  await centralPost('/_control/orders', ORDER2_DOC);
  const card2 = byId('col-received').getByTestId('card-' + ORDER2_ID);
  await visible(card2);
  await page.waitForTimeout((IDLE_S + 5) * 1000);
  await card2.click();
  await visible(byId('action-start-picking'));
  await byId('action-start-picking').click();
  await visible(byId('pin-ok'));
  await page.waitForFunction(
    () => /log in again/i.test(document.querySelector('[data-testid="error"]')?.textContent ?? ''),
    null,
    { timeout: WAIT, polling: 250 },
  );
  if (await byId('pair-code').count()) throw new Error('an expired staff log-in showed the pair screen');
  await screenshot('pin-again');
  await enterPin();
  await visible(byId('board'));
  await card2.click();
  await byId('action-start-picking').click();
  await waitForDetailState('picking', ORDER2_ID);
  await byId('back').click();

  // 9. Central dies: the banner says so and counts what waits.
  await visible(byId('board'));
  process.kill(Number(CENTRAL_PID), 'SIGKILL');
  const banner = byId('offline-banner');
  await visible(banner);
  await page.waitForFunction(
    () => /\d/.test(document.querySelector('[data-testid="offline-banner"]')?.textContent ?? ''),
    null,
    { timeout: WAIT, polling: 250 },
  );
  await page.waitForFunction(
    () => (document.querySelector('[data-testid="offline-banner"]')?.textContent ?? '').includes('Central unreachable'),
    null,
    { timeout: WAIT, polling: 250 },
  );
  await screenshot('offline');
  console.log('banner: ' + (await banner.textContent()));

  // 10. Log-out ends the box's staff session: after a reload the tablet
  //     shows who may log in, still paired.
  await byId('logout').click();
  await visible(byId('staff-' + STAFF_ID));
  if ((await boxStaff()) !== null) throw new Error('the staff session survived the log-out');
  await page.reload({ waitUntil: 'domcontentloaded' });
  await visible(byId('staff-' + STAFF_ID));
  if (await byId('board').count()) throw new Error('the board is shown after log-out');
  await screenshot('logged-out');
}

await runInChromium('tablet UI', run);
