// Fetches one media item from where the provider keeps it, into a private
// file: http(s) only, within the size limit and the type allowlist, all of it
// within the timeout. Says whether trying again later can help.
//
// Credentials (the interface's send credentials, for providers whose media
// URLs need them) go only to the origins the caller names, the interface's own
// API hosts: a media URL on another host, or a redirect elsewhere (a CDN's
// signed URL), is asked for without them.
// Reasons never carry the URL: a signed URL is as good as a credential.
//
// Requests go through node's http(s) rather than fetch: only there can the
// connection's own DNS lookup refuse an address that is not to be fetched from
// (src/media/address.ts), for the URL and each redirect.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';
import { formatDuration, formatSize } from '../config/duration.js';
import { AddressRefused, checkedLookup, type AddressCheck } from './address.js';
import { mediaTypeOf, unservableReason } from './content-types.js';
import type { MediaFileWriter } from './files.js';

export interface FetchRequest {
  url: string;
  /** The type the provider announced; used when the server names none, or only application/octet-stream. */
  announcedType: string | null;
  /** An Authorization header value, and the origins (scheme://host:port) it may be sent to. */
  authorization?: { header: string; origins: readonly string[] };
  /** The addresses that may be connected to ([media] fetch_allow and the public internet). */
  addresses: AddressCheck;
  maxBytes: number;
  types: readonly string[];
  timeoutMs: number;
  /** Aborted when websms stops: the item stays pending for the next start. */
  signal: AbortSignal;
  /** Opens the file the item goes into, once the answer looks right. */
  open(): Promise<MediaFileWriter>;
}

export type FetchOutcome =
  | { kind: 'stored'; file: string; contentType: string; size: number }
  /** Worth another attempt: a network error, a timeout, 404 (not there yet), 408, 429, 5xx. */
  | { kind: 'retry'; reason: string }
  /** Another attempt would end the same way. */
  | { kind: 'failed'; reason: string }
  | { kind: 'stopped' };

const MAX_REDIRECTS = 5;
const GENERIC_TYPES = new Set(['', 'application/octet-stream', 'binary/octet-stream']);
const RETRY_STATUS = new Set([404, 408, 425, 429]);

const failed = (reason: string): FetchOutcome => ({ kind: 'failed', reason });
const retry = (reason: string): FetchOutcome => ({ kind: 'retry', reason });

function httpUrl(raw: string, base?: URL): URL | string {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    return base ? 'the server redirected to an invalid URL' : 'not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${url.protocol} URLs are not fetched, only http and https`;
  return url;
}

export async function fetchMedia(req: FetchRequest): Promise<FetchOutcome> {
  let url = httpUrl(req.url);
  if (typeof url === 'string') return failed(url);
  const auth = req.authorization;
  // Media on a host of its own (a CDN) are usually public: asked for without credentials.
  const withheld = auth !== undefined && !auth.origins.includes(url.origin) ? url.host : undefined;
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = AbortSignal.any([req.signal, timeout]);
  let writer: MediaFileWriter | undefined;
  try {
    let res: Response;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { accept: `${req.types.join(', ')}, */*;q=0.1`, 'user-agent': 'websms' };
      if (auth && auth.origins.includes(url.origin)) headers.authorization = auth.header;
      res = await get(url, headers, signal, req.addresses);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || location === null) break;
      await res.body?.cancel();
      if (hop >= MAX_REDIRECTS) return failed(`more than ${MAX_REDIRECTS} redirects`);
      const next = httpUrl(location, url);
      if (typeof next === 'string') return failed(next);
      url = next;
    }

    if (res.status !== 200 && res.status !== 203) {
      await res.body?.cancel();
      const answered = `the server answered ${res.status}`;
      if (RETRY_STATUS.has(res.status) || res.status >= 500) return retry(answered);
      if (res.status === 401 || res.status === 403) {
        if (withheld !== undefined) {
          return failed(`${answered}: websms sends the interface's credentials only to the host of its send_url or api_url, not to ${withheld}`);
        }
        return failed(auth ? `${answered}: check the interface's send credentials` : `${answered}: the provider may want credentials websms was not told to send`);
      }
      return failed(answered);
    }

    const served = mediaTypeOf(res.headers.get('content-type'));
    const type = GENERIC_TYPES.has(served) ? mediaTypeOf(req.announcedType) : served;
    if (!req.types.includes(type) || unservableReason(type) !== undefined) {
      await res.body?.cancel();
      return failed(type === '' ? 'the server did not say what it is (no Content-Type)' : `its type ${type} is not one of [media] types`);
    }
    const tooLarge = (n: string): FetchOutcome => failed(`too large: ${n} bytes, the limit is ${formatSize(req.maxBytes)} ([media] max_size)`);
    const announcedLength = Number(res.headers.get('content-length') ?? NaN);
    if (announcedLength > req.maxBytes) {
      await res.body?.cancel();
      return tooLarge(String(announcedLength));
    }

    writer = await req.open();
    let size = 0;
    if (res.body) {
      // Each read races the signal: a body stream that a trickling server keeps
      // open does not always end when fetch's signal aborts, and the item must
      // not wait past its timeout for it.
      const reader = res.body.getReader();
      const aborted = new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      aborted.catch(() => undefined);
      try {
        for (;;) {
          const { done, value } = await Promise.race([reader.read(), aborted]);
          if (done) break;
          size += value.length;
          // Counted as it arrives: a server may send more than it announced, or announce nothing.
          if (size > req.maxBytes) {
            await writer.discard();
            return tooLarge(`more than ${req.maxBytes}`);
          }
          await writer.write(value);
        }
      } finally {
        reader.cancel().catch(() => undefined);
      }
    }
    if (size === 0) {
      await writer.discard();
      return failed('the server sent nothing');
    }
    const file = await writer.commit();
    return { kind: 'stored', file, contentType: type, size };
  } catch (err) {
    await writer?.discard().catch(() => undefined);
    if (req.signal.aborted) return { kind: 'stopped' };
    if (err instanceof AddressRefused) return failed(err.message);
    if (timeout.aborted) return retry(`not fetched within ${formatDuration(req.timeoutMs)} ([media] fetch_timeout)`);
    return retry(`could not fetch it: ${describe(err)}`);
  }
}

/** A network error's code (ECONNREFUSED, ENOTFOUND, ...): never its message, which may name the URL. */
function describe(err: unknown): string {
  const e = err as Error & { code?: unknown; cause?: { code?: unknown } };
  const code = e.cause?.code ?? e.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,64}$/.test(code) ? code : 'network error';
}

/**
 * One GET, no redirects followed, as a fetch Response (the caller reads
 * status, headers and body the same way). The address is checked before a
 * connection is made: an IP literal here, a name by the connection's lookup.
 */
function get(url: URL, headers: Record<string, string>, signal: AbortSignal, addresses: AddressCheck): Promise<Response> {
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(literal) !== 0 && !addresses(literal)) return Promise.reject(new AddressRefused(literal));
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, { method: 'GET', headers, signal, lookup: checkedLookup(addresses) }, (res) => {
      const head = new Headers();
      const raw = res.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        try {
          head.append(raw[i]!, raw[i + 1]!);
        } catch {
          // A header fetch would refuse too: left out.
        }
      }
      const status = res.statusCode ?? 502;
      const empty = status === 204 || status === 205 || status === 304;
      if (empty) res.resume();
      resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status: status < 200 || status > 599 ? 502 : status, headers: head }));
    });
    request.on('error', (err) => reject((err as { code?: string }).code === 'EMEDIAADDRESS' ? new AddressRefused((err as AddressRefused).address) : err));
    request.end();
  });
}
