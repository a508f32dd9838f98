// The HTTP client websms sends texts to ITSPs with: one per interface, with its
// own keep-alive pool, a total timeout and a separate connect timeout, TLS
// always verified. It never throws for a network failure: send() answers with
// the HTTP answer, or with a failure class and a reason a person can act on.
// Reasons never hold a credential: no URL userinfo, no header, no body.

import axios, { type AxiosInstance } from 'axios';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import type { HttpAnswer, SendRequest } from '../../providers/types.js';
import type { SendConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';

export type HttpResult =
  | { ok: true; answer: HttpAnswer }
  | { ok: false; reason: string; code: 'timeout' | 'connect_timeout' | 'refused' | 'reset' | 'dns' | 'tls' | 'network' };

export interface HttpClient {
  send(req: SendRequest): Promise<HttpResult>;
  /** Closes the pooled connections; sends after close still work, on new connections. */
  close(): void;
}

/** An ITSP answer is a few hundred bytes; anything this big is not one. */
export const MAX_ANSWER_BYTES = 1024 * 1024;
/** Pooled idle connections are dropped after this (or the server's Keep-Alive hint less 1s, when shorter). */
const IDLE_SOCKET_MS = 30_000;
const USER_AGENT = 'websms';

type Failure = Extract<HttpResult, { ok: false }>;

/** 30000 → "30s", 1500 → "1.5s", 250 → "250ms". */
export function humanMs(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${Number((ms / 1000).toFixed(1))}s`;
}

/** host:port as a reason names it: never the userinfo, path or query of the URL. */
function target(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.hostname}:${port}`;
}

/** The error code of a failed request, wherever Node and axios put it. */
function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } } | null;
  const code = e?.cause?.code ?? e?.code ?? e?.cause?.errors?.[0]?.code;
  // Only something that looks like a code: never a free-form message, which could hold anything.
  return typeof code === 'string' && /^[A-Z0-9_]{2,64}$/.test(code) ? code : '';
}

const UNKNOWN_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);
const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME']);

function tlsFailure(code: string, where: string): Failure | undefined {
  if (UNKNOWN_CA.has(code)) {
    return { ok: false, code: 'tls', reason: `TLS: certificate of ${where} signed by an unknown authority (set ca_file to trust a private CA)` };
  }
  if (code === 'CERT_HAS_EXPIRED') return { ok: false, code: 'tls', reason: `TLS: certificate of ${where} has expired` };
  if (code === 'CERT_NOT_YET_VALID') return { ok: false, code: 'tls', reason: `TLS: certificate of ${where} is not valid yet` };
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return { ok: false, code: 'tls', reason: `TLS: certificate does not name ${where}` };
  if (code === 'EPROTO' || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('CERT_')) {
    return { ok: false, code: 'tls', reason: `TLS: handshake with ${where} failed (${code})` };
  }
  return undefined;
}

/** A failed request as a failure class and a reason: from the error code only. */
function classify(err: unknown, url: URL): Failure {
  const code = errorCode(err);
  const where = target(url);
  if (code === 'ECONNREFUSED') return { ok: false, code: 'refused', reason: `connection refused by ${where}` };
  if (code === 'ECONNRESET' || code === 'EPIPE') return { ok: false, code: 'reset', reason: `connection reset by ${where} before an answer` };
  if (DNS.has(code)) return { ok: false, code: 'dns', reason: `cannot resolve ${url.hostname} (${code})` };
  const tlsFail = tlsFailure(code, where);
  if (tlsFail) return tlsFail;
  if (code === 'ERR_BAD_RESPONSE' && /maxContentLength/.test((err as Error).message ?? '')) {
    return { ok: false, code: 'network', reason: `answer from ${where} larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB` };
  }
  return { ok: false, code: 'network', reason: `network error with ${where}${code ? ` (${code})` : ''}` };
}

function readCa(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`ca_file ${file} cannot be read (${errorCode(e) || 'error'})`]);
  }
}

/** Percent-decoding that never throws: a stray "%" in URL userinfo stays as it is. */
function unescape(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Response headers as a plain object with lower-case names; repeated ones joined like Node does. */
function plainHeaders(headers: object): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v === 'string') out[k.toLowerCase()] = v;
    else if (typeof v === 'number') out[k.toLowerCase()] = String(v);
    else if (Array.isArray(v)) out[k.toLowerCase()] = v.join(', ');
  }
  return out;
}

