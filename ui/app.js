// Staff tablet UI for store-edge: pickup board, picking, hand-over.
// Plain ES2020, no build step and no external URLs: the files are embedded
// in the binary and the tablet has no internet. All DOM is built with
// createElement/textContent so API data can never become markup.
'use strict';

// ---------------------------------------------------------------------------
// Texts. Every visible string lives here in both languages; functions take
// the numbers or names they need (German and English plurals differ).
// ---------------------------------------------------------------------------

const I18N = {
  de: {
    appTitle: 'Abholung',
    langToggle: 'English',
    langToggleLabel: 'Switch to English',
    loading: 'Lade …',
    retry: 'Erneut versuchen',
    boxUnreachable: 'Store-Box nicht erreichbar – bitte WLAN prüfen.',
    boxBanner: 'Keine Verbindung zur Store-Box',
    centralOffline: (n) =>
      `Zentrale nicht erreichbar – ${n} ${n === 1 ? 'Änderung wartet' : 'Änderungen warten'} auf Übertragung`,
    httpError: (s) => `Fehler ${s}`,
    dismiss: 'Schließen',

    pairTitle: 'Tablet koppeln',
    pairHelp: 'Den 8-stelligen Kopplungscode aus der Verwaltung eingeben und dem Tablet einen Namen geben.',
    pairCode: 'Kopplungscode (8 Ziffern)',
    pairName: 'Name des Tablets',
    pairSubmit: 'Koppeln',
    pairCodeInvalid: 'Der Kopplungscode hat genau 8 Ziffern.',
    pairNameMissing: 'Bitte einen Namen für das Tablet angeben.',

    loginTitle: 'Wer arbeitet gerade?',
    noStaff: 'Es ist noch kein Personal angelegt.',
    pinTitle: (name) => `PIN für ${name}`,
    pinInput: 'PIN',
    pinOk: 'OK',
    pinClear: 'Löschen',
    pinBackspace: 'Letzte Ziffer löschen',
    pinOther: 'Andere Person',
    pinMissing: 'Bitte PIN eingeben.',
    wrongPin: 'Falsche PIN.',
    lockedUntil: (time) => `Zu viele Fehlversuche – gesperrt bis ${time}.`,
    staff_login_required: 'Bitte erneut mit PIN anmelden – die Anmeldung ist abgelaufen oder wurde beendet.',
    staff_mismatch: 'Auf diesem Tablet ist jemand anderes angemeldet – bitte mit der eigenen PIN anmelden.',
    logout: 'Abmelden',
    tablet: 'Tablet',

    search: 'Suche: Name oder Bestellnummer',
    searchClear: 'Suche leeren',
    searchResults: 'Suchergebnisse',
    noResults: 'Nichts gefunden.',
    refresh: 'Aktualisieren',
    columnEmpty: 'Keine Bestellungen',
    items: (n) => `${n} Artikel`,
    pickupBy: 'Abholung bis',
    location: 'Platz',
    arrived: 'Kunde ist da',
    changed: 'Geändert',

    state_received: 'Eingang',
    state_picking: 'Wird kommissioniert',
    state_ready: 'Abholbereit',
    state_due: 'Fällig',
    state_overdue: 'Überfällig',
    state_handed_over: 'Übergeben',
    state_partially_handed_over: 'Teilweise übergeben',
    state_refused: 'Abgelehnt',
    state_no_show: 'Nicht abgeholt',
    state_cancelled: 'Storniert',

    back: 'Zurück',
    order: 'Bestellung',
    customer: 'Kunde',
    phoneEnds: (d) => `Tel. endet auf ${d}`,
    channel: 'Kanal',
    centralStatus: 'Status Zentrale',
    lines: 'Artikel',
    sku: 'Art.-Nr.',
    pickedOf: (p, q) => `${p} von ${q} kommissioniert`,
    missing: 'fehlt',
    tickAll: 'Alle abhaken',
    tickHelp: 'Gefundene Artikel abhaken; nicht abgehakte werden als fehlend gemeldet.',
    locationLabel: 'Lagerplatz (Regal/Fach)',
    locationRequired: 'Bitte den Lagerplatz angeben.',
    arrival: 'Ankunft',
    notArrived: 'Noch nicht da',
    arrivedVia: (time, how) => `${time} (${how})`,
    changesTitle: 'Von der Zentrale geändert',
    reminders: 'Erinnerungen',
    paid: 'Bezahlt',
    notPaid: 'Nicht bezahlt – an der Kasse kassieren',
    idCheckRequired: 'Ausweis prüfen!',
    updated: 'Aktualisiert',
    noActions: 'Keine Aktion möglich.',
    conflictReloaded: 'Die Bestellung wurde inzwischen geändert und neu geladen.',
    orderChanged: 'Die Bestellung wurde gerade geändert – bitte prüfen.',

    'act_start-picking': 'Kommissionieren',
    act_ready: 'Abholbereit melden',
    act_handover: 'Übergeben',
    act_refuse: 'Annahme verweigert',
    act_cancel: 'Stornieren',
    act_reminded: 'Kunde erinnert',

    vb_pass: 'Abholschein',
    vb_code: 'Abholcode',
    vb_id_check: 'Ausweis geprüft',
    vb_manual_override: 'Ohne Ausweisprüfung',
    vb_manual_lookup: 'Gesucht',

    handoverTitle: (id) => `Übergabe ${id}`,
    step1: '1. Abholberechtigung prüfen',
    verifiedWith: (how) => `✓ Geprüft: ${how}`,
    verifyAgain: 'Anders prüfen',
    passLabel: 'Abholschein (Text)',
    codeLabel: 'Abholcode',
    check: 'Prüfen',
    idChecked: 'Ausweis geprüft',
    override: 'Ohne Ausweisprüfung',
    verifyFirst: 'Erst prüfen, dann geht es weiter.',
    passOtherOrder: (id) => `Dieser Abholschein gehört zu Bestellung ${id}.`,
    step2: '2. Mengen',
    of: (n) => `von ${n}`,
    less: 'Weniger',
    more: 'Mehr',
    step3: '3. Mit PIN bestätigen',
    yourPin: 'Deine PIN',
    handoverConfirm: 'Übergabe bestätigen',
    nothingHanded: 'Mindestens ein Artikel – sonst „Annahme verweigert“ wählen.',
    handoverNotAllowed: 'Eine Übergabe ist für diese Bestellung jetzt nicht möglich.',
    handedSummary: (a, b) => `${a} von ${b} Artikeln übergeben`,
    doneTitle: 'Übergeben ✓',
    donePartialTitle: 'Teilweise übergeben ✓',
    toBoard: 'Zur Übersicht',

    refuseTitle: (id) => `Annahme verweigert ${id}`,
    refuseReason: 'Grund',
    rr_damaged: 'Beschädigt',
    rr_wrong_item: 'Falscher Artikel',
    rr_changed_mind: 'Kunde möchte nicht mehr',
    rr_other: 'Sonstiges',
    refuseConfirm: 'Verweigerung bestätigen',
    refuseSaved: 'Verweigerung gespeichert.',

    cancelTitle: (id) => `Bestellung ${id} stornieren`,
    cancelReason: 'Grund (Pflicht)',
    cancelConfirm: 'Stornierung bestätigen',
    reasonRequired: 'Bitte einen Grund angeben.',
    cardNumber: 'Bitte keine Kartennummern eingeben.',
    cancelSaved: 'Bestellung storniert.',
    remindedSaved: 'Erinnerung vermerkt.',

    vr_bad_signature: 'Abholschein ungültig (Signatur passt nicht).',
    vr_unknown_key: 'Abholschein mit unbekanntem Schlüssel – Zentrale fragen.',
    vr_expired: 'Abholschein abgelaufen.',
    vr_other_store: 'Abholschein gehört zu einer anderen Filiale.',
    vr_unknown_order: 'Bestellung ist hier nicht bekannt.',
    vr_wrong_code: 'Falscher Abholcode.',
    vr_already_handed_over: 'Bestellung wurde bereits übergeben.',
    vr_cancelled: 'Bestellung ist storniert.',
    vr_refused: 'Annahme wurde bereits verweigert.',
    vr_no_show: 'Bestellung wurde nicht abgeholt und ist abgeschlossen.',
    vr_code_unavailable: 'Der Abholcode dieser Bestellung kann hier nicht geprüft werden – bitte Abholschein scannen oder Ausweis prüfen.',
    passAlertTitle: 'Abholschein abgelehnt',
    passForOrder: (id) => `Bestellung ${id}`,
    passLoginFirst: 'Abholschein gescannt – bitte zuerst anmelden.',
  },
  en: {
    appTitle: 'Pickups',
    langToggle: 'Deutsch',
    langToggleLabel: 'Auf Deutsch umschalten',
    loading: 'Loading …',
    retry: 'Try again',
    boxUnreachable: 'Store box unreachable – please check the Wi-Fi.',
    boxBanner: 'No connection to the store box',
    centralOffline: (n) =>
      `Central unreachable – ${n} ${n === 1 ? 'change' : 'changes'} waiting to be sent`,
    httpError: (s) => `Error ${s}`,
    dismiss: 'Close',

    pairTitle: 'Pair this tablet',
    pairHelp: 'Enter the 8-digit pairing code from the admin screen and give the tablet a name.',
    pairCode: 'Pairing code (8 digits)',
    pairName: 'Tablet name',
    pairSubmit: 'Pair',
    pairCodeInvalid: 'The pairing code has exactly 8 digits.',
    pairNameMissing: 'Please give the tablet a name.',

    loginTitle: 'Who is working?',
    noStaff: 'No staff have been set up yet.',
    pinTitle: (name) => `PIN for ${name}`,
    pinInput: 'PIN',
    pinOk: 'OK',
    pinClear: 'Clear',
    pinBackspace: 'Delete last digit',
    pinOther: 'Someone else',
    pinMissing: 'Please enter the PIN.',
    wrongPin: 'Wrong PIN.',
    lockedUntil: (time) => `Too many attempts – locked until ${time}.`,
    staff_login_required: 'Please log in again with your PIN – your log-in has expired or was ended.',
    staff_mismatch: 'Someone else is logged in on this tablet – please log in with your own PIN.',
    logout: 'Log out',
    tablet: 'Tablet',

    search: 'Search: name or order number',
    searchClear: 'Clear search',
    searchResults: 'Search results',
    noResults: 'Nothing found.',
    refresh: 'Refresh',
    columnEmpty: 'No orders',
    items: (n) => `${n} ${n === 1 ? 'item' : 'items'}`,
    pickupBy: 'Pick up by',
    location: 'Shelf',
    arrived: 'Customer is here',
    changed: 'Changed',

    state_received: 'Incoming',
    state_picking: 'Picking',
    state_ready: 'Ready',
    state_due: 'Due soon',
    state_overdue: 'Overdue',
    state_handed_over: 'Handed over',
    state_partially_handed_over: 'Partly handed over',
    state_refused: 'Refused',
    state_no_show: 'Not collected',
    state_cancelled: 'Cancelled',

    back: 'Back',
    order: 'Order',
    customer: 'Customer',
    phoneEnds: (d) => `Phone ends in ${d}`,
    channel: 'Channel',
    centralStatus: 'Central status',
    lines: 'Items',
    sku: 'SKU',
    pickedOf: (p, q) => `${p} of ${q} picked`,
    missing: 'missing',
    tickAll: 'Tick all',
    tickHelp: 'Tick the items you found; unticked ones are reported missing.',
    locationLabel: 'Location (shelf/bin)',
    locationRequired: 'Please enter the location.',
    arrival: 'Arrival',
    notArrived: 'Not here yet',
    arrivedVia: (time, how) => `${time} (${how})`,
    changesTitle: 'Changed by central',
    reminders: 'Reminders',
    paid: 'Paid',
    notPaid: 'Not paid – take payment at the till',
    idCheckRequired: 'Check ID!',
    updated: 'Updated',
    noActions: 'No action possible.',
    conflictReloaded: 'The order changed meanwhile and was reloaded.',
    orderChanged: 'The order just changed – please check.',

    'act_start-picking': 'Start picking',
    act_ready: 'Mark ready',
    act_handover: 'Hand over',
    act_refuse: 'Customer refused',
    act_cancel: 'Cancel order',
    act_reminded: 'Customer reminded',

    vb_pass: 'Pickup pass',
    vb_code: 'Pickup code',
    vb_id_check: 'ID checked',
    vb_manual_override: 'Without ID check',
    vb_manual_lookup: 'Looked up',

    handoverTitle: (id) => `Hand-over ${id}`,
    step1: '1. Check who is collecting',
    verifiedWith: (how) => `✓ Verified: ${how}`,
    verifyAgain: 'Verify differently',
    passLabel: 'Pickup pass (text)',
    codeLabel: 'Pickup code',
    check: 'Check',
    idChecked: 'ID checked',
    override: 'No ID check',
    verifyFirst: 'Verify first, then continue.',
    passOtherOrder: (id) => `This pickup pass belongs to order ${id}.`,
    step2: '2. Quantities',
    of: (n) => `of ${n}`,
    less: 'Fewer',
    more: 'More',
    step3: '3. Confirm with your PIN',
    yourPin: 'Your PIN',
    handoverConfirm: 'Confirm hand-over',
    nothingHanded: 'At least one item – otherwise choose "Customer refused".',
    handoverNotAllowed: 'This order cannot be handed over right now.',
    handedSummary: (a, b) => `${a} of ${b} items handed over`,
    doneTitle: 'Handed over ✓',
    donePartialTitle: 'Partly handed over ✓',
    toBoard: 'Back to the board',

    refuseTitle: (id) => `Customer refused ${id}`,
    refuseReason: 'Reason',
    rr_damaged: 'Damaged',
    rr_wrong_item: 'Wrong item',
    rr_changed_mind: 'Changed their mind',
    rr_other: 'Other',
    refuseConfirm: 'Confirm refusal',
    refuseSaved: 'Refusal saved.',

    cancelTitle: (id) => `Cancel order ${id}`,
    cancelReason: 'Reason (required)',
    cancelConfirm: 'Confirm cancellation',
    reasonRequired: 'Please give a reason.',
    cardNumber: "Please don't enter card numbers.",
    cancelSaved: 'Order cancelled.',
    remindedSaved: 'Reminder noted.',

    vr_bad_signature: 'Invalid pickup pass (signature does not match).',
    vr_unknown_key: 'Pickup pass signed with an unknown key – ask central.',
    vr_expired: 'Pickup pass has expired.',
    vr_other_store: 'Pickup pass is for another store.',
    vr_unknown_order: 'This order is not known here.',
    vr_wrong_code: 'Wrong pickup code.',
    vr_already_handed_over: 'The order was already handed over.',
    vr_cancelled: 'The order is cancelled.',
    vr_refused: 'The customer already refused this order.',
    vr_no_show: 'The order was not collected and is closed.',
    vr_code_unavailable: "This order's pickup code cannot be checked here – scan the pickup pass or check an ID instead.",
    passAlertTitle: 'Pickup pass rejected',
    passForOrder: (id) => `Order ${id}`,
    passLoginFirst: 'Pickup pass scanned – please log in first.',
  },
};

