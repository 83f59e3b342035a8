// The tablet's state: one object `S` that every screen renders from (so a
// language switch or a live update can redraw without losing what staff
// typed or ticked), and the little the browser keeps between visits (the
// chosen language; storage may throw and is never required).
// Imports nothing: the bottom of the UI's modules.

export const LANG_KEY = 'store-edge.lang';
// Who is logged in lives on the box (the tablet's staff session, asked for
// with GET /api/v1/session); this key is only removed where an older
// version left it.
export const STAFF_KEY = 'store-edge.staff';

// Storage can throw (private mode, quota); the UI must work without it.
function storageGet(store, key) {
  try { return store.getItem(key); } catch { return null; }
}
export function storageSet(store, key, value) {
  try {
    if (value == null) store.removeItem(key); else store.setItem(key, value);
  } catch { /* not fatal: the choice just isn't remembered */ }
}

function initialLang() {
  const saved = storageGet(localStorage, LANG_KEY);
  if (saved === 'de' || saved === 'en') return saved;
  return (navigator.language || '').toLowerCase().startsWith('de') ? 'de' : 'en';
}

export const S = {
  lang: initialLang(),
  session: null, // {role, name, register, staff}
  staff: null, // {id, name} of the box's staff session; the PIN is never kept
  screen: 'loading', // loading | pair | login | board | detail | handover | refuse | cancel | done | dashboard
  busy: false,
  login: { staffList: null, selected: null },
  board: { lists: {}, query: '', results: null },
  detail: null, // {order, ticks: {line_id: bool}, location}
  flow: null, // hand-over: {order, verifiedBy, qty: {line_id: n}}
  reason: null, // refuse/cancel: {order, reason}
  done: null, // {order, handed, total}
  sync: null, // last GET /api/v1/sync answer, null when none
  boxDown: false,
  pendingPass: null,
  print: { uncertain: [], printers: [] }, // uncertain print jobs, the printers (printers.js)
  kpi: null, // the dashboard's last numbers: {today, week, month, asOf, offline} (dashboard.js)
  kpiOffline: false, // the box was unreachable before any numbers arrived
};

export function sessionStaff(session) {
  const s = session && session.staff;
  return s && typeof s.id === 'string' ? { id: s.id, name: String(s.name || s.id) } : null;
}
