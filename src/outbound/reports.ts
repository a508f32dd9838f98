// Delivery reports (status callbacks) from ITSPs: update the stored state of a
// text we sent, and tell the sender when it failed after all.

import type { InterfaceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { OutboundStore } from '../store/outbound.js';
import { adapterFor } from '../../providers/index.js';
import type { Notifier } from './notify.js';

export function createReportHandler(deps: { store: OutboundStore; notifier: Notifier; log: Logger; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return (iface: InterfaceConfig, fields: Record<string, unknown>): 'applied' | 'ignored' | 'unreadable' => {
    const report = adapterFor(iface.provider).parseStatus(fields, iface.send);
    if (!report) return 'unreadable';
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
