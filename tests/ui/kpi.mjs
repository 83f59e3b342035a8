// Drives issue 13's tablets in headless Chromium, three at once (each its
// own browser profile and pairing cookie): the manager dashboard shows NPS
// as "not enough answers" after the 9 answers the Rust test posted; the
// counter tablet asks for feedback on a handed-over order; the kiosk of
// the same register asks about that pickup, refuses a card number in the
// comment with a plain message, takes the 10th answer, thanks and goes
// back to idle; the dashboard's NPS then appears without a reload.
// Run by tests/it/ui_browser.rs, which has started store-edge, handed the
// order over and posted the 9 answers; everything comes from the
// environment. Exits 0 on success, 1 with failure*.png and the console.

import { WAIT, env, visible, runInChromium } from './harness.mjs';

const BASE = env('STORE_EDGE_URL').replace(/\/+$/, '');
const ORDER_ID = env('ORDER_ID');
const STAFF_ID = env('STAFF_ID');
const STAFF_PIN = env('STAFF_PIN');
const CARD_NUMBER = env('CARD_NUMBER');
// What the dashboard must show once the 10th answer (a 10) is in.
const NPS_BEFORE_ANSWERS = env('NPS_BEFORE_ANSWERS');
const NPS_AFTER = env('NPS_AFTER');
const KIOSK_IDLE_S = 3;

// `page`'s element `testId` with the data attribute `attr` = `value`.
const withData = (page, testId, attr, value) =>
  page.locator(`[data-testid="${testId}"][data-${attr}="${value}"]`);

async function pair(page, path, code, name) {
  await page.goto(BASE + path, { waitUntil: 'domcontentloaded', timeout: WAIT });
  await visible(page.getByTestId('pair-code'));
  await page.getByTestId('pair-code').fill(code);
  await page.getByTestId('pair-name').fill(name);
  await page.getByTestId('pair-submit').click();
}

// 1. The manager's tablet: the dashboard, NPS still without a score.
async function managerSees9Answers(manager, screenshot) {
  await pair(manager, '/', env('MANAGER_CODE'), 'manager tablet');
  await visible(manager.locator('[data-testid="dashboard"][data-day]'));
  await visible(withData(manager, 'kpi-nps-today', 'answers', NPS_BEFORE_ANSWERS));
  await visible(withData(manager, 'kpi-nps-today', 'score', ''));
  await visible(manager.getByTestId('kpi-nps').getByText('Noch nicht genug Antworten'));
  await screenshot('dashboard-not-enough-answers', manager);
}

// 2. The kiosk pairs on its own page and waits.
async function kioskPairs(kiosk, screenshot) {
  await pair(kiosk, `/ui/kiosk.html?idle_s=${KIOSK_IDLE_S}`, env('KIOSK_CODE'), 'kiosk');
  await visible(kiosk.getByTestId('kiosk-idle'));
  await screenshot('kiosk-idle', kiosk);
}

// 3. The counter tablet finds the handed-over order and asks.
async function counterAsks(counter, screenshot) {
  await pair(counter, '/', env('STAFF_CODE'), 'counter tablet');
  await visible(counter.getByTestId('staff-' + STAFF_ID));
  await counter.getByTestId('staff-' + STAFF_ID).click();
  await visible(counter.getByTestId('pin-ok'));
  for (const d of STAFF_PIN) await counter.getByTestId('pin-' + d).click();
  await counter.getByTestId('pin-ok').click();
  await visible(counter.getByTestId('board'));
  await counter.getByTestId('search').fill(ORDER_ID);
  await counter.getByTestId('search-results').getByTestId('card-' + ORDER_ID).click();
  await visible(withData(counter, 'detail', 'order-id', ORDER_ID));
  await counter.getByTestId('ask-feedback').click();
  await visible(counter.getByTestId('notice').getByText('Feedback-Terminal fragt jetzt'));
  await screenshot('counter-asked-for-feedback', counter);
}

// 4. The kiosk asks about that pickup; a card number in the comment is
// refused with a plain message and the comment stays to be fixed.
async function kioskAnswers(kiosk, screenshot) {
  const q = kiosk.locator(`[data-testid="kiosk-question"][data-context="pickup"][data-order-id="${ORDER_ID}"]`);
  await visible(q);
  await visible(q.getByText('Ihre Abholung', { exact: true }));
  await kiosk.getByTestId('score-10').click();
  await kiosk.getByTestId('kiosk-comment').fill(`Meine Karte ${CARD_NUMBER} bitte speichern`);
  await screenshot('kiosk-question', kiosk);
  await kiosk.getByTestId('kiosk-send').click();
  await visible(withData(kiosk, 'kiosk-error', 'reason', 'card_number'));
  await visible(kiosk.getByText('Bitte keine Kartennummern eingeben'));
  if (!(await kiosk.getByTestId('kiosk-comment').inputValue()).includes('Meine Karte')) {
    throw new Error('the refused comment was not kept for the customer to fix');
  }
  await screenshot('kiosk-card-number-refused', kiosk);
  // English, then fix the comment and send.
  await kiosk.getByTestId('kiosk-lang').click();
  await visible(q.getByText('How likely are you to recommend us'));
  await kiosk.getByTestId('kiosk-comment').fill('Quick and friendly, thank you!');
  await kiosk.getByTestId('kiosk-send').click();
  await visible(kiosk.getByTestId('kiosk-thanks'));
  await visible(kiosk.getByText('Thank you!'));
  await screenshot('kiosk-thanks', kiosk);
  // Back to idle by itself after ?idle_s.
  await visible(kiosk.getByTestId('kiosk-idle'));
}

// 5. The dashboard's NPS appears live, without a reload.
async function managerSeesNps(manager, screenshot) {
  await visible(withData(manager, 'kpi-nps-today', 'score', NPS_AFTER));
  await visible(withData(manager, 'kpi-nps-today', 'answers', String(Number(NPS_BEFORE_ANSWERS) + 1)));
  const shown = await manager.getByTestId('kpi-nps-today').textContent();
  if (!shown.includes(NPS_AFTER)) throw new Error(`the NPS card shows ${shown}, not ${NPS_AFTER}`);
  await screenshot('dashboard-nps', manager);
  await manager.getByTestId('lang-toggle').click();
  await visible(manager.getByRole('heading', { name: 'Net Promoter Score' }));
  await screenshot('dashboard-nps-en', manager);
}

async function run({ page, screenshot, openPage }) {
  const manager = page;
  await managerSees9Answers(manager, screenshot);
  const kiosk = await openPage('kiosk');
  await kioskPairs(kiosk, screenshot);
  const counter = await openPage('counter');
  await counterAsks(counter, screenshot);
  await kioskAnswers(kiosk, screenshot);
  await managerSeesNps(manager, screenshot);
  console.log('the 10th answer came from the kiosk');
}

await runInChromium('kpi', run);
