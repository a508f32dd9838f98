// What of a request path may go into a log line. Webhook URLs can end in an
// interface's secret token (<path>/<token>), and an ITSP still posting to an
// old or mistyped path sends that token along: a 404 must not write it out.

import type { InterfaceConfig } from '../config/types.js';

const TOKEN_LIKE = /^[A-Za-z0-9_.~-]{16,}$/;

/**
 * The path as it may be logged: under an interface's webhook or status path,
 * that path with whatever follows replaced; elsewhere every segment that could
 * be a token (16 or more token characters) replaced. At most 200 characters.
 */
export function loggablePath(path: string, interfaces: readonly InterfaceConfig[]): string {
  const p = path.split('?')[0]!;
  for (const iface of interfaces) {
    for (const base of [iface.path, iface.send.statusPath]) {
      if (base !== '/' && p.startsWith(`${base}/`)) return `${base}/(hidden)`;
    }
  }
  const out = p
    .split('/')
    .map((seg) => (TOKEN_LIKE.test(seg) ? '(hidden)' : seg))
    .join('/');
  return out.length > 200 ? `${out.slice(0, 200)}...` : out;
}
