// Screen: the board, five sections in the order a picker works through
// them, with search. The skeleton is built once per render; live updates
// only refill the lists so the search box keeps focus while staff type.
// Bursts of order events become one reload.

import { S } from './state.js';
import { h, $, showError } from './dom.js';
import { t, tName, fmtTime } from './i18n.js';
import { api, enc } from './api.js';
import { nav, render, stateChip } from './view.js';
import { itemCount } from './orders.js';

// The board's five sections, in the order a picker works through them.
const COLUMNS = ['received', 'picking', 'ready', 'due', 'overdue'];

export function goBoard() {
  S.screen = 'board';
  render();
  refreshBoard();
  if (S.board.query.trim()) runSearch();
}

let boardBusy = false;
let boardAgain = false;
let boardSoon = null;

// Bursts of order events become one reload.
export function scheduleBoardRefresh() {
  clearTimeout(boardSoon);
  boardSoon = setTimeout(() => {
    if (S.screen === 'board') {
      refreshBoard();
      if (S.board.query.trim()) runSearch();
    }
  }, 200);
}

export async function refreshBoard() {
  if (!S.staff) return;
  if (boardBusy) { boardAgain = true; return; }
  boardBusy = true;
  try {
    const answers = await Promise.all(COLUMNS.map((c) => api('GET', '/api/v1/pickups?state=' + c)));
    COLUMNS.forEach((c, i) => { S.board.lists[c] = (answers[i] && answers[i].orders) || []; });
    if (S.screen === 'board') fillBoard();
  } catch (e) {
    showError(e);
  } finally {
    boardBusy = false;
    if (boardAgain) { boardAgain = false; refreshBoard(); }
  }
}

let searchSeq = 0;
let searchTimer = null;

export async function runSearch() {
  clearTimeout(searchTimer);
  const q = S.board.query.trim();
  const seq = ++searchSeq;
  if (!q) {
    S.board.results = null;
    fillSearch();
    return;
  }
  try {
    const r = await api('GET', '/api/v1/pickups?q=' + enc(q));
    if (seq !== searchSeq) return; // a newer query is already under way
    S.board.results = (r && r.orders) || [];
    fillSearch();
  } catch (e) {
    showError(e);
  }
}

export function renderBoard() {
  const input = h('input', {
    type: 'search', class: 'search', placeholder: t('search'), 'aria-label': t('search'),
    'data-testid': 'search', value: S.board.query, autocomplete: 'off',
    oninput: (ev) => {
      S.board.query = ev.target.value;
      clearTimeout(searchTimer);
      searchTimer = setTimeout(runSearch, 300);
    },
    onkeydown: (ev) => { if (ev.key === 'Enter') runSearch(); },
  });
  const root = h('section', { class: 'board-screen', 'data-testid': 'board' },
    h('div', { class: 'board-head' },
      input,
      h('button', {
        class: 'btn btn-ghost', type: 'button', 'data-testid': 'search-clear', 'aria-label': t('searchClear'),
        onclick: () => { S.board.query = ''; input.value = ''; runSearch(); },
      }, '✕'),
      h('button', { class: 'btn', type: 'button', 'data-testid': 'refresh', onclick: () => nav.refreshVisible() }, t('refresh'))),
    h('div', { id: 'printer-chips', class: 'printer-chips', 'data-testid': 'printers' }),
    h('div', { id: 'search-box' }),
    h('div', { class: 'columns' }, COLUMNS.map((c) => h('section', { class: 'column col-' + c, 'data-testid': 'col-' + c },
      h('h2', {}, t('state_' + c), ' ', h('span', { class: 'count', id: 'count-' + c, 'data-testid': 'count-' + c }, '–')),
      h('div', { class: 'cards', id: 'cards-' + c })))));
  // Fill after the caller attached the tree.
  queueMicrotask(() => { fillBoard(); fillSearch(); fillPrinters(); });
  return root;
}

function fillBoard() {
  for (const c of COLUMNS) {
    const list = $('cards-' + c);
    if (!list) return;
    const orders = (S.board.lists[c] || []).slice().sort(byPickupBy);
    $('count-' + c).textContent = S.board.lists[c] ? String(orders.length) : '–';
    list.replaceChildren(...(orders.length ? orders.map((o) => card(o, false)) : [h('p', { class: 'muted empty' }, t('columnEmpty'))]));
  }
}

// Each printer's paper state (`paper` once the box reads it; the device
// state otherwise).
export function fillPrinters() {
  const box = $('printer-chips');
  if (!box) return;
  const printers = (S.print && S.print.printers) || [];
  box.replaceChildren(...printers.map((p) => {
    const paper = p.paper && p.paper !== 'unknown' ? p.paper : (p.state || 'unknown');
    return h('span', { class: 'tag printer-chip paper-' + paper, 'data-testid': 'printer-' + p.id },
      t('printerChip', p.id, tName('paper_', paper)));
  }));
}

function fillSearch() {
  const box = $('search-box');
  if (!box) return;
  const r = S.board.results;
  if (r == null) { box.replaceChildren(); return; }
  box.replaceChildren(h('section', { class: 'search-results', 'data-testid': 'search-results' },
    h('h2', {}, t('searchResults'), ' ', h('span', { class: 'count' }, String(r.length))),
    r.length ? h('div', { class: 'cards cards-row' }, r.map((o) => card(o, true))) : h('p', { class: 'muted' }, t('noResults'))));
}

function byPickupBy(a, b) {
  return String(a.pickup_by || '').localeCompare(String(b.pickup_by || ''));
}

function card(o, withState) {
  const customer = (o.customer && o.customer.display_name) || '';
  return h('button', {
    class: 'order-card' + (o.arrived_at ? ' is-arrived' : ''), type: 'button', 'data-testid': 'card-' + o.order_id,
    onclick: () => nav.detail(o.order_id, o),
  },
  h('div', { class: 'card-top' },
    h('span', { class: 'order-id' }, o.order_id),
    withState ? stateChip(o.state) : null),
  h('div', { class: 'customer' }, customer),
  h('div', { class: 'card-meta' },
    h('span', {}, t('items', itemCount(o))),
    o.pickup_by ? h('span', {}, t('pickupBy') + ' ' + fmtTime(o.pickup_by)) : null),
  (o.location || o.arrived_at || o.changes)
    ? h('div', { class: 'card-tags' },
      o.location ? h('span', { class: 'tag' }, t('location') + ' ' + o.location) : null,
      o.arrived_at ? h('span', { class: 'tag tag-arrived', 'data-testid': 'arrived-' + o.order_id }, t('arrived')) : null,
      o.changes ? h('span', { class: 'tag tag-changed' }, t('changed')) : null)
    : null);
}
