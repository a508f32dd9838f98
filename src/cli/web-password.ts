// `websms web-password`: the hash of a password (or token) for the web page,
// to put into [web] password or WEBSMS_WEB_PASSWORD. websms keeps only the
// hash; the password itself is typed at sign-in and nowhere else.

import { err, out, parseCommand, printJson } from './command.js';
import { EX_DATAERR, exitCodes } from './exit.js';
import type { CommandContext } from './types.js';
import { hashPassword } from '../web/password.js';

const MIN_LENGTH = 8;

const USAGE = `usage: websms web-password [--json]

Asks for the password (or token) of the web page twice, without showing it,
and prints its scrypt hash on one line. Put the hash into the secrets file,
which only root reads:

  echo 'WEBSMS_WEB_PASSWORD=scrypt:...' >> /etc/websms/websms.env

or into websms.conf under [web] as "password = scrypt:...". Then restart or
reload websms; the page is at /web/ on the management listener ([api]
listen). Not a terminal: the password is read from standard input (one line).
  --json   {"hash": "scrypt:..."}

${exitCodes([
  [0, 'printed'],
  [1, 'interrupted at the prompt (Ctrl-C, Ctrl-D)'],
  [64, 'usage error'],
  [65, `the two entries differ, or the password is shorter than ${MIN_LENGTH} characters`],
])}`;

export async function webPasswordCommand({ args }: CommandContext): Promise<number> {
  const p = parseCommand(args, { name: 'web-password', usage: USAGE, flags: ['--json'] });
  if (!p.ok) return p.code;
  let password: string;
  if (process.stdin.isTTY) {
    const first = await askHidden('Password for the web page: ');
    const again = first === undefined ? undefined : await askHidden('Again: ');
    if (first === undefined || again === undefined) {
      err('websms web-password: interrupted; nothing was printed');
      return 1;
    }
    password = first;
    if (again !== password) {
      err('websms web-password: the two entries differ; nothing was printed');
      return EX_DATAERR;
    }
  } else password = await readLine();
  if ([...password].length < MIN_LENGTH) {
    err(`websms web-password: the password must have at least ${MIN_LENGTH} characters`);
    return EX_DATAERR;
  }
  const hash = await hashPassword(password);
  if (p.json) {
    printJson({ hash });
    return 0;
  }
  out(hash);
  if (process.stdout.isTTY) {
    err('');
    err('Put it into /etc/websms/websms.env as WEBSMS_WEB_PASSWORD=<the line above>,');
    err('or under [web] in websms.conf as password = <the line above>; then reload websms.');
  }
  return 0;
}

/** The first line of standard input, without its line end. */
async function readLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** A line typed at the terminal without echoing it; undefined on Ctrl-C or Ctrl-D. */
function askHidden(prompt: string): Promise<string | undefined> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve) => {
    let typed = '';
    const finish = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (data: string): void => {
      for (const ch of data) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(typed);
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish();
          resolve(undefined);
          return;
        }
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}
