// Delivery reports (status callbacks) from ITSPs: update the stored state of a
// text we sent, and tell the sender when it failed after all. The provider's
// profile has read the report out of the webhook (parseWebhook).

import type { InterfaceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { OutboundStore } from '../store/outbound.js';
import type { StatusReport } from '../../providers/types.js';
import type { Notifier } from './notify.js';

export type ReportOutcome = 'applied' | 'ignored';

export type ReportHandler = (iface: InterfaceConfig, report: StatusReport) => ReportOutcome;

export function createReportHandler(deps: { store: OutboundStore; notifier: Notifier; log: Logger; now?: () => number }): ReportHandler {
  const now = deps.now ?? Date.now;
  return (iface, report) => {
    const row = deps.store.report(iface.name, report.providerId, report.state, report.reason, now());
    if (!row) {
      deps.log.info({ iface: iface.name, providerId: report.providerId, state: report.state }, 'delivery report for no pending text; ignored');
      return 'ignored';
    }
    deps.log.info({ id: row.id, iface: iface.name, state: report.state, reason: report.reason }, 'delivery report');
    if (report.state === 'failed' || report.state === 'delivered') deps.notifier.notify(row, report.state, report.reason);
    return 'applied';
  };
}
