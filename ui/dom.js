// DOM helpers and toasts. `h` builds elements and never parses HTML:
// strings become text nodes, so API data can never become markup. Toasts
// are errors (data-testid=error) and short confirmations (notice).
// Imports nothing.

const PROPS = new Set(['value', 'checked', 'selected', 'disabled', 'hidden', 'required']);

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const $ = (id) => document.getElementById(id);

const toastTimers = {};

export function toast(kind, text, ms) {
  const id = kind === 'error' ? 'toast-error' : 'toast-notice';
  let el = $(id);
  if (!el) {
    el = h('div', {
      id, class: 'toast toast-' + kind, 'data-testid': kind, role: kind === 'error' ? 'alert' : 'status',
      onclick: () => { el.hidden = true; },
    });
    $('toasts').append(el);
  }
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimers[id]);
  toastTimers[id] = setTimeout(() => { el.hidden = true; }, ms || (kind === 'error' ? 10000 : 4000));
}

export function showError(err) {
  if (err && err.handled) return; // a 401 or a lost staff log-in already moved us on
  toast('error', (err && err.message) || String(err));
}

export function notice(text) {
  toast('notice', text);
}
