// The customer feedback kiosk (kiosk.html), an entry module of its own: a
// tablet paired with a `kiosk` token (`store-edge tablet pair --role kiosk
// --register R1`, or the code typed on this page itself) asks customers
// the 0–10 question (NPS) with its context, takes an optional comment,
// thanks them and goes back to idle after `?idle_s=N` seconds (8 by
// default). A `feedback_prompt` on the live stream (the counter tablet of
// the same register pressed "ask for feedback" after a handover) asks
// about that pickup and links the answer to its order; without one the
// context is `checkout` or the page parameter `?context=`. It shows no
// staff data: no names, no orders, no tablet name — only the question.
// Answers are `store.feedback.submitted` events with an Idempotency-Key
// (a lost reply sent again is recorded once).

import { S, LANG_KEY, storageSet } from './state.js';
import { h, $ } from './dom.js';
import { t } from './i18n.js';
import { api, setApiHandlers, startLive, stopLive, isFeedbackExists, newIdempotencyKey } from './api.js';
import { pairForm } from './pairing.js';

const CONTEXTS = ['pickup', 'checkout', 'service_desk'];
const params = new URLSearchParams(location.search);

function positive(value, fallback) {
  const n = Number(value);
  return value != null && Number.isFinite(n) && n > 0 ? n : fallback;
}

// Thank-you screen → idle after this many seconds.
const IDLE_S = positive(params.get('idle_s'), 8);
// A question nobody touches for this long goes back to idle.
const ABANDONED_S = 90;
const DEFAULT_CONTEXT = CONTEXTS.includes(params.get('context')) ? params.get('context') : 'checkout';
const COMMENT_MAX = 500;

// The kiosk's own state (the staff tablet's `S` only lends the language
// and the session).
const K = {
  screen: 'loading', // loading | pair | wrong-role | idle | question | thanks
  ask: null, // {context, orderId}: what the question is about
  score: null,
  comment: '',
  error: null, // {reason, text}
  sending: false,
  key: null, // the Idempotency-Key of `keyFor`, the body last sent
  keyFor: null,
};

let timer = null;

function after(seconds, fn) {
  clearTimeout(timer);
  timer = setTimeout(fn, seconds * 1000);
}

async function boot() {
  clearTimeout(timer);
  K.screen = 'loading';
  draw();
  try {
    S.session = await api('GET', '/api/v1/session');
  } catch (e) {
    if (!e.handled) after(5, boot); // the box is away: try again
    return;
  }
  if (!S.session || S.session.role !== 'kiosk') {
    // Paired for something else: say what this page is, offer pairing.
    stopLive();
    K.screen = 'wrong-role';
    draw();
    return;
  }
  startLive();
  idle();
}

function idle() {
  clearTimeout(timer);
  Object.assign(K, { screen: 'idle', ask: null, score: null, comment: '', error: null, sending: false });
  draw();
}

function ask(context, orderId) {
  Object.assign(K, { screen: 'question', ask: { context, orderId: orderId || null }, score: null, comment: '', error: null });
  draw();
  after(ABANDONED_S, idle);
}

// The counter asked about a pickup on this register.
function onPrompt(d) {
  if (!d || typeof d.order_id !== 'string' || !d.order_id || K.sending) return;
  ask(CONTEXTS.includes(d.context) ? d.context : 'pickup', d.order_id);
}

function thanks() {
  Object.assign(K, { screen: 'thanks', sending: false, error: null });
  draw();
  after(IDLE_S, idle);
}

async function send() {
  if (K.sending) return;
  after(ABANDONED_S, idle);
  if (K.score == null) {
    K.error = { reason: 'score', text: t('kioskPickScore') };
    draw();
    return;
  }
  const data = { score: K.score, context: K.ask.context };
  const comment = K.comment.trim();
  if (comment) data.comment = comment;
  if (K.ask.orderId) data.order_id = K.ask.orderId;
  const body = { type: 'store.feedback.submitted', data };
  // The same answer again keeps its key; a changed one (a comment fixed
  // after a refusal) is a new request with a new key.
  const text = JSON.stringify(body);
  if (K.keyFor !== text) {
    K.key = newIdempotencyKey();
    K.keyFor = text;
  }
  K.sending = true;
  K.error = null;
  draw();
  try {
    await api('POST', '/api/v1/events', body, { idempotencyKey: K.key });
  } catch (e) {
    K.sending = false;
    if (e.handled) return; // 401: the pair screen is up
    // One answer per order: someone answered already — thank them anyway.
    if (isFeedbackExists(e)) {
      thanks();
      return;
    }
    // A card number in the comment is refused (422, never repeated):
    // a plain request, and the comment stays for the customer to fix.
    const card = e.problem && e.problem.reason === 'card_number';
    K.error = card ? { reason: 'card_number', text: t('kioskCardNumber') } : { reason: 'send', text: t('kioskSendFailed') };
    draw();
    if (card) $('kiosk-comment')?.focus();
    return;
  }
  thanks();
}