const LANG_KEY = 'store-edge.lang';
// Who is logged in lives on the box (the tablet's staff session, asked for
// with GET /api/v1/session); this key is only removed where an older
// version left it.
const STAFF_KEY = 'store-edge.staff';

// The board's five sections, in the order a picker works through them.
const COLUMNS = ['received', 'picking', 'ready', 'due', 'overdue'];
const ACTIONS = ['start-picking', 'ready', 'handover', 'reminded', 'refuse', 'cancel'];
const REFUSE_REASONS = ['damaged', 'wrong_item', 'changed_mind', 'other'];

// Storage can throw (private mode, quota); the UI must work without it.
function storageGet(store, key) {
  try { return store.getItem(key); } catch { return null; }
}
function storageSet(store, key, value) {
  try {
    if (value == null) store.removeItem(key); else store.setItem(key, value);
  } catch { /* not fatal: the choice just isn't remembered */ }
}

function initialLang() {
  const saved = storageGet(localStorage, LANG_KEY);
  if (saved === 'de' || saved === 'en') return saved;
  return (navigator.language || '').toLowerCase().startsWith('de') ? 'de' : 'en';
}

function t(key, ...args) {
  const v = I18N[S.lang][key] ?? I18N.en[key] ?? key;
  return typeof v === 'function' ? v(...args) : v;
}

