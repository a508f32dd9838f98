// Delivery reports (status callbacks) from ITSPs: update the stored state of a
// text we sent, and tell the sender when it failed after all. The provider's
// profile has read the report out of the webhook (parseWebhook). The ITSP's
// words about a failure go into the text's history, never to the phone
// (src/outbound/failure.ts).

import type { InterfaceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { OutboundStore } from '../store/outbound.js';
import type { StatusReport } from '../../providers/types.js';
import type { Notifier } from './notify.js';
import { finalReason } from './failure.js';
import { noRedaction, type Redact } from '../redact.js';

export type ReportOutcome = 'applied' | 'ignored';

export type ReportHandler = (iface: InterfaceConfig, report: StatusReport) => ReportOutcome;

export function createReportHandler(deps: { store: OutboundStore; notifier: Notifier; log: Logger; redact?: Redact; now?: () => number }): ReportHandler {
  const now = deps.now ?? Date.now;
  const redact = deps.redact ?? noRedaction;
  return (iface, report) => {
    const detail = report.reason === null ? undefined : redact(report.reason);
    const reason = report.state === 'failed' ? finalReason('undelivered') : null;
    const row = deps.store.report(iface.name, report.providerId, report.state, reason, now(), detail);
    if (!row) {
      deps.log.info({ iface: iface.name, providerId: report.providerId, state: report.state }, 'delivery report for no pending text; ignored');
      return 'ignored';
    }
    deps.log.info({ id: row.id, iface: iface.name, state: report.state, ...(detail !== undefined ? { detail } : {}) }, 'delivery report');
    if (report.state === 'failed' || report.state === 'delivered') deps.notifier.notify(row, report.state, reason);
    return 'applied';
  };
}
