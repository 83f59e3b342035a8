// Screens: one order (its details, ticking lines while picking, the shelf,
// the staff actions the box allows) and the two actions that need a reason
// first: refuse (with the PIN) and cancel. Redraws only on a real change
// (revision or state), so typing and ticking are not disturbed.

import { S } from './state.js';
import { h, $, toast, showError, notice } from './dom.js';
import { t, tName, fmtTime } from './i18n.js';
import { api, orderPath } from './api.js';
import { nav, render, stateChip, backButton } from './view.js';
import { itemCount, older, doAction, feedbackAskable, askFeedbackButton } from './orders.js';

const ACTIONS = ['start-picking', 'ready', 'handover', 'reminded', 'refuse', 'cancel'];
const REFUSE_REASONS = ['damaged', 'wrong_item', 'changed_mind', 'other'];

export function openDetail(orderId, order) {
  S.screen = 'detail';
  S.detail = freshDetail(order || null, orderId);
  render();
  refreshDetail();
}

function freshDetail(order, orderId) {
  const ticks = {};
  for (const it of (order && order.items) || []) ticks[it.line_id] = Number(it.picked) > 0;
  return { orderId: orderId || (order && order.order_id), order, ticks, location: (order && order.location) || '' };
}

export function openReason(kind, order) {
  S.reason = { order, reason: kind === 'refuse' ? REFUSE_REASONS[0] : '' };
  S.screen = kind;
  render();
}

export async function refreshDetail() {
  const d = S.detail;
  if (!d) return;
  try {
    const o = await api('GET', orderPath(d.orderId));
    if (S.detail !== d || S.screen !== 'detail') return;
    if (d.order && older(o, d.order)) return; // an answer overtaken by an action's
    // Redraw only on a real change so typing and ticking are not disturbed.
    if (!d.order || String(o.revision) !== String(d.order.revision) || o.state !== d.order.state) {
      const keep = d.order && d.order.state === o.state;
      const next = freshDetail(o, d.orderId);
      if (keep) {
        Object.assign(next.ticks, d.ticks);
        next.location = d.location || next.location;
      }
      S.detail = next;
      render();
    }
  } catch (e) {
    showError(e);
  }
}

// ---------------------------------------------------------------------------
// Screen: order detail.
// ---------------------------------------------------------------------------

