// The printers as staff see them (issue 12): print jobs that are
// `uncertain` (sending was interrupted: it may or may not have printed)
// with "print again" and "it printed, skip", on every staff tablet until
// someone decides; and each printer's paper state for the board, from
// GET /api/v1/devices (`kind: "printer"`, `paper` when the box knows it).
// Polled every few seconds while staff are logged in; no DOM here:
// view.js draws the banner and board.js the paper chips from `S.print`.

import { S } from './state.js';
import { api, enc } from './api.js';

const POLL_MS = 5000;
let timer = null;
let busy = false;
let onChange = () => {};

// What to redraw when the jobs or the printers changed (set by app.js).
export function setPrintChanged(fn) {
  onChange = fn;
}

export async function pollPrinters() {
  clearTimeout(timer);
  if (!S.staff || busy) {
    if (S.session) timer = setTimeout(pollPrinters, POLL_MS);
    return;
  }
  busy = true;
  let changed = false;
  try {
    const [jobs, devices] = await Promise.all([
      api('GET', '/api/v1/print-jobs?state=uncertain'),
      api('GET', '/api/v1/devices'),
    ]);
    const uncertain = (jobs && Array.isArray(jobs.jobs)) ? jobs.jobs : [];
    const printers = ((devices && devices.devices) || []).filter((d) => d && d.kind === 'printer');
    const before = JSON.stringify(S.print);
    S.print = { uncertain, printers };
    changed = JSON.stringify(S.print) !== before;
  } catch {
    // The box's banners already say when it is unreachable; try again later.
  } finally {
    busy = false;
    if (S.session) timer = setTimeout(pollPrinters, POLL_MS);
  }
  // Outside the try: a drawing bug is a page error, not an unreachable box.
  if (changed) onChange();
}

// A person's decision on an uncertain job: 'reprint' or 'skip'.
export async function decide(jobId, action) {
  await api('POST', '/api/v1/print-jobs/' + enc(jobId) + '/' + action);
  await pollPrinters();
}
