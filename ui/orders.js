// What the order screens (order, hand-over) share: item counts, how much
// of a line can be handed over, revision order, one order action with
// its If-Match and the reload after a 409, and "ask for feedback" on a
// handed-over order.

import { S } from './state.js';
import { h, toast, showError, notice } from './dom.js';
import { t } from './i18n.js';
import { api, orderPath, explain, isFeedbackExists } from './api.js';
import { nav, setBusy } from './view.js';

export function itemCount(o) {
  return (o.items || []).reduce((n, it) => n + (Number(it.quantity) || 0), 0);
}

/** How much of a line can be handed over: what was picked, when known. */
export function pickable(it) {
  const ordered = Number(it.quantity) || 0;
  return it.picked != null ? Math.min(Number(it.picked) || 0, ordered) : ordered;
}

export function older(a, b) {
  return Number(a.revision) < Number(b.revision);
}

// One order action. Returns the updated order, or null after showing why.
// A 409 means the order moved on: say so and reload it.
export async function doAction(order, name, body) {
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

// Orders the customer collected (all or part): the kiosk may ask about them.
export function feedbackAskable(order) {
  return order.state === 'handed_over' || order.state === 'partially_handed_over';
}

// "Ask for feedback": the box sends a `feedback_prompt` to the kiosk of
// this tablet's register, which then asks the customer about this order.
export function askFeedbackButton(orderId) {
  return h('button', {
    class: 'btn btn-primary', type: 'button', 'data-testid': 'ask-feedback',
    onclick: () => askFeedback(orderId),
  }, t('askFeedback'));
}

async function askFeedback(orderId) {
  if (S.busy) return;
  setBusy(true);
  try {
    await api('POST', orderPath(orderId, 'ask-feedback'));
    notice(t('feedbackAsked'));
  } catch (e) {
    if (e.handled) return;
    // 409: the order has its answer already, no kiosk serves this
    // register, or the order cannot be asked about now (the box's words).
    const noKiosk = e.status === 409 && /no-kiosk$/.test(String((e.problem || {}).type || ''));
    toast('error', isFeedbackExists(e) ? t('feedbackExistsStaff') : noKiosk ? t('feedbackNoKiosk') : explain(e));
  } finally {
    setBusy(false);
  }
}

async function reloadAfterConflict(orderId) {
  try {
    const o = await api('GET', orderPath(orderId));
    if (S.screen === 'handover' && S.flow && (o.allowed || []).includes('handover')) {
      nav.handover(o, S.flow.verifiedBy);
    } else {
      nav.detail(orderId, o);
    }
  } catch (e) {
    showError(e);
  }
}
