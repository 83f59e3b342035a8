// The frame around the screens: `render()` draws the top bar and the
// current screen (`S.screen`), the banners (box unreachable, central
// offline), the busy state, the language switch, the small widgets several
// screens use, and `nav`: how one screen opens another.

import { S, LANG_KEY, storageSet } from './state.js';
import { h, $ } from './dom.js';
import { t, tName } from './i18n.js';

// How screens reach each other. A screen module never imports another one
// (the board opens an order, the order goes back to the board: the imports
// would run in a circle); it calls these, which app.js fills in once at
// start-up with the screens' own functions.
export const nav = {
  boot: () => {}, // start over: ask the box who this tablet is
  board: () => {}, // the board
  detail: (_orderId, _order) => {}, // one order
  handover: (_order, _verifiedBy) => {}, // the hand-over flow
  reason: (_kind, _order) => {}, // refuse or cancel with a reason
  passOrder: (_pass) => {}, // the order of an accepted scanned pass
  logout: () => {}, // end the staff session
  refreshVisible: () => {}, // reload what is on screen
  boardChanged: () => {}, // orders changed: reload the board soon
  printDecide: (_jobId, _action) => {}, // reprint or skip an uncertain print job
  dashboard: () => {}, // the manager dashboard (managers; admin from the top bar)
};

// Each screen's render function by `S.screen`; app.js adds the screens.
const screens = { loading: renderLoading };

export function defineScreens(table) {
  Object.assign(screens, table);
}

export function render() {
  renderTopbar();
  const root = $('screen');
  root.replaceChildren();
  root.dataset.screen = S.screen;
  root.append(screens[S.screen]());
}

function renderTopbar() {
  const bar = $('topbar');
  bar.replaceChildren(
    h('div', { class: 'brand' }, S.session && S.session.role === 'manager' ? t('navDashboard') : t('appTitle')),
    h('div', { class: 'who' },
      S.session && S.session.name ? h('span', { class: 'tablet-name' }, t('tablet') + ': ' + S.session.name) : null,
      S.staff ? h('span', { class: 'staff-name', 'data-testid': 'staff-name' }, S.staff.name) : null),
    h('div', { class: 'bar-actions' },
      // Admin reaches the dashboard from here (a manager sees nothing else).
      S.session && S.session.role === 'admin'
        ? h('button', {
          class: 'btn btn-ghost', type: 'button', 'data-testid': S.screen === 'dashboard' ? 'nav-board' : 'nav-dashboard',
          onclick: () => (S.screen === 'dashboard' ? nav.boot() : nav.dashboard()),
        }, S.screen === 'dashboard' ? t('navBoard') : t('navDashboard'))
        : null,
      S.staff && S.session
        ? h('button', { class: 'btn btn-ghost', type: 'button', 'data-testid': 'logout', onclick: () => nav.logout() }, t('logout'))
        : null,
      h('button', {
        class: 'btn btn-ghost', type: 'button', 'data-testid': 'lang-toggle', 'aria-label': t('langToggleLabel'),
        onclick: () => setLang(S.lang === 'de' ? 'en' : 'de'),
      }, t('langToggle'))),
  );
}

export function renderBanners() {
  const root = $('banners');
  root.replaceChildren();
  if (S.boxDown) {
    root.append(h('div', { class: 'banner banner-box', 'data-testid': 'box-banner', role: 'alert' }, t('boxBanner')));
  }
  if (S.session && S.sync && S.sync.reachable === false) {
    const n = Number(S.sync.unsent) || 0;
    root.append(h('div', { class: 'banner banner-offline', 'data-testid': 'offline-banner', role: 'status' },
      t('centralOffline', n)));
  }
  // Every staff tablet shows uncertain print jobs until someone decides.
  const uncertain = (S.staff && S.print && S.print.uncertain) || [];
  if (uncertain.length) {
    root.append(h('div', { class: 'banner banner-print', 'data-testid': 'print-banner', role: 'alert' },
      h('strong', {}, t('printUncertain', uncertain.length)),
      uncertain.map((j) => h('div', { class: 'print-job', 'data-testid': 'print-job-' + j.id },
        h('span', {}, t('printJobLine', tName('doc_', j.document), j.printer_id)),
        h('button', { class: 'btn', type: 'button', 'data-testid': 'print-reprint-' + j.id, onclick: () => nav.printDecide(j.id, 'reprint') }, t('printReprint')),
        h('button', { class: 'btn btn-ghost', type: 'button', 'data-testid': 'print-skip-' + j.id, onclick: () => nav.printDecide(j.id, 'skip') }, t('printSkip'))))));
  }
}

function renderLoading() {
  return h('section', { class: 'center-screen', 'data-testid': 'loading' },
    h('p', { class: 'big' }, t('loading')),
    h('button', { class: 'btn', type: 'button', onclick: () => nav.boot() }, t('retry')));
}

function setLang(lang) {
  S.lang = lang;
  storageSet(localStorage, LANG_KEY, lang);
  document.documentElement.lang = lang;
  render();
  renderBanners();
}

export function setBusy(on) {
  S.busy = on;
  $('screen').classList.toggle('busy', on);
}

export function stateChip(state, testid) {
  return h('span', { class: 'state state-' + state, 'data-state': state, 'data-testid': testid || null },
    tName('state_', state));
}

export function backButton(onclick) {
  return h('button', { class: 'btn btn-ghost', type: 'button', 'data-testid': 'back', onclick }, '‹ ' + t('back'));
}
