// A running websms (in this process, or as a child process) wired to an AMI
// double, with a temporary config file and database. Everything over real
// sockets and files.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { loadConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { startAmiDouble, type AmiDouble, type AmiDoubleOptions } from '../doubles/ami-server.js';
import { tempDir } from './tmp.js';

export const AMI_SECRET = 'amI-s3cret-never-logged';
export const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface ConfigOptions {
  amiPort: number;
  dir: string;
  /** Extra lines appended to [ami]. */
  ami?: string;
  /** Extra lines appended to [general]. */
  general?: string;
  /** Extra lines for [agi] and [outbound]. */
  agi?: string;
  outbound?: string;
  /** Extra lines for [api]. */
  api?: string;
  /** Interface sections; default: [default] open to loopback. */
  interfaces?: string;
}

export function writeConfig(o: ConfigOptions): string {
  const file = path.join(o.dir, 'websms.conf');
  fs.writeFileSync(
    file,
    `[general]
listen = 127.0.0.1:0
database = ${path.join(o.dir, 'var', 'websms.db')}
country_code = 46
${o.general ?? ''}

[agi]
${merge('listen = 127.0.0.1:0', o.agi ?? '')}

[api]
${merge('listen = 127.0.0.1:0', o.api ?? '')}

[outbound]
${o.outbound ?? ''}

[ami]
host = 127.0.0.1
port = ${o.amiPort}
username = websms
secret = ${AMI_SECRET}
${merge(
  'reconnect_min = 50ms\nreconnect_max = 400ms\naction_timeout = 3s\nreport_timeout = 5s\nretry_min = 1s\nretry_max = 2s\n',
  o.ami ?? '',
)}
${o.interfaces ?? '[default]\nfield_id = MessageSid\n'}
`,
  );
  return file;
}

/** Lines of `extra` replace the lines of `base` that set the same key. */
export function merge(base: string, extra: string): string {
  const keyOf = (l: string): string => l.split('=')[0]!.trim();
  const extraLines = extra.split('\n').filter((l) => l.includes('='));
  const keys = new Set(extraLines.map(keyOf));
  return [...base.split('\n').filter((l) => l.includes('=') && !keys.has(keyOf(l))), ...extraLines].join('\n');
}

export interface Stack {
  dir: string;
  ami: AmiDouble;
  daemon: Daemon;
  /** The webhook listener. */
  url: string;
  /** The management API listener (src/api/). */
  api: string;
  logs: string[];
  post(pathname: string, body: Record<string, string> | string, headers?: Record<string, string>): Promise<{ status: number; text: string; headers: Headers }>;
  stop(): Promise<void>;
}

export async function startStack(o: Partial<ConfigOptions> & { double?: AmiDoubleOptions } = {}): Promise<Stack> {
  const dir = o.dir ?? tempDir();
  const ami = await startAmiDouble({ secret: AMI_SECRET, authFailDelayMs: 100, ...o.double });
  const file = writeConfig({ ...o, dir, amiPort: ami.port });
  const config = loadConfig({ file, env: {}, explicit: true });
  const logs: string[] = [];
  const log = createLogger('debug', {}, (line) => logs.push(line));
  const daemon = await startDaemon(config, log);
  const url = `http://127.0.0.1:${daemon.httpPort}`;
  return {
    dir,
    ami,
    daemon,
    url,
    api: `http://127.0.0.1:${daemon.apiPort}`,
    logs,
    post: (p, body, headers) => post(url + p, body, headers),
    async stop() {
      await daemon.stop();
      await ami.stop();
    },
  };
}

export async function post(
  url: string,
  body: Record<string, string> | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const isForm = typeof body !== 'string';
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': isForm ? 'application/x-www-form-urlencoded' : 'application/json', ...headers },
    body: isForm ? new URLSearchParams(body).toString() : body,
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Reads the inbound table straight from the file, as another process would. */
export function rows(dir: string): Array<Record<string, unknown>> {
  const db = new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM inbound ORDER BY id').all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

export interface Child {
  proc: ChildProcess;
  port: number;
  logs: string[];
  exited: Promise<number | null>;
}

/** Runs the real daemon as a child process and waits until it listens. */
export function spawnDaemon(configFile: string, env: NodeJS.ProcessEnv = {}): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [MAIN, '--config', configFile], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: string[] = [];
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    let buf = '';
    let done = false;
    const timer = setTimeout(() => !done && reject(new Error(`daemon did not start:\n${logs.join('\n')}`)), 15_000);
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        if (!done && line.includes('"http listening"')) {
          done = true;
          clearTimeout(timer);
          resolve({ proc, port: (JSON.parse(line) as { port: number }).port, logs, exited });
        }
      }
    });
    proc.stdout!.resume();
    void exited.then((code) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(new Error(`daemon exited with ${code}:\n${logs.join('\n')}`));
      }
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until check returns a truthy value. */
export async function until<T>(check: () => T | undefined | null | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
