// Staff tablet UI for store-edge: pickup board, picking, hand-over, and the
// manager dashboard. The entry module: start-up (by the token's role: a
// manager gets the dashboard, a kiosk its own page kiosk.html), what live
// events do, and the wiring of the screens (pairing.js, board.js,
// order.js, handover.js, dashboard.js) into `nav`, the render table and
// the API's handlers.
// Plain ES2020 modules, no build step and no external URLs: the files are
// embedded in the binary (src/api/ui.rs) and the tablet has no internet.
// All DOM is built with createElement/textContent (dom.js's `h`) so API
// data can never become markup.

import { S, STAFF_KEY, storageSet, sessionStaff } from './state.js';
import { showError } from './dom.js';
import { api, setApiHandlers, startLive, pollSync } from './api.js';
import { nav, defineScreens, render, renderBanners } from './view.js';
import { goPair, goLogin, staffLoginAgain, logout, renderPair, renderLogin } from './pairing.js';
import { goBoard, scheduleBoardRefresh, refreshBoard, runSearch, renderBoard, fillPrinters } from './board.js';
import { openDetail, openReason, refreshDetail, renderDetail, renderRefuse, renderCancel } from './order.js';
import {
  openHandover, refreshFlowOrder, renderHandover, renderDone, passScanned, openPassOrder,
} from './handover.js';
import { pollPrinters, setPrintChanged, decide } from './printers.js';
import { goDashboard, loadKpis, scheduleKpiReload, renderDashboard } from './dashboard.js';

let bootTimer = null;

async function boot() {
  clearTimeout(bootTimer);
  S.screen = 'loading';
  render();
  try {
    S.session = await api('GET', '/api/v1/session');
  } catch (e) {
    if (!e.handled) {
      showError(e);
      bootTimer = setTimeout(boot, 5000);
    }
    return;
  }
  // A kiosk token belongs on the kiosk's own page (kiosk.html).
  if (S.session && S.session.role === 'kiosk') {
    location.replace('/ui/kiosk.html');
    return;
  }
  storageSet(sessionStorage, STAFF_KEY, null);
  startLive();
  // A manager sees the dashboard only (no orders, no staff log-in).
  if (S.session && S.session.role === 'manager') {
    goDashboard();
    return;
  }
  pollSync();
  S.staff = sessionStaff(S.session);
  if (S.staff) goBoard(); else goLogin();
  pollPrinters();
}

async function printDecide(jobId, action) {
  try {
    await decide(jobId, action);
  } catch (e) {
    showError(e);
  }
}

setPrintChanged(() => { renderBanners(); fillPrinters(); });

function onOrderEvent(d) {
  if (!d) return;
  scheduleBoardRefresh();
  const id = d.order_id;
  if (S.screen === 'detail' && S.detail && S.detail.orderId === id) refreshDetail();
  if (S.screen === 'handover' && S.flow && S.flow.order.order_id === id) refreshFlowOrder();
  pollSync();
}

function refreshVisible() {
  if (S.screen === 'dashboard') {
    loadKpis();
    return;
  }
  if (!S.staff) return;
  if (S.screen === 'board') {
    refreshBoard();
    if (S.board.query.trim()) runSearch();
  }
  if (S.screen === 'detail') refreshDetail();
  if (S.screen === 'handover') refreshFlowOrder();
}

setApiHandlers({
  unauthorized: goPair,
  staffLoginRequired: staffLoginAgain,
  connectivity: renderBanners,
  streamOpen: refreshVisible,
  order: onOrderEvent,
  pass: passScanned,
  kpisChanged: scheduleKpiReload,
});

defineScreens({
  pair: renderPair, login: renderLogin, board: renderBoard, detail: renderDetail,
  handover: renderHandover, refuse: renderRefuse, cancel: renderCancel, done: renderDone,
  dashboard: renderDashboard,
});

Object.assign(nav, {
  boot,
  board: goBoard,
  detail: openDetail,
  handover: openHandover,
  reason: openReason,
  passOrder: openPassOrder,
  logout,
  refreshVisible,
  boardChanged: scheduleBoardRefresh,
  printDecide,
  dashboard: goDashboard,
});

// The 30 s fallback behind the live stream.
setInterval(refreshVisible, 30000);

document.documentElement.lang = S.lang;
boot();