export function renderDetail() {
  const d = S.detail;
  const o = d.order;
  if (!o) {
    return h('section', { class: 'panel', 'data-testid': 'detail', 'data-order-id': d.orderId },
      backButton(() => nav.board()), h('p', { class: 'muted' }, t('loading')));
  }
  const allowed = o.allowed || [];
  const picking = o.state === 'picking' && allowed.includes('ready');
  const missing = new Set(o.missing_lines || []);

  const lines = (o.items || []).map((it) => {
    const text = [
      h('span', { class: 'qty' }, `${it.quantity} ×`), ' ',
      h('span', { class: 'line-name' }, it.name || it.sku),
      h('small', { class: 'muted sku' }, `${t('sku')} ${it.sku}${it.gtin ? ' · ' + it.gtin : ''}`),
    ];
    if (picking) {
      const box = h('input', {
        type: 'checkbox', 'data-testid': 'line-' + it.line_id, checked: !!d.ticks[it.line_id],
        onchange: (ev) => { d.ticks[it.line_id] = ev.target.checked; },
      });
      return h('label', { class: 'line line-tick' }, box, h('span', { class: 'line-text' }, text));
    }
    return h('div', { class: 'line' + (missing.has(it.line_id) ? ' is-missing' : '') },
      h('span', { class: 'line-text' }, text),
      missing.has(it.line_id) ? h('span', { class: 'tag tag-missing' }, t('missing')) : null,
      it.picked != null && !missing.has(it.line_id) && Number(it.picked) !== Number(it.quantity)
        ? h('span', { class: 'tag' }, t('pickedOf', it.picked, it.quantity)) : null);
  });

  const location = picking
    ? h('div', { class: 'field' },
      h('label', { for: 'location' }, t('locationLabel')),
      h('input', {
        id: 'location', type: 'text', autocomplete: 'off', maxlength: 40, 'data-testid': 'location', value: d.location,
        oninput: (ev) => { d.location = ev.target.value; },
      }))
    : null;

  const info = (label, value, testid) => value == null || value === ''
    ? null
    : h('div', { class: 'info' }, h('dt', {}, label), h('dd', { 'data-testid': testid || null }, value));
  const arrival = o.arrived_at
    ? t('arrivedVia', fmtTime(o.arrived_at), tName('vb_', o.arrived_verified_by || ''))
    : t('notArrived');

  return h('section', { class: 'detail-screen', 'data-testid': 'detail', 'data-order-id': o.order_id },
    h('div', { class: 'detail-head' },
      backButton(() => nav.board()),
      h('h1', {}, t('order') + ' ' + o.order_id),
      stateChip(o.state, 'detail-state')),
    o.changes ? h('div', { class: 'alert alert-changes', 'data-testid': 'detail-changes' },
      h('strong', {}, t('changesTitle')), h('div', {}, o.changes)) : null,
    o.require_id_check ? h('div', { class: 'alert alert-id' }, t('idCheckRequired')) : null,
    o.paid === false ? h('div', { class: 'alert alert-pay' }, t('notPaid')) : null,
    o.shelf_check_after_restore && (o.allowed || []).includes('handover')
      ? h('div', { class: 'alert alert-id', 'data-testid': 'detail-shelf-check' }, t('shelfCheckTitle'))
      : null,
    h('div', { class: 'detail-body' },
      h('dl', { class: 'infos' },
        info(t('customer'), (o.customer && o.customer.display_name) || ''),
        info('', o.customer && o.customer.phone_last4 ? t('phoneEnds', o.customer.phone_last4) : ''),
        info(t('pickupBy'), fmtTime(o.pickup_by)),
        info(t('location'), o.location || '', 'detail-location'),
        info(t('arrival'), arrival),
        info(t('paid'), o.paid === true ? '✓' : ''),
        info(t('reminders'), o.reminders_sent ? String(o.reminders_sent) : ''),
        info(t('channel'), o.channel || ''),
        info(t('centralStatus'), o.central_status || ''),
        info(t('updated'), fmtTime(o.updated_at))),
      h('div', { class: 'lines-box' },
        h('h2', {}, t('lines'), ' ', h('span', { class: 'count' }, String(itemCount(o)))),
        picking ? h('p', { class: 'muted' }, t('tickHelp')) : null,
        picking ? h('button', {
          class: 'btn btn-ghost', type: 'button', 'data-testid': 'tick-all',
          onclick: () => { for (const it of o.items || []) d.ticks[it.line_id] = true; render(); },
        }, t('tickAll')) : null,
        h('div', { class: 'lines' }, lines),
        location)),
    h('div', { class: 'actions', 'data-testid': 'actions' },
      allowed.length
        ? ACTIONS.filter((a) => allowed.includes(a)).map((a) => actionButton(o, a))
        : feedbackAskable(o) ? null : h('p', { class: 'muted' }, t('noActions')),
      feedbackAskable(o) ? askFeedbackButton(o.order_id) : null,
      o.location && (o.state === 'ready' || o.state === 'no_show')
        ? h('button', { class: 'btn', type: 'button', 'data-testid': 'print-slip', onclick: () => printSlip(o) }, t('printSlip'))
        : null));
}

// "Print slip again" on the counter's slip printer.
async function printSlip(o) {
  try {
    await api('POST', orderPath(o.order_id) + '/slip');
    notice(t('slipQueued'));
  } catch (e) {
    showError(e);
  }
}

function actionButton(o, name) {
  const kind = name === 'refuse' || name === 'cancel' ? 'btn-danger'
    : name === 'reminded' ? '' : 'btn-primary';
  return h('button', {
    class: 'btn ' + kind, type: 'button', 'data-testid': 'action-' + name,
    onclick: () => runDetailAction(o, name),
  }, t('act_' + name));
}

