// Screen: the manager dashboard (issue 13). Today so far against the last
// 7 and 28 whole days (today excluded), one small SVG chart per KPI
// (chart.js), the overdue list and the moments of silence, from
// `GET /api/v1/kpis` (the JSON of `kpi::Report`, src/kpi/report.rs: rates
// 0..1 or null without a denominator, money in minor units per currency,
// durations in seconds, `days` one entry per local day). The windows are
// computed from the date the box says is today in the store's time zone,
// never from the tablet's clock. A `kpis_changed` event reloads (bursts
// become one reload); offline, the last numbers stay with "offline, as of
// HH:MM".

import { S } from './state.js';
import { h, showError } from './dom.js';
import { t, tName } from './i18n.js';
import { api, enc } from './api.js';
import { render } from './view.js';
import { columns, bars } from './chart.js';

const STAGES = ['awareness', 'consideration', 'decision', 'service', 'loyalty'];
const CONTEXTS = ['pickup', 'checkout', 'service_desk'];
// A burst of events (a till posting its day) becomes one reload.
const DEBOUNCE_MS = 1500;
// While the box cannot be reached, try again this often.
const OFFLINE_RETRY_MS = 10000;

export function goDashboard() {
  S.screen = 'dashboard';
  render();
  loadKpis();
}

let busy = false;
let again = false;
let soon = null;
let retry = null;

// `kpis_changed`: reload soon, once per burst.
export function scheduleKpiReload() {
  clearTimeout(soon);
  soon = setTimeout(() => { if (S.screen === 'dashboard') loadKpis(); }, DEBOUNCE_MS);
}

// `YYYY-MM-DD` plus `n` days (calendar arithmetic, no time zone involved).
export function addDays(day, n) {
  const [y, m, d] = String(day).split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

const windowPath = (from, to) => `/api/v1/kpis?from=${enc(from)}&to=${enc(to)}`;

export async function loadKpis() {
  if (busy) { again = true; return; }
  busy = true;
  clearTimeout(retry);
  try {
    const today = await api('GET', '/api/v1/kpis');
    // `from` of today's report is today's local date in the store's zone.
    const day = today.from;
    const [week, month] = await Promise.all([
      api('GET', windowPath(addDays(day, -7), day)),
      api('GET', windowPath(addDays(day, -28), day)),
    ]);
    S.kpi = { today, week, month, asOf: today.generated_at || new Date().toISOString(), offline: false };
  } catch (e) {
    if (e.status === 0) {
      // Keep the last numbers; say since when they are.
      if (S.kpi) S.kpi.offline = true; else S.kpiOffline = true;
      retry = setTimeout(() => { if (S.screen === 'dashboard') loadKpis(); }, OFFLINE_RETRY_MS);
    } else if (!e.handled) {
      showError(e);
    }
  } finally {
    busy = false;
  }
  if (S.kpi && !S.kpi.offline) S.kpiOffline = false;
  if (S.screen === 'dashboard') render();
  if (again) { again = false; loadKpis(); }
}

// ---------------------------------------------------------------------------
// Formatting.
// ---------------------------------------------------------------------------

const locale = () => (S.lang === 'de' ? 'de-DE' : 'en-GB');
const finite = (v) => typeof v === 'number' && Number.isFinite(v);
const DASH = '–';

function fmtCount(v) {
  if (!finite(v)) return DASH;
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: v < 10 && v % 1 ? 1 : 0 }).format(v);
}

function fmtRate(v) {
  return finite(v) ? new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: 0 }).format(v) : DASH;
}