// A raw name from the API (state, reason, method) with a fallback to the
// raw text, so an unknown new value still shows something useful.
function tName(prefix, name) {
  const key = prefix + name;
  return key in I18N[S.lang] ? t(key) : String(name);
}

function locale() {
  return S.lang === 'de' ? 'de-DE' : 'en-GB';
}

function fmtTime(value) {
  if (value == null || value === '') return '';
  // locked_until may come as unix seconds; everything else is RFC 3339.
  const d = typeof value === 'number' ? new Date(value < 1e12 ? value * 1000 : value) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return new Intl.DateTimeFormat(locale(), {
    weekday: 'short', day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit',
  }).format(d);
}

// ---------------------------------------------------------------------------
// State. One object; screens render from it so a language switch or a live
// update can redraw without losing what staff typed or ticked.
// ---------------------------------------------------------------------------

const S = {
  lang: initialLang(),
  session: null, // {role, name, register, staff}
  staff: null, // {id, name} of the box's staff session; the PIN is never kept
  screen: 'loading', // loading | pair | login | board | detail | handover | refuse | cancel | done
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
};

function sessionStaff(session) {
  const s = session && session.staff;
  return s && typeof s.id === 'string' ? { id: s.id, name: String(s.name || s.id) } : null;
}

// ---------------------------------------------------------------------------
// DOM helpers. `h` never parses HTML: strings become text nodes.
// ---------------------------------------------------------------------------

