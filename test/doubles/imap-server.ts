// A real IMAP server for the tests: Debian's dovecot (package dovecot-imapd),
// started in the foreground on a free loopback port with a configuration of
// its own in a temporary directory: IMAPS with a throwaway CA's certificate,
// one user from a passwd-file, a Maildir. Mail is put into the mailbox with
// dovecot-lda, as a mail server delivers it. As root, the mailbox belongs to
// "nobody" (dovecot does not let uid 0 read mail); otherwise to the user
// running the tests.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { tempDir } from '../helpers/tmp.js';

const DOVECOT = '/usr/sbin/dovecot';
const LDA = '/usr/lib/dovecot/dovecot-lda';

export function hasDovecot(): boolean {
  return fs.existsSync(DOVECOT) && fs.existsSync(LDA);
}

export interface ImapServer {
  port: number;
  user: string;
  password: string;
  /** Delivers a message into the user's INBOX (dovecot-lda). */
  deliver(raw: string | Buffer): void;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export async function startImapServer(opts: { cert: string; key: string; user: string; password: string }): Promise<ImapServer> {
  const dir = tempDir('websms-dovecot-');
  // Dovecot's own processes (and the mail user) walk into this directory.
  fs.chmodSync(dir, 0o755);
  const root = process.getuid?.() === 0;
  const uid = root ? 65534 : process.getuid!();
  const gid = root ? 65534 : process.getgid!();
  const home = path.join(dir, 'home');
  fs.mkdirSync(home, { mode: 0o755 });
  fs.chownSync(home, uid, gid);
  for (const d of ['run', 'state']) fs.mkdirSync(path.join(dir, d), { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'passwd'), `${opts.user}:{PLAIN}${opts.password}\n`, { mode: 0o644 });
  const port = await freePort();
  const me = os.userInfo().username;
  const conf = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(
    conf,
    `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <${opts.cert}
ssl_key = <${opts.key}
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
${root ? '' : `default_internal_user = ${me}\ndefault_login_user = ${me}\n`}first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${uid} gid=${gid} home=${home}/%u
}
mail_location = maildir:~/Maildir
service imap-login {
  chroot =
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = ${port}
    ssl = yes
  }
}
service anvil {
  chroot =
}
`,
  );
  const proc: ChildProcess = spawn(DOVECOT, ['-F', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const end = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (proc.exitCode !== null || Date.now() > end) {
      proc.kill('SIGKILL');
      const log = fs.existsSync(path.join(dir, 'dovecot.log')) ? fs.readFileSync(path.join(dir, 'dovecot.log'), 'utf8') : '';
      throw new Error(`dovecot did not start: ${stderr}${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    user: opts.user,
    password: opts.password,
    deliver(raw) {
      execFileSync(LDA, ['-c', conf, '-d', opts.user], { input: raw, stdio: ['pipe', 'ignore', 'pipe'] });
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
    },
  };
}