async function runDetailAction(o, name) {
  const staffId = S.staff.id;
  const d = S.detail;
  let body;
  switch (name) {
    case 'handover': nav.handover(o, null); return;
    case 'refuse': openReason('refuse', o); return;
    case 'cancel': openReason('cancel', o); return;
    case 'ready': {
      const location = (d.location || '').trim();
      if (!location) {
        toast('error', t('locationRequired'));
        const el = $('location');
        if (el) el.focus();
        return;
      }
      const missing = (o.items || []).filter((it) => !d.ticks[it.line_id]).map((it) => it.line_id);
      body = { staff_id: staffId, location, missing_lines: missing };
      break;
    }
    default: body = { staff_id: staffId };
  }
  const updated = await doAction(o, name, body);
  if (!updated) return;
  if (name === 'reminded') notice(t('remindedSaved'));
  if (S.detail === d) {
    S.detail = freshDetail(updated, updated.order_id);
    render();
  }
  nav.boardChanged();
}

// ---------------------------------------------------------------------------
// Screens: refuse and cancel (a reason, then the action).
// ---------------------------------------------------------------------------

export function renderRefuse() {
  const r = S.reason;
  const o = r.order;
  const select = h('select', {
    id: 'refuse-reason', 'data-testid': 'refuse-reason',
    onchange: (ev) => { r.reason = ev.target.value; },
  }, REFUSE_REASONS.map((x) => h('option', { value: x }, t('rr_' + x))));
  select.value = r.reason;
  const pin = h('input', {
    id: 'refuse-pin', type: 'password', inputmode: 'numeric', autocomplete: 'off', maxlength: 12, 'data-testid': 'refuse-pin',
  });
  const submit = async (ev) => {
    ev.preventDefault();
    const value = pin.value;
    pin.value = '';
    if (!value) { toast('error', t('pinMissing')); pin.focus(); return; }
    const updated = await doAction(o, 'refuse', { staff_id: S.staff.id, pin: value, reason: r.reason });
    if (!updated || S.reason !== r) return;
    notice(t('refuseSaved'));
    openDetail(updated.order_id, updated);
  };
  return h('form', { class: 'panel narrow', 'data-testid': 'refuse', 'data-order-id': o.order_id, onsubmit: submit },
    h('div', { class: 'detail-head' }, backButton(() => openDetail(o.order_id, o)), h('h1', {}, t('refuseTitle', o.order_id))),
    h('label', { for: 'refuse-reason' }, t('refuseReason')), select,
    h('label', { for: 'refuse-pin' }, t('yourPin')), pin,
    h('button', { class: 'btn btn-danger btn-wide', type: 'submit', 'data-testid': 'refuse-confirm' }, t('refuseConfirm')));
}

export function renderCancel() {
  const r = S.reason;
  const o = r.order;
  const input = h('input', {
    id: 'cancel-reason', type: 'text', maxlength: 500, autocomplete: 'off', 'data-testid': 'cancel-reason', value: r.reason,
    oninput: (ev) => { r.reason = ev.target.value; },
  });
  const submit = async (ev) => {
    ev.preventDefault();
    const reason = r.reason.trim();
    if (!reason) { toast('error', t('reasonRequired')); input.focus(); return; }
    const updated = await doAction(o, 'cancel', { staff_id: S.staff.id, reason });
    if (!updated || S.reason !== r) return;
    notice(t('cancelSaved'));
    openDetail(updated.order_id, updated);
  };
  return h('form', { class: 'panel narrow', 'data-testid': 'cancel', 'data-order-id': o.order_id, onsubmit: submit },
    h('div', { class: 'detail-head' }, backButton(() => openDetail(o.order_id, o)), h('h1', {}, t('cancelTitle', o.order_id))),
    h('label', { for: 'cancel-reason' }, t('cancelReason')), input,
    h('button', { class: 'btn btn-danger btn-wide', type: 'submit', 'data-testid': 'cancel-confirm' }, t('cancelConfirm')));
}
