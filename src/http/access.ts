// Who may post to an interface: the ITSP's addresses (CIDR allowlist), with the
// client address taken from X-Forwarded-For only when the direct peer is a
// trusted proxy, then optional HTTP Basic credentials or a secret path token.

import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { makeAddressMatcher } from '../config/cidr.js';
import type { InterfaceConfig } from '../config/types.js';
import { RequestError } from '../errors.js';

export type AddressMatcher = (ip: string) => boolean;

/** The address the request came from, believing X-Forwarded-For only from trusted proxies. */
export function clientAddress(req: IncomingMessage, trusted: AddressMatcher): string {
  let addr = req.socket.remoteAddress ?? '';
  const xff = req.headers['x-forwarded-for'];
  if (!xff || !trusted(addr)) return addr;
  // Walk from the right: the first hop not added by one of our own proxies is the client.
  const hops = (Array.isArray(xff) ? xff.join(',') : xff)
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    addr = hops[i]!;
    if (!trusted(addr)) break;
  }
  return addr;
}

export interface InterfaceGuard {
  /** Throws RequestError(401/403) when the request may not use this interface. */
  check(req: IncomingMessage, clientIp: string, pathToken: string | undefined): void;
}

export function createGuard(iface: InterfaceConfig): InterfaceGuard {
  const allowed = makeAddressMatcher(iface.allow);
  const basic = iface.username !== '' ? `${iface.username}:${iface.password}` : undefined;
  return {
    check(req, ip, pathToken) {
      if (!allowed(ip)) {
        throw new RequestError(403, `address ${ip} may not post to interface ${iface.name}`);
      }
      if (iface.token !== '' && !safeEqual(pathToken ?? '', iface.token)) {
        throw new RequestError(403, `wrong or missing token in the URL for interface ${iface.name}`);
      }
      if (basic !== undefined) {
        const h = req.headers.authorization ?? '';
        const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
        const given = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
        if (!safeEqual(given, basic)) {
          throw new RequestError(401, `HTTP Basic credentials required for interface ${iface.name}`);
        }
      }
    },
  };
}

/** Constant-time comparison that does not leak the expected length either. */
function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}