function fmtRatio(v) {
  return finite(v) ? new Intl.NumberFormat(locale(), { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(v) : DASH;
}

function fmtSeconds(v) {
  if (!finite(v)) return DASH;
  if (v < 60) return t('kpiSeconds', Math.round(v));
  const min = Math.round(v / 60);
  if (min < 60) return t('kpiMinutes', min);
  return t('kpiHours', Math.floor(min / 60), String(min % 60).padStart(2, '0'));
}

function currencyDigits(currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

function fmtMoney(minor, currency) {
  if (!finite(minor)) return DASH;
  const value = minor / 10 ** currencyDigits(currency);
  try {
    return new Intl.NumberFormat(locale(), { style: 'currency', currency }).format(value);
  } catch {
    return `${value.toFixed(2)} ${currency}`;
  }
}

function fmtNps(v) {
  if (!finite(v)) return DASH;
  return (v > 0 ? '+' : '') + new Intl.NumberFormat(locale()).format(v);
}

// A date of the report (`YYYY-MM-DD`) as a short label.
function dayLabel(day) {
  const [, m, d] = String(day).split('-');
  return S.lang === 'de' ? `${d}.${m}.` : `${d}/${m}`;
}

function fmtClock(iso, timeZone) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const opts = { hour: '2-digit', minute: '2-digit' };
  try {
    return new Intl.DateTimeFormat(locale(), { ...opts, timeZone }).format(d);
  } catch {
    return new Intl.DateTimeFormat(locale(), opts).format(d);
  }
}

// ---------------------------------------------------------------------------
// Screen.
// ---------------------------------------------------------------------------

export function renderDashboard() {
  const k = S.kpi;
  if (!k) {
    return h('section', { class: 'panel', 'data-testid': 'dashboard' },
      h('h1', {}, t('kpiTitle')),
      S.kpiOffline
        ? h('p', { class: 'kpi-offline', 'data-testid': 'kpi-offline', role: 'status' }, t('kpiOfflineNoData'))
        : h('p', { class: 'muted' }, t('loading')));
  }
  const tz = k.today.timezone;
  const asOf = fmtClock(k.asOf, tz);
  return h('section', { class: 'dashboard', 'data-testid': 'dashboard', 'data-day': k.today.from },
    h('div', { class: 'kpi-head' },
      h('h1', {}, t('kpiTitle')),
      h('p', { class: 'muted' }, t('kpiSubtitle', dayLabel(k.today.from), tz)),
      k.offline
        ? h('p', { class: 'kpi-offline', 'data-testid': 'kpi-offline', role: 'status' }, t('kpiOffline', asOf))
        : h('p', { class: 'muted', 'data-testid': 'kpi-as-of' }, t('kpiAsOf', asOf))),
    h('div', { class: 'kpi-grid' }, kpiCards(k)),
    h('div', { class: 'kpi-lists' }, overdueList(k.today), silenceList(k)));
}

// Today, 7 days, 28 days: what one card shows above its chart.
function figures(values, testid) {
  const labels = [t('kpiToday'), t('kpi7'), t('kpi28')];
  return h('div', { class: 'kpi-figures' }, values.map((v, i) => h('div', {
    class: 'kpi-figure' + (i === 0 ? ' kpi-figure-today' : ''),
    'data-testid': i === 0 ? testid + '-today' : null,
  }, h('span', { class: 'kpi-figure-value' }, v), h('span', { class: 'kpi-figure-label' }, labels[i]))));
}

function card(id, title, values, chart, ...notes) {
  return h('article', { class: 'kpi-card', 'data-testid': 'kpi-' + id },
    h('h2', {}, title),
    figures(values, 'kpi-' + id),
    chart,
    notes.filter(Boolean).map((n) => h('p', { class: 'kpi-note muted' }, n)));
}

function kpiCards({ today: T, week: W, month: M }) {
  const days = (r, fallback) => (r.days && r.days.length) || fallback;
  // Counts of 7 and 28 days as an average per day, next to today's count.
  const perDay = (v, r, n) => (finite(v) ? 'Ø ' + fmtCount(v / days(r, n)) : DASH);
  const counts = (f) => [fmtCount(f(T)), perDay(f(W), W, 7), perDay(f(M), M, 28)];
  const same = (f, fmt) => [fmt(f(T)), fmt(f(W)), fmt(f(M))];
  const today = t('kpiToday');
  // The 28 days one column each, then today's, marked.
  const series = (title, f, fmt) => columns([
    ...(M.days || []).map((d) => ({ label: dayLabel(d.day), value: f(d) })),
    ...(T.days || []).map((d) => ({ label: dayLabel(d.day), value: f(d), mark: true })),
  ], { fmt, title });
  const compare = (title, f, fmt) => columns([
    { label: today, value: f(T), mark: true }, { label: t('kpi7'), value: f(W) }, { label: t('kpi28'), value: f(M) },
  ], { fmt, title });
  const p = (r) => r.pickups;

  const out = [];
  out.push(card('transactions', t('kpiTransactions'), counts((r) => r.sales.transactions),
    series(t('kpiTransactions'), (d) => d.transactions, fmtCount),
    t('kpiItemsPerTx', fmtRatio(T.sales.items_per_transaction))));

  const currencies = [...new Set([T, W, M].flatMap((r) => r.sales.by_currency.map((c) => c.currency)))].sort();
  const inCur = (r, cur) => r.sales.by_currency.find((c) => c.currency === cur);
  for (const cur of currencies) {
    const revenue = (r) => (inCur(r, cur) ? inCur(r, cur).revenue_minor : 0);
    const money = (v) => fmtMoney(v, cur);
    const avgMoney = (r, n) => 'Ø ' + money(Math.round(revenue(r) / days(r, n)));
    out.push(card('revenue-' + cur, t('kpiRevenue', cur), [money(revenue(T)), avgMoney(W, 7), avgMoney(M, 28)],
      series(t('kpiRevenue', cur), (d) => (d.revenue_minor && d.revenue_minor[cur]) || 0, money)));
    const aov = (r) => (inCur(r, cur) ? inCur(r, cur).average_order_value_minor : null);
    out.push(card('aov-' + cur, t('kpiAov', cur), same(aov, money), compare(t('kpiAov', cur), aov, money)));
  }

  const idRate = (r) => r.loyalty.identification_rate;
  out.push(card('identification', t('kpiIdentification'), same(idRate, fmtRate),
    series(t('kpiIdentification'), (d) => d.identification_rate, fmtRate),
    t('kpiIdentifiedOf', T.loyalty.identified_transactions, T.sales.transactions)));
  const repeat = (r) => r.loyalty.repeat_visits;
  out.push(card('repeat', t('kpiRepeat'), same(repeat, fmtRatio), compare(t('kpiRepeat'), repeat, fmtRatio),
    t('kpiCustomers', T.loyalty.identified_customers, T.loyalty.visits)));
  const retention = (r) => r.loyalty.retention;
  out.push(card('retention', t('kpiRetention'), same(retention, fmtRate), compare(t('kpiRetention'), retention, fmtRate),
    t('kpiReturning', M.loyalty.returning_customers, M.loyalty.identified_customers)));

  const channels = Object.entries(p(T).received_by_channel || {}).map(([c, n]) => `${c} ${n}`).join(' · ');
  out.push(card('received', t('kpiReceived'), counts((r) => p(r).received),
    series(t('kpiReceived'), (d) => d.received, fmtCount), channels || null));
  const onTime = (r) => p(r).ready_on_time_rate;
  out.push(card('ready-on-time', t('kpiReadyOnTime', p(T).ready_within_min), same(onTime, fmtRate),
    series(t('kpiReadyOnTime', p(T).ready_within_min), (d) => d.ready_on_time_rate, fmtRate),
    t('kpiReadyOf', p(T).ready_on_time, p(T).ready)));
  const pair = (q) => `${fmtSeconds(q.p50)} / ${fmtSeconds(q.p90)}`;
  out.push(card('time-to-ready', t('kpiTimeToReady'), same((r) => p(r).time_to_ready_seconds, pair),
    series(t('kpiTimeToReady'), (d) => d.time_to_ready_p50, fmtSeconds), t('kpiP50P90')));
  out.push(card('counter-wait', t('kpiCounterWait'), same((r) => p(r).counter_wait_seconds, pair),
    series(t('kpiCounterWait'), (d) => d.counter_wait_p50, fmtSeconds), t('kpiP50P90')));
  out.push(card('pickup-rate', t('kpiPickupRate'), same((r) => p(r).pickup_rate, fmtRate),
    series(t('kpiPickupRate'), (d) => d.pickup_rate, fmtRate),
    t('kpiOutcomes', p(T).outcomes.total, p(T).outcomes.partially_handed_over, p(T).outcomes.refused)));
  out.push(card('no-show-rate', t('kpiNoShowRate'), same((r) => p(r).no_show_rate, fmtRate),
    series(t('kpiNoShowRate'), (d) => d.no_show_rate, fmtRate),
    t('kpiNoShows', p(T).outcomes.no_show, p(T).overdue_now)));
  const cross = (r) => p(r).cross_sell.rate;
  const crossRevenue = p(M).cross_sell.revenue.map((a) => fmtMoney(a.amount_minor, a.currency)).join(' · ');
  out.push(card('cross-sell', t('kpiCrossSell'), same(cross, fmtRate), compare(t('kpiCrossSell'), cross, fmtRate),
    t('kpiCrossSellOf', p(T).cross_sell.orders_with_sale, p(T).cross_sell.handed_over_orders),
    crossRevenue ? t('kpiCrossSellRevenue', crossRevenue) : null));

  out.push(npsCard(T, W, M, series));

  const stages = STAGES.map((s) => ({ label: tName('stage_', s), value: (T.touchpoints.by_stage || {})[s] || 0 }));
  out.push(card('touchpoints', t('kpiTouchpoints'), counts((r) => r.touchpoints.total),
    bars(stages, { fmt: fmtCount, title: t('kpiTouchpoints') }), t('kpiTouchpointsToday')));
  return out;
}

function npsCard(T, W, M, series) {
  const score = (r) => r.nps.overall;
  const text = (s) => (s.enough_answers && finite(s.score) ? fmtNps(s.score) : t('kpiNpsTooFew'));
  const today = score(T);
  const contexts = CONTEXTS.map((c) => {
    const s = (T.nps.by_context || {})[c];
    return s && s.answers ? `${tName('ctx_', c)} ${text(s)} (${s.answers})` : null;
  }).filter(Boolean).join(' · ');
  const el = card('nps', t('kpiNps'), [text(today), text(score(W)), text(score(M))],
    series(t('kpiNps'), (d) => d.nps, fmtNps),
    today.enough_answers ? t('kpiNpsAnswers', today.answers, today.promoters, today.detractors) : t('kpiNpsNotEnough', today.answers),
    contexts || null);
  // What the test and a screen reader can read without parsing text.
  const fig = el.querySelector('[data-testid="kpi-nps-today"]');
  if (fig) {
    fig.dataset.answers = String(today.answers);
    fig.dataset.score = today.enough_answers && finite(today.score) ? String(today.score) : '';
  }
  return el;
}

function overdueList(T) {
  const rows = T.overdue || [];
  return h('section', { class: 'panel kpi-list', 'data-testid': 'kpi-overdue' },
    h('h2', {}, t('kpiOverdueTitle'), ' ', h('span', { class: 'count' }, String(rows.length))),
    rows.length === 0
      ? h('p', { class: 'muted' }, t('kpiOverdueNone'))
      : h('table', { class: 'kpi-table' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('order')), h('th', {}, t('kpiState')), h('th', {}, t('pickupBy')),
          h('th', { class: 'num' }, t('kpiOverdueBy')), h('th', { class: 'num' }, t('lines')))),
        h('tbody', {}, rows.map((o) => h('tr', { 'data-testid': 'kpi-overdue-' + o.order_id },
          h('td', {}, o.order_id),
          h('td', {}, tName('state_', o.state)),
          h('td', {}, dayTime(o.pickup_by, T.timezone)),
          h('td', { class: 'num' }, fmtSeconds(o.minutes_overdue * 60)),
          h('td', { class: 'num' }, String(o.item_count)))))));
}

