// Screens: the hand-over (verify who collects: pass, code or ID → the
// quantities, at most what was picked → confirm with the PIN), its "done"
// screen, and pickup passes scanned at the counter: an accepted pass opens
// its order's hand-over already verified, a rejected one is shown big.

import { S } from './state.js';
import { h, $, toast, showError, notice } from './dom.js';
import { t, tName } from './i18n.js';
import { api, orderPath, explain } from './api.js';
import { nav, render, setBusy, stateChip, backButton } from './view.js';
import { itemCount, pickable, older, doAction, askFeedbackButton } from './orders.js';

export function openHandover(order, verifiedBy) {
  const qty = {};
  const missing = new Set(order.missing_lines || []);
  for (const it of order.items || []) {
    // Only what was picked can go over the counter (missing lines: 0).
    qty[it.line_id] = missing.has(it.line_id) ? 0 : pickable(it);
  }
  S.flow = { order, verifiedBy: verifiedBy || null, qty, shelfChecked: false };
  S.screen = 'handover';
  render();
}

// During a hand-over keep the revision current; redraw only when what the
// customer gets changed (items, state, allowed actions).
export async function refreshFlowOrder() {
  const f = S.flow;
  if (!f) return;
  try {
    const o = await api('GET', orderPath(f.order.order_id));
    if (S.flow !== f || S.screen !== 'handover' || older(o, f.order)) return;
    const shape = (x) => JSON.stringify([x.state, x.items, x.allowed, x.require_id_check, x.shelf_check_after_restore]);
    const changed = shape(o) !== shape(f.order);
    f.order = o;
    if (!changed) return;
    if (!(o.allowed || []).includes('handover')) {
      toast('error', t('handoverNotAllowed'));
      nav.detail(o.order_id, o);
      return;
    }
    notice(t('orderChanged'));
    openHandover(o, f.verifiedBy);
  } catch (e) {
    showError(e);
  }
}

// ---------------------------------------------------------------------------
// Screen: hand-over (verify → quantities → PIN).
// ---------------------------------------------------------------------------

export function renderHandover() {
  const f = S.flow;
  const o = f.order;
  return h('section', {
    class: 'flow-screen', 'data-testid': 'handover', 'data-order-id': o.order_id, 'data-verified-by': f.verifiedBy || '',
  },
  h('div', { class: 'detail-head' },
    backButton(() => nav.detail(o.order_id, o)),
    h('h1', {}, t('handoverTitle', o.order_id)),
    h('span', { class: 'customer big' }, (o.customer && o.customer.display_name) || '')),
  o.changes ? h('div', { class: 'alert alert-changes' }, h('strong', {}, t('changesTitle')), h('div', {}, o.changes)) : null,
  o.paid === false ? h('div', { class: 'alert alert-pay' }, t('notPaid')) : null,
  o.shelf_check_after_restore ? shelfStep(f) : null,
  verifyStep(f),
  f.verifiedBy ? linesStep(f) : h('p', { class: 'muted' }, t('verifyFirst')),
  f.verifiedBy ? pinStep(f) : null);
}

// An order that was open in the backup this box was restored from: the
// lost box may have handed it over, so staff confirm the goods are still
// on the shelf before the server takes the handover.
function shelfStep(f) {
  const o = f.order;
  const box = h('input', {
    id: 'shelf-check', type: 'checkbox', 'data-testid': 'shelf-check',
    onchange: (ev) => { f.shelfChecked = ev.target.checked; },
  });
  box.checked = f.shelfChecked;
  return h('section', { class: 'step alert alert-id', 'data-testid': 'step-shelf-check' },
    h('h2', {}, t('shelfCheckTitle')),
    h('p', {}, t('shelfCheckText', o.location || '')),
    h('label', { class: 'shelf-check', for: 'shelf-check' }, box, h('span', {}, t('shelfCheckConfirm'))));
}

