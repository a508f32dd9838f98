// Errors of the management API: an HTTP status, a stable code scripts can
// test, and a reason a person can act on. Rendered as
// { "error": { "code": ..., "reason": ... } } and nothing else.

import type express from 'express';
import { WebsmsError } from '../errors.js';

export type ApiErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'too_large'
  | 'unsupported_media_type'
  | 'invalid_number'
  | 'invalid_sender'
  | 'unknown_interface'
  | 'empty_body'
  | 'too_long'
  | 'charset'
  | 'too_many_segments'
  | 'unavailable'
  | 'internal'
  // The web page's own (src/web/): a change without its CSRF token, sign-in attempts over the limit.
  | 'forbidden'
  | 'rate_limited';

export class ApiError extends WebsmsError {
  constructor(
    readonly status: number,
    override readonly code: ApiErrorCode,
    readonly reason: string,
  ) {
    super(code, reason);
  }
}

export function sendError(res: express.Response, e: ApiError): void {
  res.status(e.status).json({ error: { code: e.code, reason: e.reason } });
}
