// What the order screens (order, hand-over) share: item counts, how much
// of a line can be handed over, revision order, and one order action with
// its If-Match and the reload after a 409.

import { S } from './state.js';
import { toast, showError } from './dom.js';
import { t } from './i18n.js';
import { api, orderPath, explain } from './api.js';
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
