// The CLI's side of the management API: where the daemon listens ([api] listen
// of the same configuration, or $WEBSMS_API_URL), its token ([api] token or
// $WEBSMS_API_TOKEN, which the loader already prefers), and one request.

import type { Config } from '../config/types.js';

export interface ApiTarget {
  /** Base URL without a trailing slash. */
  url: string;
  token: string;
}

/** The daemon does not answer: not running, another address, or port 0 in the configuration. */
export class ApiUnavailable extends Error {}

/** The daemon answered with an error: status and its JSON error. */
export class ApiRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export function apiTarget(config: Config, env: NodeJS.ProcessEnv): ApiTarget | { unavailable: string } {
  const token = config.api.token;
  const override = env.WEBSMS_API_URL;
  if (override) {
    try {
      const u = new URL(override);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    } catch {
      return { unavailable: `WEBSMS_API_URL is not an http:// URL` };
    }
    return { url: override.replace(/\/+$/, ''), token };
  }
  const { listenHost, listenPort } = config.api;
  if (listenPort === 0) {
    return { unavailable: '[api] listen has port 0 (any free port), so the CLI cannot know where the daemon listens; set WEBSMS_API_URL' };
  }
  // A wildcard address is reachable on loopback.
  const host = listenHost === '0.0.0.0' ? '127.0.0.1' : listenHost === '::' ? '::1' : listenHost;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${listenPort}`, token };
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  timeoutMs?: number;
}

export async function apiRequest<T>(target: ApiTarget, path: string, o: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token !== '') headers.authorization = `Bearer ${target.token}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const timeoutMs = o.timeoutMs ?? 10_000;
  let res: Response;
  try {
    res = await fetch(target.url + path, {
      method: o.method ?? 'GET',
      headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new ApiUnavailable(`no answer from the websms daemon at ${target.url}: ${why(err, timeoutMs)}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (res.ok) {
    if (json === undefined) throw new ApiRefused(res.status, 'bad_answer', `the daemon at ${target.url} answered ${res.status} without JSON: is it websms?`);
    return json as T;
  }
  const e = (json as { error?: { code?: unknown; reason?: unknown } } | undefined)?.error;
  const code = typeof e?.code === 'string' ? e.code : `http_${res.status}`;
  const reason = typeof e?.reason === 'string' ? e.reason : `HTTP ${res.status} ${res.statusText}`;
  throw new ApiRefused(res.status, code, reason);
}

function why(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  return e.cause?.code ?? e.cause?.message ?? e.message;
}