function verifyStep(f) {
  const o = f.order;
  if (f.verifiedBy) {
    return h('section', { class: 'step step-done', 'data-testid': 'step-verify' },
      h('h2', {}, t('step1')),
      h('div', { class: 'verified', 'data-testid': 'verified', 'data-verified-by': f.verifiedBy },
        t('verifiedWith', tName('vb_', f.verifiedBy))),
      h('button', {
        class: 'btn btn-ghost', type: 'button', 'data-testid': 'verify-reset',
        onclick: () => { f.verifiedBy = null; render(); },
      }, t('verifyAgain')));
  }
  const pass = h('input', { id: 'verify-pass', type: 'text', autocomplete: 'off', 'data-testid': 'verify-pass' });
  const code = h('input', { id: 'verify-code', type: 'text', autocomplete: 'off', inputmode: 'text', 'data-testid': 'verify-code' });
  const verify = async (body, input) => {
    if (!input.value.trim() || S.busy) return;
    setBusy(true);
    let r;
    try {
      r = await api('POST', '/api/v1/pickups/verify', body);
    } catch (e) {
      if (!e.handled) toast('error', explain(e));
      return;
    } finally {
      setBusy(false);
      input.value = '';
    }
    if (r.order_id !== o.order_id) { toast('error', t('passOtherOrder', r.order_id)); return; }
    if (S.flow !== f) return;
    f.verifiedBy = r.verified_by || (body.pass ? 'pass' : 'code');
    if (r.order) f.order = r.order; // verifying records the arrival: a new revision
    render();
  };
  return h('section', { class: 'step', 'data-testid': 'step-verify' },
    h('h2', {}, t('step1')),
    o.require_id_check ? h('div', { class: 'alert alert-id' }, t('idCheckRequired')) : null,
    h('form', {
      class: 'row', onsubmit: (ev) => { ev.preventDefault(); verify({ pass: pass.value.trim() }, pass); },
    },
    h('label', { for: 'verify-pass' }, t('passLabel')), pass,
    h('button', { class: 'btn', type: 'submit', 'data-testid': 'verify-pass-submit' }, t('check'))),
    h('form', {
      class: 'row',
      onsubmit: (ev) => { ev.preventDefault(); verify({ order_id: o.order_id, code: code.value.trim() }, code); },
    },
    h('label', { for: 'verify-code' }, t('codeLabel')), code,
    h('button', { class: 'btn', type: 'submit', 'data-testid': 'verify-code-submit' }, t('check'))),
    h('div', { class: 'row' },
      h('button', {
        class: 'btn btn-primary', type: 'button', 'data-testid': 'verify-id',
        onclick: () => { f.verifiedBy = 'id_check'; render(); },
      }, t('idChecked')),
      // Without an ID check only where the order allows it, and only for
      // admin sessions (the server refuses it otherwise).
      o.require_id_check || !(S.session && S.session.role === 'admin') ? null : h('button', {
        class: 'btn', type: 'button', 'data-testid': 'verify-override',
        onclick: () => { f.verifiedBy = 'manual_override'; render(); },
      }, t('override'))));
}

function linesStep(f) {
  const rows = (f.order.items || []).map((it) => {
    const max = pickable(it);
    const input = h('input', {
      type: 'number', min: 0, max, step: 1, inputmode: 'numeric', class: 'qty-input',
      'data-testid': 'qty-' + it.line_id, value: String(f.qty[it.line_id] ?? max),
      oninput: (ev) => { f.qty[it.line_id] = clamp(ev.target.value, max); },
      onchange: (ev) => { ev.target.value = String(f.qty[it.line_id]); },
    });
    const step = (delta) => () => {
      f.qty[it.line_id] = clamp((f.qty[it.line_id] ?? max) + delta, max);
      input.value = String(f.qty[it.line_id]);
    };
    return h('div', { class: 'line' },
      h('span', { class: 'line-text' },
        h('span', { class: 'line-name' }, it.name || it.sku),
        h('small', { class: 'muted sku' }, `${t('sku')} ${it.sku}`)),
      h('div', { class: 'stepper' },
        h('button', { class: 'btn key-small', type: 'button', 'data-testid': 'qty-minus-' + it.line_id, 'aria-label': t('less'), onclick: step(-1) }, '−'),
        input,
        h('button', { class: 'btn key-small', type: 'button', 'data-testid': 'qty-plus-' + it.line_id, 'aria-label': t('more'), onclick: step(1) }, '+'),
        h('span', { class: 'muted' }, t('of', max))));
  });
  return h('section', { class: 'step', 'data-testid': 'step-lines' }, h('h2', {}, t('step2')), h('div', { class: 'lines' }, rows));
}

function clamp(v, max) {
  const n = Math.trunc(Number(v));
  return Number.isFinite(n) ? Math.min(Math.max(n, 0), max) : 0;
}