const PROPS = new Set(['value', 'checked', 'selected', 'disabled', 'hidden', 'required']);

function h(tag, attrs, ...children) {
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

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------
// Toasts: errors (data-testid=error) and short confirmations (notice).
// ---------------------------------------------------------------------------

const toastTimers = {};

function toast(kind, text, ms) {
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

function showError(err) {
  if (err && err.handled) return; // a 401 or a lost staff log-in already moved us on
  toast('error', (err && err.message) || String(err));
}

function notice(text) {
  toast('notice', text);
}

// ---------------------------------------------------------------------------
// API. Same origin with the pairing cookie; errors are problem+json.
// ---------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem, message) {
    super(message);
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  // The revision the screen shows, so the box refuses acting on stale data.
  if (opts.ifMatch != null) headers['If-Match'] = `"${opts.ifMatch}"`;
  let resp;
  try {
    resp = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    S.boxDown = true;
    renderBanners();
    throw new ApiError(0, null, t('boxUnreachable'));
  }
  if (S.boxDown) { S.boxDown = false; renderBanners(); }
  const text = await resp.text().catch(() => '');
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (resp.ok) return data;
  const problem = data && typeof data === 'object' ? data : {};
  const err = new ApiError(resp.status, problem, problem.detail || problem.title || t('httpError', resp.status));
  if (resp.status === 401) {
    goPair();
    err.handled = true;
  } else if (resp.status === 403 && (problem.reason === 'staff_login_required' || problem.reason === 'staff_mismatch')) {
    // The tablet is still paired; only the staff member must log in again.
    staffLoginAgain(problem.reason);
    err.handled = true;
  }
  throw err;
}

const enc = encodeURIComponent;
const orderPath = (id, action) => `/api/v1/pickups/${enc(id)}` + (action ? '/' + action : '');

// Known refusals get our translated words; anything else the box's detail.
function explain(err) {
  const p = err.problem || {};
  if (err.status === 423) return t('lockedUntil', fmtTime(p.locked_until));
  if (p.reason === 'wrong_pin') return t('wrongPin');
  // A card number typed into a text field: the box refused it (422) without
  // repeating it; the plain request is all staff need to read.
  if (p.reason === 'card_number') return t('cardNumber');
  if (p.reason && ('vr_' + p.reason) in I18N[S.lang]) return t('vr_' + p.reason);
  return err.message;
}

// ---------------------------------------------------------------------------
// Start-up and navigation.
// ---------------------------------------------------------------------------

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
  storageSet(sessionStorage, STAFF_KEY, null);
  startLive();
  pollSync();
  S.staff = sessionStaff(S.session);
  if (S.staff) goBoard(); else goLogin();
}

