// Screens: pairing (a new tablet enters the 8-digit code from
// `store-edge tablet pair`) and the staff log-in (name buttons, then a PIN
// pad). Who is logged in is the box's staff session; a 401 leads here to
// pair again, a 403 staff_login_required or staff_mismatch to the PIN pad
// of whoever was logged in. The PIN lives only in its input until sent.

import { S } from './state.js';
import { h, toast, showError } from './dom.js';
import { t } from './i18n.js';
import { api, explain, stopLive } from './api.js';
import { nav, render, setBusy } from './view.js';

export function goPair() {
  stopLive();
  S.session = null;
  S.staff = null;
  S.sync = null;
  S.screen = 'pair';
  render();
}

// `selected`: the staff member whose PIN pad opens at once, if known.
export function goLogin(selected) {
  S.staff = null;
  S.detail = null;
  S.flow = null;
  S.reason = null;
  S.login = { staffList: null, selected: selected || null };
  S.screen = 'login';
  render();
  loadStaffList();
}

// The box says nobody (or someone else) is logged in on this tablet: back
// to the PIN pad of whoever was, never to the pair screen.
export function staffLoginAgain(reason) {
  const was = S.staff;
  setBusy(false);
  goLogin(was);
  toast('error', t(reason));
}

export async function logout() {
  try {
    await api('POST', '/api/v1/staff/logout');
  } catch (e) {
    // Logged out on screen anyway; an idle session ends by itself.
    if (!e.handled && e.status !== 0) showError(e);
    if (e.handled) return;
  }
  goLogin();
}

async function loadStaffList() {
  try {
    const r = await api('GET', '/api/v1/staff');
    S.login.staffList = (r && r.staff) || [];
    if (S.screen === 'login') render();
  } catch (e) {
    showError(e);
  }
}

// ---------------------------------------------------------------------------
// Screen: pair.
// ---------------------------------------------------------------------------

export function renderPair() {
  return pairForm(() => nav.boot()); // the cookie is set now
}

// The pairing form, also on the kiosk's own page (kiosk.js): `onPaired`
// runs once the box accepted the code and set the session cookie.
export function pairForm(onPaired) {
  const code = h('input', {
    id: 'pair-code', type: 'text', inputmode: 'numeric', autocomplete: 'off', maxlength: 8,
    pattern: '[0-9]{8}', 'data-testid': 'pair-code', required: true,
  });
  const name = h('input', {
    id: 'pair-name', type: 'text', autocomplete: 'off', maxlength: 60, 'data-testid': 'pair-name', required: true,
  });
  const submit = async (ev) => {
    ev.preventDefault();
    const c = code.value.replace(/\s+/g, '');
    if (!/^\d{8}$/.test(c)) { toast('error', t('pairCodeInvalid')); code.focus(); return; }
    if (!name.value.trim()) { toast('error', t('pairNameMissing')); name.focus(); return; }
    if (S.busy) return;
    setBusy(true);
    try {
      await api('POST', '/api/v1/tablets/pair', { code: c, name: name.value.trim() });
    } catch (e) {
      showError(e);
      return;
    } finally {
      setBusy(false);
    }
    onPaired();
  };
  return h('form', { class: 'panel narrow', 'data-testid': 'pair', onsubmit: submit, novalidate: true },
    h('h1', {}, t('pairTitle')),
    h('p', { class: 'muted' }, t('pairHelp')),
    h('label', { for: 'pair-code' }, t('pairCode')), code,
    h('label', { for: 'pair-name' }, t('pairName')), name,
    h('button', { class: 'btn btn-primary btn-wide', type: 'submit', 'data-testid': 'pair-submit' }, t('pairSubmit')));
}

// ---------------------------------------------------------------------------
// Screen: staff login (name buttons, then a PIN pad).
// ---------------------------------------------------------------------------

export function renderLogin() {
  const sel = S.login.selected;
  if (!sel) {
    const list = S.login.staffList;
    return h('section', { class: 'panel', 'data-testid': 'login' },
      h('h1', {}, t('loginTitle')),
      list == null
        ? h('p', { class: 'muted' }, t('loading'))
        : list.length === 0
          ? h('p', { class: 'muted' }, t('noStaff'))
          : h('div', { class: 'staff-grid' }, list.map((s) => h('button', {
            class: 'btn staff-btn', type: 'button', 'data-testid': 'staff-' + s.id,
            onclick: () => { S.login.selected = { id: s.id, name: s.name || s.id }; render(); },
          }, s.name || s.id))));
  }

  // The PIN lives only in this input until it is sent.
  const pin = h('input', {
    id: 'pin-input', type: 'password', inputmode: 'numeric', autocomplete: 'off', maxlength: 12,
    'data-testid': 'pin-input', 'aria-label': t('pinInput'),
  });
  const submit = async (ev) => {
    ev.preventDefault();
    const value = pin.value;
    pin.value = '';
    if (!value) { toast('error', t('pinMissing')); return; }
    if (S.busy) return;
    setBusy(true);
    let r;
    try {
      r = await api('POST', '/api/v1/staff/login', { staff_id: sel.id, pin: value });
    } catch (e) {
      toast('error', explain(e));
      pin.focus();
      return;
    } finally {
      setBusy(false);
    }
    S.staff = { id: (r && r.staff_id) || sel.id, name: (r && r.name) || sel.name };
    S.login.selected = null;
    if (S.pendingPass) nav.passOrder(S.pendingPass); else nav.board();
  };
  const key = (label, testid, onclick, extra) =>
    h('button', { class: 'btn key ' + (extra || ''), type: 'button', 'data-testid': testid, onclick }, label);
  const digit = (d) => key(String(d), 'pin-' + d, () => { pin.value += String(d); });
  return h('form', { class: 'panel narrow', 'data-testid': 'login', onsubmit: submit },
    h('h1', {}, t('pinTitle', sel.name)),
    pin,
    h('div', { class: 'keypad' },
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map(digit),
      key(t('pinClear'), 'pin-clear', () => { pin.value = ''; }, 'key-small'),
      digit(0),
      h('button', {
        class: 'btn key key-small', type: 'button', 'data-testid': 'pin-backspace', 'aria-label': t('pinBackspace'),
        onclick: () => { pin.value = pin.value.slice(0, -1); },
      }, '⌫')),
    h('button', { class: 'btn btn-primary btn-wide', type: 'submit', 'data-testid': 'pin-ok' }, t('pinOk')),
    h('button', {
      class: 'btn btn-ghost btn-wide', type: 'button', 'data-testid': 'pin-cancel',
      onclick: () => { S.login.selected = null; render(); },
    }, t('pinOther')));
}
