// The one line websms says once it listens: where each interface's webhooks
// go, where the dialplan's hand-offs go, where the management API listens,
// the web page when it is on, and whether texts are sent, and through which
// interfaces. What a new user
// checks first, in one place; never a token or another secret.

import type { Config } from './config/types.js';
import type { Fields } from './log.js';

export interface BoundPorts {
  /** The webhook listener's port as bound ([general] listen may say 0). */
  http: number;
  /** The FastAGI server's port as bound. */
  agi: number;
  /** The management listener's port as bound, when known; else [api] listen's. */
  api?: number;
  /** The reply listener's port as bound, when it runs. */
  replies?: number;
}

/** host:port, an IPv6 address in brackets. */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The fields and the message of the start-up line. */
export function startupLine(config: Config, ports: BoundPorts): { fields: Fields; msg: string } {
  const web = hostPort(config.general.listenHost, ports.http);
  const agi = hostPort(config.agi.listenHost, ports.agi);
  const api = hostPort(config.api.listenHost, ports.api ?? config.api.listenPort);
  const webhooks = config.interfaces.map((i) => {
    // The token is part of the URL the ITSP must be given; show where it goes, never what it is.
    const path = i.token !== '' ? `${i.path}/<token>` : i.path;
    const status = i.send.url === '' ? undefined : i.token !== '' ? `${i.send.statusPath}/<token>` : i.send.statusPath;
    return status === undefined ? { iface: i.name, path } : { iface: i.name, path, status };
  });
  const sending = config.interfaces.filter((i) => i.send.url !== '').map((i) => i.name);
  const fields: Fields = {
    webhooks: `http://${web}`,
    interfaces: webhooks,
    handoffs: `agi://${agi}`,
    api: `http://${api}`,
    sending: sending.length > 0 ? sending : 'off',
  };
  const page = config.web.password !== '' ? `http://${api}/web/` : undefined;
  if (page !== undefined) fields.page = page;
  const paths = webhooks.map((w) => `${w.iface} ${w.path}${w.status ? ` (reports ${w.status})` : ''}`).join(', ');
  const send =
    sending.length > 0
      ? `sending through ${sending.join(', ')}`
      : 'sending is off (no interface has a send_url; texts from phones are refused at hand-off)';
  let msg = `websms started: webhooks on http://${web} (${paths}); hand-offs from the dialplan on FastAGI ${agi}; management API on http://${api}; ${page !== undefined ? `the web page on ${page}; ` : ''}${send}`;
  const e = config.email;
  if (e.users.length > 0) {
    const smtp = hostPort(e.smtp.host, e.smtp.port);
    const replies = [
      ...(e.replyListen !== null ? [`SMTP on ${hostPort(e.replyListen.host, ports.replies ?? e.replyListen.port)}`] : []),
      ...(e.imap.host !== '' ? [`mailbox ${e.imap.mailbox} at ${e.imap.host}`] : []),
    ];
    fields.email = { users: e.users.length, smtp, replies: replies.length > 0 ? replies : 'off' };
    msg += `; e-mail to ${e.users.length} user(s) through ${smtp}, replies ${replies.length > 0 ? `from ${replies.join(' and ')}` : 'not read'}`;
  }
  return { fields, msg };
}