function goPair() {
  stopLive();
  S.session = null;
  S.staff = null;
  S.sync = null;
  S.screen = 'pair';
  render();
}

// `selected`: the staff member whose PIN pad opens at once, if known.
function goLogin(selected) {
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
function staffLoginAgain(reason) {
  const was = S.staff;
  setBusy(false);
  goLogin(was);
  toast('error', t(reason));
}

function goBoard() {
  S.screen = 'board';
  render();
  refreshBoard();
  if (S.board.query.trim()) runSearch();
}

function openDetail(orderId, order) {
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

/** How much of a line can be handed over: what was picked, when known. */
function pickable(it) {
  const ordered = Number(it.quantity) || 0;
  return it.picked != null ? Math.min(Number(it.picked) || 0, ordered) : ordered;
}

function openHandover(order, verifiedBy) {
  const qty = {};
  const missing = new Set(order.missing_lines || []);
  for (const it of order.items || []) {
    // Only what was picked can go over the counter (missing lines: 0).
    qty[it.line_id] = missing.has(it.line_id) ? 0 : pickable(it);
  }
  S.flow = { order, verifiedBy: verifiedBy || null, qty };
  S.screen = 'handover';
  render();
}

function openReason(kind, order) {
  S.reason = { order, reason: kind === 'refuse' ? REFUSE_REASONS[0] : '' };
  S.screen = kind;
  render();
}

async function logout() {
  try {
    await api('POST', '/api/v1/staff/logout');
  } catch (e) {
    // Logged out on screen anyway; an idle session ends by itself.
    if (!e.handled && e.status !== 0) showError(e);
    if (e.handled) return;
  }
  goLogin();
}

function setLang(lang) {
  S.lang = lang;
  storageSet(localStorage, LANG_KEY, lang);
  document.documentElement.lang = lang;
  render();
  renderBanners();
}

// ---------------------------------------------------------------------------
// Live updates (SSE), the 30 s fallback and the central status poll.
// ---------------------------------------------------------------------------

const live = { es: null, retry: null };

function startLive() {
  stopLive();
  const reg = S.session && S.session.register;
  const es = new EventSource('/api/v1/stream' + (reg ? '?register=' + enc(reg) : ''));
  live.es = es;
  // Every (re)connect may have missed events: reload what is on screen.
  es.onopen = () => refreshVisible();
  es.onerror = () => {
    // EventSource retries by itself unless the answer was not a stream
    // (e.g. 401); then check the session and start over ourselves.
    if (es.readyState === EventSource.CLOSED && live.es === es) {
      live.es = null;
      live.retry = setTimeout(recheckSession, 5000);
    }
  };
  es.addEventListener('order', (ev) => onOrderEvent(parseJson(ev.data)));
  es.addEventListener('pass', (ev) => onPassEvent(parseJson(ev.data)));
  // `scan` and `device` events are for tills and the admin screen.
}

function stopLive() {
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

function onOrderEvent(d) {
  if (!d) return;
  scheduleBoardRefresh();
  const id = d.order_id;
  if (S.screen === 'detail' && S.detail && S.detail.orderId === id) refreshDetail();
  if (S.screen === 'handover' && S.flow && S.flow.order.order_id === id) refreshFlowOrder();
  pollSync();
}

function onPassEvent(d) {
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

async function openPassOrder(d) {
  S.pendingPass = null;
  hidePassAlert();
  let order = d.order;
  if (!order) {
    try { order = await api('GET', orderPath(d.order_id)); } catch (e) { showError(e); return; }
  }
  if ((order.allowed || []).includes('handover')) {
    openHandover(order, 'pass');
  } else {
    openDetail(order.order_id, order);
    toast('error', t('handoverNotAllowed'));
  }
}

function refreshVisible() {
  if (!S.staff) return;
  if (S.screen === 'board') {
    refreshBoard();
    if (S.board.query.trim()) runSearch();
  }
  if (S.screen === 'detail') refreshDetail();
  if (S.screen === 'handover') refreshFlowOrder();
}

setInterval(refreshVisible, 30000);

// Central's status: only the banner depends on it.
let syncTimer = null;
let syncBusy = false;

async function pollSync() {
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
    if (r.status === 401) { syncBusy = false; goPair(); return; }
  } catch {
    S.boxDown = true;
  }
  syncBusy = false;
  renderBanners();
  if (S.session) syncTimer = setTimeout(pollSync, 3000);
}

// ---------------------------------------------------------------------------
// Data loading.
// ---------------------------------------------------------------------------

let boardBusy = false;
let boardAgain = false;
let boardSoon = null;

// Bursts of order events become one reload.
function scheduleBoardRefresh() {
  clearTimeout(boardSoon);
  boardSoon = setTimeout(() => {
    if (S.screen === 'board') {
      refreshBoard();
      if (S.board.query.trim()) runSearch();
    }
  }, 200);
}

async function refreshBoard() {
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

async function runSearch() {
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

async function refreshDetail() {
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

// During a hand-over keep the revision current; redraw only when what the
// customer gets changed (items, state, allowed actions).
async function refreshFlowOrder() {
  const f = S.flow;
  if (!f) return;
  try {
    const o = await api('GET', orderPath(f.order.order_id));
    if (S.flow !== f || S.screen !== 'handover' || older(o, f.order)) return;
    const shape = (x) => JSON.stringify([x.state, x.items, x.allowed, x.require_id_check]);
    const changed = shape(o) !== shape(f.order);
    f.order = o;
    if (!changed) return;
    if (!(o.allowed || []).includes('handover')) {
      toast('error', t('handoverNotAllowed'));
      openDetail(o.order_id, o);
      return;
    }
    notice(t('orderChanged'));
    openHandover(o, f.verifiedBy);
  } catch (e) {
    showError(e);
  }
}

function older(a, b) {
  return Number(a.revision) < Number(b.revision);
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

// One order action. Returns the updated order, or null after showing why.
// A 409 means the order moved on: say so and reload it.
async function doAction(order, name, body) {
  if (S.busy) return null;
  setBusy(true);
  try {
    return await api('POST', orderPath(order.order_id, name), body, { ifMatch: order.revision });
  } catch (e) {
    if (e.handled) return null;
    if (e.status === 409) {
      toast('error', explain(e) + ' ' + t('conflictReloaded'));
      reloadAfterConflict(order.order_id);
    } else {
      toast('error', explain(e));
    }
    return null;
  } finally {
    setBusy(false);
  }
}

async function reloadAfterConflict(orderId) {
  try {
    const o = await api('GET', orderPath(orderId));
    if (S.screen === 'handover' && S.flow && (o.allowed || []).includes('handover')) {
      openHandover(o, S.flow.verifiedBy);
    } else {
      openDetail(orderId, o);
    }
  } catch (e) {
    showError(e);
  }
}

function setBusy(on) {
  S.busy = on;
  $('screen').classList.toggle('busy', on);
}

// ---------------------------------------------------------------------------
// Rendering: top bar and banners.
// ---------------------------------------------------------------------------

function render() {
  renderTopbar();
  const root = $('screen');
  root.replaceChildren();
  root.dataset.screen = S.screen;
  const screens = {
    loading: renderLoading, pair: renderPair, login: renderLogin, board: renderBoard,
    detail: renderDetail, handover: renderHandover, refuse: renderRefuse, cancel: renderCancel,
    done: renderDone,
  };
  root.append(screens[S.screen]());
}

function renderTopbar() {
  const bar = $('topbar');
  bar.replaceChildren(
    h('div', { class: 'brand' }, t('appTitle')),
    h('div', { class: 'who' },
      S.session && S.session.name ? h('span', { class: 'tablet-name' }, t('tablet') + ': ' + S.session.name) : null,
      S.staff ? h('span', { class: 'staff-name', 'data-testid': 'staff-name' }, S.staff.name) : null),
    h('div', { class: 'bar-actions' },
      S.staff && S.session
        ? h('button', { class: 'btn btn-ghost', type: 'button', 'data-testid': 'logout', onclick: logout }, t('logout'))
        : null,
      h('button', {
        class: 'btn btn-ghost', type: 'button', 'data-testid': 'lang-toggle', 'aria-label': t('langToggleLabel'),
        onclick: () => setLang(S.lang === 'de' ? 'en' : 'de'),
      }, t('langToggle'))),
  );
}

function renderBanners() {
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
}

function renderLoading() {
  return h('section', { class: 'center-screen', 'data-testid': 'loading' },
    h('p', { class: 'big' }, t('loading')),
    h('button', { class: 'btn', type: 'button', onclick: boot }, t('retry')));
}

// ---------------------------------------------------------------------------
// Screen: pair.
// ---------------------------------------------------------------------------

function renderPair() {
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
    boot(); // the cookie is set now
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

function renderLogin() {
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
    if (S.pendingPass) openPassOrder(S.pendingPass); else goBoard();
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

// ---------------------------------------------------------------------------
// Screen: board (five sections) with search. The skeleton is built once
// per render; live updates only refill the lists so the search box keeps
// focus while staff type.
// ---------------------------------------------------------------------------

function renderBoard() {
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
      h('button', { class: 'btn', type: 'button', 'data-testid': 'refresh', onclick: () => refreshVisible() }, t('refresh'))),
    h('div', { id: 'search-box' }),
    h('div', { class: 'columns' }, COLUMNS.map((c) => h('section', { class: 'column col-' + c, 'data-testid': 'col-' + c },
      h('h2', {}, t('state_' + c), ' ', h('span', { class: 'count', id: 'count-' + c, 'data-testid': 'count-' + c }, '–')),
      h('div', { class: 'cards', id: 'cards-' + c })))));
  // Fill after the caller attached the tree.
  queueMicrotask(() => { fillBoard(); fillSearch(); });
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

function itemCount(o) {
  return (o.items || []).reduce((n, it) => n + (Number(it.quantity) || 0), 0);
}

function card(o, withState) {
  const customer = (o.customer && o.customer.display_name) || '';
  return h('button', {
    class: 'order-card' + (o.arrived_at ? ' is-arrived' : ''), type: 'button', 'data-testid': 'card-' + o.order_id,
    onclick: () => openDetail(o.order_id, o),
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

function stateChip(state, testid) {
  return h('span', { class: 'state state-' + state, 'data-state': state, 'data-testid': testid || null },
    tName('state_', state));
}

// ---------------------------------------------------------------------------
// Screen: order detail.
// ---------------------------------------------------------------------------

function backButton(onclick) {
  return h('button', { class: 'btn btn-ghost', type: 'button', 'data-testid': 'back', onclick }, '‹ ' + t('back'));
}

function renderDetail() {
  const d = S.detail;
  const o = d.order;
  if (!o) {
    return h('section', { class: 'panel', 'data-testid': 'detail', 'data-order-id': d.orderId },
      backButton(goBoard), h('p', { class: 'muted' }, t('loading')));
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
      backButton(goBoard),
      h('h1', {}, t('order') + ' ' + o.order_id),
      stateChip(o.state, 'detail-state')),
    o.changes ? h('div', { class: 'alert alert-changes', 'data-testid': 'detail-changes' },
      h('strong', {}, t('changesTitle')), h('div', {}, o.changes)) : null,
    o.require_id_check ? h('div', { class: 'alert alert-id' }, t('idCheckRequired')) : null,
    o.paid === false ? h('div', { class: 'alert alert-pay' }, t('notPaid')) : null,
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
      allowed.length ? ACTIONS.filter((a) => allowed.includes(a)).map((a) => actionButton(o, a)) : h('p', { class: 'muted' }, t('noActions'))));
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
    case 'handover': openHandover(o, null); return;
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
  scheduleBoardRefresh();
}

// ---------------------------------------------------------------------------
// Screen: hand-over (verify → quantities → PIN).
// ---------------------------------------------------------------------------

function renderHandover() {
  const f = S.flow;
  const o = f.order;
  return h('section', {
    class: 'flow-screen', 'data-testid': 'handover', 'data-order-id': o.order_id, 'data-verified-by': f.verifiedBy || '',
  },
  h('div', { class: 'detail-head' },
    backButton(() => openDetail(o.order_id, o)),
    h('h1', {}, t('handoverTitle', o.order_id)),
    h('span', { class: 'customer big' }, (o.customer && o.customer.display_name) || '')),
  o.changes ? h('div', { class: 'alert alert-changes' }, h('strong', {}, t('changesTitle')), h('div', {}, o.changes)) : null,
  o.paid === false ? h('div', { class: 'alert alert-pay' }, t('notPaid')) : null,
  verifyStep(f),
  f.verifiedBy ? linesStep(f) : h('p', { class: 'muted' }, t('verifyFirst')),
  f.verifiedBy ? pinStep(f) : null);
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
    const updated = await doAction(f.order, 'handover', {
      staff_id: S.staff.id, pin: value, verified_by: f.verifiedBy, lines,
    });
    if (!updated || S.flow !== f) return;
    S.done = { order: updated, handed, total: itemCount(f.order) };
    S.flow = null;
    S.screen = 'done';
    render();
    scheduleBoardRefresh();
  };
  return h('form', { class: 'step', 'data-testid': 'step-pin', onsubmit: confirm },
    h('h2', {}, t('step3')),
    h('div', { class: 'row' },
      h('label', { for: 'handover-pin' }, t('yourPin')), pin,
      h('button', { class: 'btn btn-primary btn-big', type: 'submit', 'data-testid': 'handover-confirm' }, t('handoverConfirm'))),
    (o.allowed || []).includes('refuse')
      ? h('button', {
        class: 'btn btn-danger', type: 'button', 'data-testid': 'handover-refuse',
        onclick: () => openReason('refuse', f.order),
      }, t('act_refuse'))
      : null);
}

function renderDone() {
  const { order, handed, total } = S.done;
  const partial = order.state === 'partially_handed_over';
  return h('section', { class: 'panel narrow center-screen', 'data-testid': 'handover-done', 'data-order-id': order.order_id },
    h('div', { class: 'done-mark' }, '✓'),
    h('h1', {}, partial ? t('donePartialTitle') : t('doneTitle')),
    h('p', { class: 'big' }, t('order') + ' ' + order.order_id + ' · ' + ((order.customer && order.customer.display_name) || '')),
    h('p', {}, t('handedSummary', handed, total)),
    stateChip(order.state, 'done-state'),
    h('button', { class: 'btn btn-primary btn-wide', type: 'button', 'data-testid': 'done-back', onclick: goBoard }, t('toBoard')));
}

// ---------------------------------------------------------------------------
// Screens: refuse and cancel (a reason, then the action).
// ---------------------------------------------------------------------------

function renderRefuse() {
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

function renderCancel() {
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

// ---------------------------------------------------------------------------
// A rejected pickup pass from the counter scanner: shown big, over
// everything, until tapped away (or after 20 s).
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------

document.documentElement.lang = S.lang;
boot();