function pinStep(f) {
  const o = f.order;
  const pin = h('input', {
    id: 'handover-pin', type: 'password', inputmode: 'numeric', autocomplete: 'off', maxlength: 12,
    'data-testid': 'handover-pin',
  });
  const confirm = async (ev) => {
    ev.preventDefault();
    const value = pin.value;
    pin.value = '';
    if (!value) { toast('error', t('pinMissing')); pin.focus(); return; }
    const lines = (o.items || []).map((it) => ({ line_id: it.line_id, quantity_handed: f.qty[it.line_id] ?? 0 }));
    const handed = lines.reduce((n, l) => n + l.quantity_handed, 0);
    if (handed === 0) { toast('error', t('nothingHanded')); return; }
    const checkShelf = !!f.order.shelf_check_after_restore;
    if (checkShelf && !f.shelfChecked) { toast('error', t('shelfCheckMissing')); return; }
    const body = { staff_id: S.staff.id, pin: value, verified_by: f.verifiedBy, lines };
    if (checkShelf) body.shelf_checked_after_restore = true;
    const updated = await doAction(f.order, 'handover', body);
    if (!updated || S.flow !== f) return;
    S.done = { order: updated, handed, total: itemCount(f.order) };
    S.flow = null;
    S.screen = 'done';
    render();
    nav.boardChanged();
  };
  return h('form', { class: 'step', 'data-testid': 'step-pin', onsubmit: confirm },
    h('h2', {}, t('step3')),
    h('div', { class: 'row' },
      h('label', { for: 'handover-pin' }, t('yourPin')), pin,
      h('button', { class: 'btn btn-primary btn-big', type: 'submit', 'data-testid': 'handover-confirm' }, t('handoverConfirm'))),
    (o.allowed || []).includes('refuse')
      ? h('button', {
        class: 'btn btn-danger', type: 'button', 'data-testid': 'handover-refuse',
        onclick: () => nav.reason('refuse', f.order),
      }, t('act_refuse'))
      : null);
}

export function renderDone() {
  const { order, handed, total } = S.done;
  const partial = order.state === 'partially_handed_over';
  return h('section', { class: 'panel narrow center-screen', 'data-testid': 'handover-done', 'data-order-id': order.order_id },
    h('div', { class: 'done-mark' }, '✓'),
    h('h1', {}, partial ? t('donePartialTitle') : t('doneTitle')),
    h('p', { class: 'big' }, t('order') + ' ' + order.order_id + ' · ' + ((order.customer && order.customer.display_name) || '')),
    h('p', {}, t('handedSummary', handed, total)),
    stateChip(order.state, 'done-state'),
    h('div', { class: 'done-actions' }, askFeedbackButton(order.order_id)),
    h('button', { class: 'btn btn-primary btn-wide', type: 'button', 'data-testid': 'done-back', onclick: () => nav.board() }, t('toBoard')));
}

// ---------------------------------------------------------------------------
// A pickup pass scanned at the counter (a `pass` event of the live stream):
// an accepted one opens its order's hand-over, already verified (after the
// log-in when nobody is logged in); a rejected one is shown big, over
// everything, until tapped away (or after 20 s).
// ---------------------------------------------------------------------------

export function passScanned(d) {
  if (!d) return;
  if (!d.ok) {
    showPassAlert(d);
    return;
  }
  if (!S.staff) {
    S.pendingPass = d;
    notice(t('passLoginFirst'));
    return;
  }
  openPassOrder(d);
}

export async function openPassOrder(d) {
  S.pendingPass = null;
  hidePassAlert();
  let order = d.order;
  if (!order) {
    try { order = await api('GET', orderPath(d.order_id)); } catch (e) { showError(e); return; }
  }
  if ((order.allowed || []).includes('handover')) {
    openHandover(order, 'pass');
  } else {
    nav.detail(order.order_id, order);
    toast('error', t('handoverNotAllowed'));
  }
}

let passAlertTimer = null;

function showPassAlert(d) {
  const reason = d.reason ? tName('vr_', d.reason) : '';
  const root = $('pass-alert-root');
  root.replaceChildren(h('div', { class: 'overlay', onclick: hidePassAlert },
    h('div', { class: 'pass-alert', 'data-testid': 'pass-alert', 'data-reason': d.reason || '', role: 'alert' },
      h('h2', {}, t('passAlertTitle')),
      h('p', { class: 'big' }, reason),
      d.order_id ? h('p', {}, t('passForOrder', d.order_id)) : null,
      h('button', { class: 'btn btn-primary btn-wide', type: 'button', 'data-testid': 'pass-alert-ok' }, t('dismiss')))));
  clearTimeout(passAlertTimer);
  passAlertTimer = setTimeout(hidePassAlert, 20000);
}

function hidePassAlert() {
  clearTimeout(passAlertTimer);
  $('pass-alert-root').replaceChildren();
}
