// Serves fetched media at <[media] path>/<token>[.ext] on the webhook
// listener, the one a reverse proxy exposes. The token is the only key, so
// the answer gives nothing away to whoever tries others (one 404 for every
// miss), and it is served so that no browser runs it: only allowlisted
// image/audio/video types, nosniff, a sandboxing Content-Security-Policy.
//
// Runs on node's own request/response, like the webhook handler, and says
// whether the path was its own.

import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { MediaConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { extensionOf, labelOf, unservableReason } from './content-types.js';
import type { MediaStore } from './store.js';

const NAME = /^([A-Za-z0-9_-]{32})(\.[a-z0-9]{1,5})?$/;

/** On every answer, found or not. */
const SAFE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; sandbox",
  'referrer-policy': 'no-referrer',
} as const;

export function mediaHandler(deps: { media: MediaStore; config: () => MediaConfig; log: Logger }): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const p = q >= 0 ? url.slice(0, q) : url;
    const cfg = deps.config();
    if (!p.startsWith(`${cfg.path}/`)) return false;
    req.resume();
    const plain = (status: number, text: string, extra: Record<string, string> = {}): void => {
      res.writeHead(status, { ...SAFE_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...extra }).end(`${text}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      plain(405, 'media are fetched with GET', { allow: 'GET, HEAD' });
      return true;
    }
    const m = NAME.exec(p.slice(cfg.path.length + 1));
    let row;
    try {
      row = m ? deps.media.byToken(m[1]!) : undefined;
    } catch (err) {
      deps.log.error({ err }, 'could not look up a media item');
      plain(503, 'try again later');
      return true;
    }
    const type = row?.content_type ?? '';
    // The type is checked again as it is served: a narrower [media] types applies to what was fetched before.
    if (!row || row.file === null || unservableReason(type) !== undefined || !cfg.types.includes(type)) {
      deps.log.debug({ found: row !== undefined }, 'media not found');
      plain(404, 'no such media: the link is wrong, or the picture was removed after its retention time');
      return true;
    }
    serveFile(req, res, path.join(cfg.directory, row.file), type, deps.log, row.id, plain);
    return true;
  };
}

function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  type: string,
  log: Logger,
  id: number,
  plain: (status: number, text: string, extra?: Record<string, string>) => void,
): void {
  let fd: number;
  let size: number;
  try {
    fd = fs.openSync(file, 'r');
    size = fs.fstatSync(fd).size;
  } catch (err) {
    log.warn({ media: id, reason: (err as Error).message }, 'media file missing; answering 404');
    plain(404, 'no such media: the link is wrong, or the picture was removed after its retention time');
    return;
  }
  const ext = extensionOf(type);
  const headers: Record<string, string> = {
    ...SAFE_HEADERS,
    'content-type': type,
    'content-disposition': `inline; filename="${labelOf(type).toLowerCase()}${ext === '' ? '' : `.${ext}`}"`,
    'cache-control': 'private, max-age=86400',
    'accept-ranges': 'bytes',
  };
  // Phones play video and sound by ranges (iOS insists on them).
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    fs.closeSync(fd);
    plain(416, 'range not satisfiable', { 'content-range': `bytes */${size}` });
    return;
  }
  const [start, end] = range ?? [0, size - 1];
  if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  headers['content-length'] = String(size === 0 ? 0 : end - start + 1);
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || size === 0) {
    fs.closeSync(fd);
    res.end();
    return;
  }
  const stream = fs.createReadStream('', { fd, start, end });
  stream.on('error', (err) => {
    log.warn({ media: id, reason: err.message }, 'could not read a media file');
    res.destroy();
  });
  stream.pipe(res);
}

/** One range of bytes=a-b, bytes=a- or bytes=-n; undefined for none (or several: the whole file is sent). */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (end < start) return m[2] !== '' && Number(m[2]) < start ? undefined : 'unsatisfiable';
  }
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}