// ---------------------------------------------------------------------------
// Drawing.
// ---------------------------------------------------------------------------

function setLang(lang) {
  S.lang = lang;
  storageSet(localStorage, LANG_KEY, lang);
  document.documentElement.lang = lang;
  draw();
}

function langButton() {
  return h('button', {
    class: 'btn kiosk-lang', type: 'button', 'data-testid': 'kiosk-lang', 'aria-label': t('langToggleLabel'),
    onclick: () => { setLang(S.lang === 'de' ? 'en' : 'de'); if (K.screen === 'question') after(ABANDONED_S, idle); },
  }, t('langToggle'));
}

function draw() {
  const root = $('screen');
  root.replaceChildren();
  root.dataset.screen = K.screen;
  root.classList.toggle('busy', K.sending);
  root.append(h('div', { class: 'kiosk-bar' }, langButton()), screen());
}

function screen() {
  switch (K.screen) {
    case 'pair':
      return h('div', { class: 'kiosk-pair' }, pairForm(boot));
    case 'wrong-role':
      return h('div', { class: 'kiosk-pair' },
        h('p', { class: 'kiosk-text', 'data-testid': 'kiosk-wrong-role' }, t('kioskWrongRole')), pairForm(boot));
    case 'idle':
      return h('button', {
        class: 'kiosk-idle', type: 'button', 'data-testid': 'kiosk-idle',
        onclick: () => ask(DEFAULT_CONTEXT, null),
      }, h('span', { class: 'kiosk-idle-title' }, t('kioskIdleTitle')), h('span', { class: 'kiosk-idle-tap' }, t('kioskIdleTap')));
    case 'question':
      return question();
    case 'thanks':
      return h('section', { class: 'kiosk-thanks', 'data-testid': 'kiosk-thanks', role: 'status' },
        h('div', { class: 'kiosk-thanks-mark' }, '♥'),
        h('h1', {}, t('kioskThanks')),
        h('p', { class: 'kiosk-text' }, t('kioskThanksText')));
    default:
      return h('p', { class: 'kiosk-text', 'data-testid': 'kiosk-loading' }, t('loading'));
  }
}

function question() {
  const { context, orderId } = K.ask;
  const scores = [];
  const pick = (n) => {
    K.score = n;
    if (K.error && K.error.reason === 'score') {
      K.error = null;
      $('kiosk-error')?.remove();
    }
    for (const b of scores) b.setAttribute('aria-pressed', String(Number(b.dataset.score) === n));
    after(ABANDONED_S, idle);
  };
  for (let n = 0; n <= 10; n += 1) {
    scores.push(h('button', {
      class: 'kiosk-score', type: 'button', 'data-testid': 'score-' + n, 'data-score': n,
      'aria-pressed': String(K.score === n), onclick: () => pick(n),
    }, String(n)));
  }
  const comment = h('textarea', {
    id: 'kiosk-comment', class: 'kiosk-comment', 'data-testid': 'kiosk-comment', rows: 3, maxlength: COMMENT_MAX,
    autocomplete: 'off', 'aria-invalid': K.error && K.error.reason === 'card_number' ? 'true' : null,
    oninput: (ev) => { K.comment = ev.target.value; after(ABANDONED_S, idle); },
  });
  comment.value = K.comment;
  return h('section', {
    class: 'kiosk-question', 'data-testid': 'kiosk-question', 'data-context': context, 'data-order-id': orderId || '',
  },
  h('p', { class: 'kiosk-context' }, t('kioskContext_' + context)),
  h('h1', { id: 'kiosk-q' }, t('kioskQuestion_' + context)),
  h('div', { class: 'kiosk-scores', role: 'group', 'aria-labelledby': 'kiosk-q' }, scores),
  h('div', { class: 'kiosk-scale' }, h('span', {}, t('kioskLow')), h('span', {}, t('kioskHigh'))),
  h('label', { for: 'kiosk-comment', class: 'kiosk-text' }, t('kioskComment')),
  comment,
  K.error ? h('p', {
    id: 'kiosk-error', class: 'kiosk-error', role: 'alert', 'data-testid': 'kiosk-error', 'data-reason': K.error.reason,
  }, K.error.text) : null,
  h('div', { class: 'kiosk-actions' },
    h('button', { class: 'btn kiosk-cancel', type: 'button', 'data-testid': 'kiosk-cancel', onclick: idle }, t('kioskCancel')),
    h('button', {
      class: 'btn kiosk-send', type: 'button', 'data-testid': 'kiosk-send', disabled: K.sending, onclick: send,
    }, t('kioskSend'))));
}

setApiHandlers({
  unauthorized: () => {
    stopLive();
    clearTimeout(timer);
    K.screen = 'pair';
    draw();
  },
  feedbackPrompt: onPrompt,
});

document.documentElement.lang = S.lang;
boot();
