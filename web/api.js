// What the page asks the daemon, always by relative URL (the page may sit
// under any prefix a reverse proxy gives it). Every change carries the
// session's CSRF token in X-CSRF-Token.

let csrf = '';
let onSignedOut = () => {};

export const setCsrf = (token) => void (csrf = token);
/** Called when the daemon says the sign-in is over (401). */
export const whenSignedOut = (f) => void (onSignedOut = f);

export class PageError extends Error {
  constructor(status, code, reason) {
    super(reason);
    this.status = status;
    this.code = code;
    this.reason = reason;
  }
}

async function answer(res) {
  const type = res.headers.get('content-type') ?? '';
  const body = type.startsWith('application/json') ? await res.json() : undefined;
  if (res.ok) return body;
  const e = body?.error;
  const err = new PageError(res.status, e?.code ?? 'http', e?.reason ?? `the daemon answered ${res.status}`);
  if (res.status === 401 && e?.code === 'unauthorized') onSignedOut(err);
  throw err;
}

async function call(path, init) {
  let res;
  try {
    res = await fetch(path, { credentials: 'same-origin', cache: 'no-store', ...init });
  } catch {
    throw new PageError(0, 'network', 'websms does not answer; is it running?');
  }
  return answer(res);
}

export function get(path, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const s = q.toString();
  return call(s === '' ? path : `${path}?${s}`, { headers: { accept: 'application/json' } });
}

export function post(path, body) {
  const headers = { accept: 'application/json', 'x-csrf-token': csrf };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return call(path, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) });
}
