// A stand-in for systemd's notification socket: a real AF_UNIX datagram
// socket bound in a temporary directory (unix-dgram, the module websms sends
// with), recording each message as its name=value fields.

import { createRequire } from 'node:module';
import path from 'node:path';
import { until } from './stack.js';
import { tempDir } from './tmp.js';

interface DgramSocket {
  bind(path: string): void;
  on(ev: 'message', fn: (buf: Buffer) => void): void;
  on(ev: 'error', fn: (err: Error) => void): void;
  close(): void;
}
const require = createRequire(import.meta.url);
const dgram = require('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramSocket };

export type Notification = Record<string, string>;

export interface NotifySocket {
  path: string;
  /** Every message received, in order. */
  messages: Notification[];
  /** The messages that carry this field. */
  with(field: string): Notification[];
  /** Waits for the first message after the first `after` ones that carries field (with this value, when given). */
  next(field: string, value?: string, after?: number, timeoutMs?: number): Promise<Notification>;
  close(): void;
}

export function notifySocket(): NotifySocket {
  const file = path.join(tempDir('websms-notify-'), 'notify');
  const messages: Notification[] = [];
  const socket = dgram.createSocket('unix_dgram');
  socket.on('message', (buf) => {
    const fields: Notification = {};
    for (const line of buf.toString('utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
    }
    messages.push(fields);
  });
  socket.on('error', (err) => {
    throw err;
  });
  socket.bind(file);
  const has = (m: Notification, field: string, value?: string): boolean => field in m && (value === undefined || m[field] === value);
  return {
    path: file,
    messages,
    with: (field) => messages.filter((m) => field in m),
    next: (field, value, after = 0, timeoutMs = 10_000) =>
      until(() => messages.slice(after).find((m) => has(m, field, value)), timeoutMs, `${field}${value === undefined ? '' : `=${value}`} on the notify socket`),
    close: () => socket.close(),
  };
}
