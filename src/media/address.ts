// Where media may be fetched from. A media URL comes from a webhook, and
// whoever can post one (an interface without a signature or token, or a
// profile whose provider does not sign) chooses it: without a check, websms
// would request loopback services (Asterisk's HTTP, the management API),
// the LAN (a router's admin page) or a cloud metadata address on their behalf.
// So only public addresses are fetched from, unless [media] fetch_allow names
// others. The check runs on the address websms actually connects to, for the
// URL and every redirect: as the connection's own DNS lookup, so a name that
// resolves to a public address when checked and a private one when used
// (DNS rebinding) cannot slip through.

import dns from 'node:dns';
import net from 'node:net';
import { expandIPv6, makeAddressMatcher, mappedIPv4 } from '../config/cidr.js';

/** A media host whose address may not be fetched from. */
export class AddressRefused extends Error {
  constructor(readonly address: string) {
    super(`the media host's address ${address} is not a public one: websms fetches media only from public addresses unless [media] fetch_allow lists it`);
    this.name = 'AddressRefused';
  }
}

// Special-purpose ranges (IANA registries): not reachable on the public
// internet, or meaning this host or its network.
const SPECIAL_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const SPECIAL_V6: Array<[string, number]> = [
  ['::', 128], ['::1', 128], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32], ['2002::', 16],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
];
const special = new net.BlockList();
for (const [a, p] of SPECIAL_V4) special.addSubnet(a, p, 'ipv4');
for (const [a, p] of SPECIAL_V6) special.addSubnet(a, p, 'ipv6');

/** Whether an address is on the public internet; an IPv4 address inside IPv6 (mapped, NAT64) is judged as IPv4. */
export function isPublicAddress(ip: string): boolean {
  const addr = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const version = net.isIP(addr);
  if (version === 4) return !special.check(addr, 'ipv4');
  if (version !== 6) return false;
  const inner = mappedIPv4(addr) ?? nat64(addr);
  if (inner !== undefined) return isPublicAddress(inner);
  return !special.check(addr, 'ipv6');
}

/** a.b.c.d of an address in the well-known NAT64 prefix 64:ff9b::/96 (DNS64 on an IPv6-only host). */
function nat64(ip: string): string | undefined {
  const g = expandIPv6(ip);
  if (g === undefined || g[0] !== 0x64 || g[1] !== 0xff9b || g.slice(2, 6).some((x) => x !== 0)) return undefined;
  return [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff].join('.');
}

export type AddressCheck = (ip: string) => boolean;

/** Public addresses, and those in `allow` ([media] fetch_allow). */
export function fetchableAddress(allow: readonly string[]): AddressCheck {
  const allowed = allow.length > 0 ? makeAddressMatcher([...allow]) : () => false;
  return (ip) => isPublicAddress(ip) || allowed(ip);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http(s).request that resolves as usual and refuses a host
 * any of whose addresses fails the check (a name that also resolves to a
 * loopback address is not one to trust with the others).
 */
export function checkedLookup(check: AddressCheck): (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => void {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, options.all ? [] : '', undefined);
      const bad = addresses.find((a) => !check(a.address));
      if (bad) return callback(Object.assign(new AddressRefused(bad.address), { code: 'EMEDIAADDRESS' }), options.all ? [] : '', undefined);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', undefined);
      callback(null, first.address, first.family);
    });
  };
}
