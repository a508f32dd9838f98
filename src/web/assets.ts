// The page's files: plain HTML, CSS and browser ES modules from web/ in the
// package, read once at start, plus the segment counter of outbound texts
// (src/outbound/segments.ts as compiled), served as a module of its own so
// that the page counts exactly as the daemon does. Nothing is fetched from
// the network, and there is no build step beyond tsc.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));
const SEGMENTS_JS = fileURLToPath(new URL('../outbound/segments.js', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webmanifest': 'application/manifest+json',
};

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** By name as the page asks for it: "index.html", "app.js", "segments.js". */
export type Assets = ReadonlyMap<string, Asset>;

function asset(name: string, body: Buffer): Asset {
  const type = TYPES[path.extname(name)] ?? 'application/octet-stream';
  return { body, type, etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** A source map comment would make the browser ask for a file that is not served. */
const withoutSourceMap = (js: Buffer): Buffer => Buffer.from(js.toString('utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'), 'utf8');

export function loadAssets(dir: string = WEB_DIR): Assets {
  const out = new Map<string, Asset>();
  for (const name of fs.readdirSync(dir)) {
    if (!/^[a-z0-9-]+\.(html|js|css|svg|png|webmanifest)$/.test(name)) continue;
    out.set(name, asset(name, fs.readFileSync(path.join(dir, name))));
  }
  if (!out.has('index.html')) throw new Error(`the web page's files are missing: no index.html in ${dir}`);
  out.set('segments.js', asset('segments.js', withoutSourceMap(fs.readFileSync(SEGMENTS_JS))));
  return out;
}
