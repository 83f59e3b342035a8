// The staff tablet over HTTPS (issue 14): Chromium trusts the test's
// throwaway CA only by its pinned key (CHROMIUM_EXTRA_ARGS carries
// --ignore-certificate-errors-spki-list=<its SPKI hash>; no blanket
// ignoring of certificate errors), opens the redirect port's plain
// http:// address and lands on https, pairs, logs in with the PIN, sees
// the board, checks that the session cookie is Secure and HttpOnly, and
// that a reload keeps the log-in.
// Run by tests/it/ui_browser.rs; everything comes from the environment.
// Exits 0 on success, 1 with failure.png and the page's console otherwise.

import { env, visible, runInChromium } from './harness.mjs';

const BASE = env('STORE_EDGE_URL').replace(/\/+$/, '');
const PLAIN = env('PLAIN_URL').replace(/\/+$/, '');
const STAFF_ID = env('STAFF_ID');
const STAFF_PIN = env('STAFF_PIN');

async function run({ page, screenshot }) {
  const byId = (id) => page.getByTestId(id);
  if (!BASE.startsWith('https://')) throw new Error(`STORE_EDGE_URL is not https: ${BASE}`);

  // 1. The address typed in clear is sent to https (308 from the redirect port).
  await page.goto(PLAIN + '/', { waitUntil: 'domcontentloaded' });
  if (!page.url().startsWith(BASE + '/')) throw new Error(`not sent to https: ${page.url()}`);
  await visible(byId('pair-code'));
  await screenshot('pair-over-https');

  // 2. Pair and log in.
  await byId('pair-code').fill(env('PAIR_CODE'));
  await byId('pair-name').fill('counter tablet');
  await byId('pair-submit').click();
  await visible(byId('staff-' + STAFF_ID));
  await byId('staff-' + STAFF_ID).click();
  await visible(byId('pin-ok'));
  for (const d of STAFF_PIN) await byId('pin-' + d).click();
  await byId('pin-ok').click();
  await visible(byId('board'));
  await screenshot('board-over-https');

  // 3. The session cookie is Secure: the browser never sends it in clear.
  const cookies = await page.context().cookies(BASE);
  const session = cookies.find((c) => c.name === 'store_edge_session');
  if (!session) throw new Error('no session cookie: ' + JSON.stringify(cookies.map((c) => c.name)));
  if (!session.secure || !session.httpOnly || session.sameSite !== 'Strict') {
    throw new Error('the session cookie is not Secure, HttpOnly, SameSite=Strict: ' + JSON.stringify({ ...session, value: '…' }));
  }
  // (Not checked by asking for PLAIN's cookies: Chromium counts 127.0.0.1
  // as a secure origin even over http, so on loopback it would list it.)

  // 4. A reload over https keeps the staff log-in (who is logged in comes from the box).
  await page.reload({ waitUntil: 'domcontentloaded' });
  await visible(byId('board'));
  const who = await page.evaluate(() => fetch('/api/v1/session', { credentials: 'same-origin' }).then((r) => r.json()));
  if (!who.staff || who.staff.id !== STAFF_ID) throw new Error('the log-in was lost: ' + JSON.stringify(who));
  console.log(`served over ${new URL(page.url()).protocol}`);
}

await runInChromium('tls', run);
