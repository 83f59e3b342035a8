// The box's API: `api()` (fetch, same origin with the pairing cookie,
// errors are problem+json and become an ApiError), `explain` (known
// refusals in our words), the live stream (SSE) and the central status
// poll. No DOM here: what the screens do about a 401, a lost staff log-in,
// the box coming and going or a live event, app.js says once through
// `setApiHandlers`.

import { S } from './state.js';
import { t, hasText, fmtTime } from './i18n.js';

const handlers = {
  unauthorized: () => {}, // 401: the tablet is no longer paired
  staffLoginRequired: (_reason) => {}, // 403 staff_login_required / staff_mismatch
  connectivity: () => {}, // S.boxDown or S.sync changed
  streamOpen: () => {}, // the live stream (re)connected: events may have been missed
  order: (_data) => {}, // an `order` event (parsed, or null)
  pass: (_data) => {}, // a `pass` event (parsed, or null)
  kpisChanged: () => {}, // a `kpis_changed` event (managers): the numbers moved
  feedbackPrompt: (_data) => {}, // a `feedback_prompt` event (the kiosk of this register)
};

export function setApiHandlers(h) {
  Object.assign(handlers, h);
}

class ApiError extends Error {
  constructor(status, problem, message) {
    super(message);
    this.status = status;
    this.problem = problem || {};
  }
}

export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  // The revision the screen shows, so the box refuses acting on stale data.
  if (opts.ifMatch != null) headers['If-Match'] = `"${opts.ifMatch}"`;
  // The same answer sent again (a lost reply) is recorded once.
  if (opts.idempotencyKey != null) headers['Idempotency-Key'] = opts.idempotencyKey;
  let resp;
  try {
    resp = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    S.boxDown = true;
    handlers.connectivity();
    throw new ApiError(0, null, t('boxUnreachable'));
  }
  if (S.boxDown) { S.boxDown = false; handlers.connectivity(); }
  const text = await resp.text().catch(() => '');
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (resp.ok) return data;
  const problem = data && typeof data === 'object' ? data : {};
  // 503: the box is busy (its write queue is full, nothing was recorded)
  // or restarting; either way the same tap works again in a moment.
  const message = resp.status === 503
    ? t('boxBusy')
    : problem.detail || problem.title || t('httpError', resp.status);
  const err = new ApiError(resp.status, problem, message);
  if (resp.status === 401) {
    handlers.unauthorized();
    err.handled = true;
  } else if (resp.status === 403 && (problem.reason === 'staff_login_required' || problem.reason === 'staff_mismatch')) {
    // The tablet is still paired; only the staff member must log in again.
    handlers.staffLoginRequired(problem.reason);
    err.handled = true;
  }
  throw err;
}

export const enc = encodeURIComponent;

// Whether the box refused an answer because the order already has one
// (409, problem type `…:feedback-exists`).
export function isFeedbackExists(err) {
  return err.status === 409 && /feedback-exists$/.test(String((err.problem || {}).type || ''));
}

// A fresh Idempotency-Key (crypto.randomUUID needs a secure context; a
// tablet on the store network talks plain http).
export function newIdempotencyKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
export const orderPath = (id, action) => `/api/v1/pickups/${enc(id)}` + (action ? '/' + action : '');

// Known refusals get our translated words; anything else the box's detail.
export function explain(err) {
  const p = err.problem || {};
  if (err.status === 423) return t('lockedUntil', fmtTime(p.locked_until));
  if (err.status === 503) return t('boxBusy');
  if (p.reason === 'wrong_pin') return t('wrongPin');
  // A card number typed into a text field: the box refused it (422) without
  // repeating it; the plain request is all staff need to read.
  if (p.reason === 'card_number') return t('cardNumber');
  if (p.reason && hasText('vr_' + p.reason)) return t('vr_' + p.reason);
  return err.message;
}

// ---------------------------------------------------------------------------
// The live stream (SSE) and the central status poll.
// ---------------------------------------------------------------------------

const live = { es: null, retry: null };

export function startLive() {
  stopLive();
  const reg = S.session && S.session.register;
  const es = new EventSource('/api/v1/stream' + (reg ? '?register=' + enc(reg) : ''));
  live.es = es;
  // Every (re)connect may have missed events: reload what is on screen.
  es.onopen = () => handlers.streamOpen();
  es.onerror = () => {
    // EventSource retries by itself unless the answer was not a stream
    // (e.g. 401); then check the session and start over ourselves.
    if (es.readyState === EventSource.CLOSED && live.es === es) {
      live.es = null;
      live.retry = setTimeout(recheckSession, 5000);
    }
  };
  es.addEventListener('order', (ev) => handlers.order(parseJson(ev.data)));
  es.addEventListener('pass', (ev) => handlers.pass(parseJson(ev.data)));
  es.addEventListener('kpis_changed', () => handlers.kpisChanged());
  es.addEventListener('feedback_prompt', (ev) => handlers.feedbackPrompt(parseJson(ev.data)));
  // `scan` and `device` events are for tills and the admin screen.
}

export function stopLive() {
  clearTimeout(live.retry);
  if (live.es) live.es.close();
  live.es = null;
}

async function recheckSession() {
  try {
    S.session = await api('GET', '/api/v1/session');
    startLive();
  } catch (e) {
    if (!e.handled) live.retry = setTimeout(recheckSession, 5000);
  }
}

function parseJson(s) {
  try { return JSON.parse(s); } catch { return null; }
}

// Central's status: only the banner depends on it.
let syncTimer = null;
let syncBusy = false;

export async function pollSync() {
  if (syncBusy) return;
  clearTimeout(syncTimer);
  if (!S.session) return;
  syncBusy = true;
  try {
    const r = await fetch('/api/v1/sync', {
      credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' },
    });
    if (S.boxDown) S.boxDown = false;
    // 404: no central configured, so nothing to warn about.
    S.sync = r.ok ? await r.json().catch(() => null) : null;
    if (r.status === 401) { syncBusy = false; handlers.unauthorized(); return; }
  } catch {
    S.boxDown = true;
  }
  syncBusy = false;
  handlers.connectivity();
  if (S.session) syncTimer = setTimeout(pollSync, 3000);
}