function dayTime(iso, timeZone) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso || '');
  const opts = { day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit' };
  try {
    return new Intl.DateTimeFormat(locale(), { ...opts, timeZone }).format(d);
  } catch {
    return new Intl.DateTimeFormat(locale(), opts).format(d);
  }
}

function silenceList({ today: T, week: W, month: M }) {
  const s = T.silence;
  const row = (label, f, testid) => h('tr', { 'data-testid': testid },
    h('td', {}, label), h('td', { class: 'num' }, fmtCount(f(T))), h('td', { class: 'num' }, fmtCount(f(W))),
    h('td', { class: 'num' }, fmtCount(f(M))));
  return h('section', { class: 'panel kpi-list', 'data-testid': 'kpi-silence' },
    h('h2', {}, t('kpiSilenceTitle')),
    h('p', { 'data-testid': 'kpi-not-reminded' },
      h('strong', {}, t('kpiNotReminded', s.ready_not_reminded)),
      (s.ready_not_reminded_orders || []).length ? ' ' + s.ready_not_reminded_orders.join(', ') : null),
    h('table', { class: 'kpi-table' },
      h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', { class: 'num' }, t('kpiToday')),
        h('th', { class: 'num' }, t('kpi7')), h('th', { class: 'num' }, t('kpi28')))),
      h('tbody', {},
        row(t('kpiIdentifiedNoSale'), (r) => r.silence.identified_without_sale, 'kpi-identified-no-sale'),
        row(t('kpiPriceCheckNoSale'), (r) => r.silence.price_checks_without_sale, 'kpi-price-check-no-sale'))));
}
