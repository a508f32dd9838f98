// Address allowlists. Rules are checked with node's BlockList; an IPv4 client
// seen through a dual-stack socket arrives as ::ffff:a.b.c.d, and an
// administrator who wrote 203.0.113.0/24 means that client too.

import net from 'node:net';

export type Family = 'ipv4' | 'ipv6';

export type CidrResult =
  | { ok: true; family: Family; address: string; prefix: number; cidr: string }
  | { ok: false; reason: string };

/** An IPv4 or IPv6 CIDR, or a bare address (= /32 or /128). */
export function parseCidr(input: string): CidrResult {
  const s = input.trim();
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  const bits = slash < 0 ? undefined : s.slice(slash + 1);
  // A zone index (fe80::1%eth0) names a local link, not an address range.
  const version = address.includes('%') ? 0 : net.isIP(address);
  if (version === 0) return { ok: false, reason: `"${s}" is not an IPv4 or IPv6 address or CIDR` };
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (bits !== undefined) {
    prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (!(prefix <= max)) {
      return { ok: false, reason: `"${s}": the prefix length must be 0-${max} for an IPv${version} address` };
    }
  }
  const family: Family = version === 4 ? 'ipv4' : 'ipv6';
  return { ok: true, family, address, prefix, cidr: `${address}/${prefix}` };
}

/** A predicate telling whether an address is inside any of the CIDRs. Throws on a bad CIDR. */
export function makeAddressMatcher(cidrs: string[]): (ip: string) => boolean {
  const list = new net.BlockList();
  for (const c of cidrs) {
    const r = parseCidr(c);
    if (!r.ok) throw new Error(r.reason);
    list.addSubnet(r.address, r.prefix, r.family);
  }
  const check = (ip: string): boolean => {
    const addr = ip.trim().replace(/%.*$/, '');
    const version = net.isIP(addr);
    if (version === 4) return list.check(addr, 'ipv4');
    if (version !== 6) return false;
    const v4 = mappedIPv4(addr);
    return (v4 !== undefined && list.check(v4, 'ipv4')) || list.check(addr, 'ipv6');
  };
  // The same few addresses (an ITSP's, a proxy's) ask again and again: remember answers.
  const seen = new Map<string, boolean>();
  return (ip) => {
    let ok = seen.get(ip);
    if (ok === undefined) {
      ok = check(ip);
      if (seen.size >= 1024) seen.clear();
      seen.set(ip, ok);
    }
    return ok;
  };
}

/** a.b.c.d for an IPv4-mapped IPv6 address (::ffff:a.b.c.d or ::ffff:xxxx:yyyy), else undefined. */
export function mappedIPv4(ip: string): string | undefined {
  const groups = expandIPv6(ip);
  if (groups === undefined) return undefined;
  if (groups.slice(0, 5).some((g) => g !== 0) || groups[5] !== 0xffff) return undefined;
  const [hi, lo] = [groups[6]!, groups[7]!];
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
}

/** The eight 16-bit groups of a valid IPv6 address. */
export function expandIPv6(ip: string): number[] | undefined {
  if (net.isIPv6(ip) === false) return undefined;
  let s = ip.toLowerCase();
  // A trailing dotted quad stands for the last two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (quad) {
    const b = quad.slice(1).map(Number);
    s = s.slice(0, quad.index) + ((b[0]! << 8) | b[1]!).toString(16) + ':' + ((b[2]! << 8) | b[3]!).toString(16);
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  const all = [...left, ...fill, ...right];
  return all.length === 8 ? all.map((g) => parseInt(g, 16)) : undefined;
}