export function createHttpClient(cfg: SendConfig): HttpClient {
  // Read once: a CA file edited while running takes effect at the next start, like every setting.
  const ca = cfg.caFile ? readCa(cfg.caFile) : undefined;
  const pool = { keepAlive: true, maxSockets: Math.max(1, cfg.concurrency), timeout: IDLE_SOCKET_MS };
  const httpAgent = new http.Agent(pool);
  const httpsAgent = new https.Agent({
    ...pool,
    // Always verified (PrivateDial's PHP script turned this off). A private CA
    // is added to the public ones, so a switch to a public certificate still works.
    rejectUnauthorized: true,
    ...(ca !== undefined ? { ca: [...tls.rootCertificates, ca] } : {}),
  });
  const ax: AxiosInstance = axios.create({
    httpAgent,
    httpsAgent,
    // ITSP traffic goes direct: an HTTP(S)_PROXY in the environment would change
    // where credentials go and what the connect timeout measures.
    proxy: false,
    validateStatus: () => true,
    responseType: 'text',
    responseEncoding: 'utf8',
    // Bytes in, bytes out: the adapter built the exact body and reads the answer itself.
    transformRequest: [(d: unknown) => d],
    transformResponse: [(d: unknown) => d],
    maxRedirects: 0,
    decompress: true,
    maxContentLength: MAX_ANSWER_BYTES,
    maxBodyLength: MAX_ANSWER_BYTES,
  });

  async function send(req: SendRequest): Promise<HttpResult> {
    let url: URL;
    try {
      url = new URL(req.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    } catch {
      return { ok: false, code: 'network', reason: 'the send URL is not a valid http(s) URL' };
    }
    const where = target(url);
    const headers: Record<string, string> = { 'User-Agent': USER_AGENT, ...req.headers };
    if (url.username || url.password) {
      // Credentials in the URL (https://user:pw@host/): axios would turn them into
      // Basic auth that silently replaces the adapter's Authorization header. We
      // take them off the URL and use them only when the adapter set no auth.
      const hasAuth = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
      if (!hasAuth) {
        const pair = `${unescape(url.username)}:${unescape(url.password)}`;
        headers['Authorization'] = 'Basic ' + Buffer.from(pair, 'utf8').toString('base64');
      }
      url.username = '';
      url.password = '';
    }
    const abort = new AbortController();
    let fired: 'timeout' | 'connect_timeout' | undefined;
    const stop = (why: 'timeout' | 'connect_timeout') => {
      fired ??= why;
      abort.abort();
    };
    // Total: from now until the whole answer is read (axios' own timeout only covers the wait for headers).
    const total = setTimeout(() => stop('timeout'), cfg.timeoutMs);
    let connectTimer: NodeJS.Timeout | undefined;

    // A transport that is Node's own, plus the connect timeout: it starts when
    // the request gets its socket and ends when TCP (and TLS) is up. A reused
    // keep-alive socket is already connected, so it gets none.
    const transport = {
      request(options: https.RequestOptions, cb: (res: http.IncomingMessage) => void): http.ClientRequest {
        const r = (options.protocol === 'https:' ? https : http).request(options, cb);
        r.once('socket', (socket: net.Socket) => {
          if (r.reusedSocket) return;
          const secure = socket instanceof tls.TLSSocket;
          if (secure ? (socket as tls.TLSSocket).authorized : !socket.connecting) return;
          connectTimer = setTimeout(() => stop('connect_timeout'), cfg.connectTimeoutMs);
          const done = () => clearTimeout(connectTimer);
          socket.once(secure ? 'secureConnect' : 'connect', done);
          socket.once('close', done);
        });
        return r;
      },
    };

    try {
      const res = await ax.request<unknown>({
        method: req.method,
        url: url.href,
        headers,
        ...(req.body !== undefined ? { data: req.body } : {}),
        signal: abort.signal,
        transport,
      });
      const body = typeof res.data === 'string' ? res.data : Buffer.isBuffer(res.data) ? res.data.toString('utf8') : '';
      return { ok: true, answer: { status: res.status, headers: plainHeaders(res.headers), body } };
    } catch (err) {
      if (fired === 'timeout') return { ok: false, code: 'timeout', reason: `no answer from ${where} within ${humanMs(cfg.timeoutMs)}` };
      if (fired === 'connect_timeout') {
        const what = url.protocol === 'https:' ? 'connect (TCP and TLS) to' : 'connect to';
        return { ok: false, code: 'connect_timeout', reason: `could not ${what} ${where} within ${humanMs(cfg.connectTimeoutMs)}` };
      }
      return classify(err, url);
    } finally {
      clearTimeout(total);
      clearTimeout(connectTimer);
    }
  }

  return {
    send,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
