// Copies the dialplan suite websms ships (dialplan/) into Asterisk's
// configuration directory without ever losing an administrator's edits:
// a file at the destination that differs from ours is kept unless forced, and
// anything replaced is kept as <file>.websms-backup-<YYYYmmddTHHMMSS>.
// Each file is written to a temporary file in the same directory and renamed
// into place, so a file is either the old one or the new one, never half.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's dialplan/ directory (from dist/src/dialplan/ or src/dialplan/ alike). */
export const SHIPPED_DIALPLAN_DIR = fileURLToPath(new URL('../../../dialplan/', import.meta.url));

export type InstallAction = 'installed' | 'unchanged' | 'kept' | 'replaced';

export interface FileOutcome {
  /** Path relative to the source (and destination) directory. */
  file: string;
  /** Full destination path. */
  dest: string;
  action: InstallAction;
  /** For 'replaced': where the previous file was kept. */
  backup?: string;
}

export interface InstallOptions {
  source?: string;
  dest: string;
  force?: boolean;
  dryRun?: boolean;
  /** For backup names; default now. */
  now?: Date;
}

export interface InstallResult {
  dest: string;
  dryRun: boolean;
  files: FileOutcome[];
  /** Files left alone because the user changed them (without --force). */
  kept: FileOutcome[];
}

/** Nothing (more) could be written; `path` is where it failed. */
export class InstallError extends Error {
  constructor(
    readonly path: string,
    message: string,
    /** The package itself is broken (no dialplan/ directory), not the destination. */
    readonly internal = false,
    /** Files written before the failure (each one whole). */
    readonly written: FileOutcome[] = [],
  ) {
    super(message);
    this.name = 'InstallError';
  }
}

/** websms's own sample configuration ships beside the suite but belongs in /etc/websms, not /etc/asterisk. */
const NOT_FOR_ASTERISK = new Set(['websms.conf']);

/** Every regular file under dir, relative paths, sorted; dotfiles and websms's own files skipped. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      if (e.name.startsWith('.') || (rel === '' && NOT_FOR_ASTERISK.has(e.name))) continue;
      const r = rel ? path.join(rel, e.name) : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.push(r);
    }
  };
  walk('');
  return out.sort();
}

export function backupSuffix(now: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `.websms-backup-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}T${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}

function why(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (run as root, or choose another --dest)';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return e.message;
  }
}

export function installDialplan(opts: InstallOptions): InstallResult {
  const source = opts.source ?? SHIPPED_DIALPLAN_DIR;
  const dest = path.resolve(opts.dest);
  const dryRun = opts.dryRun === true;
  const suffix = backupSuffix(opts.now ?? new Date());

  let files: string[];
  try {
    files = listFiles(source);
  } catch (err) {
    throw new InstallError(source, `cannot read the dialplan shipped with websms at ${source}: ${(err as Error).message}`, true);
  }
  if (files.length === 0) throw new InstallError(source, `no dialplan files in ${source}`, true);

  let destStat: fs.Stats | undefined;
  try {
    destStat = fs.statSync(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new InstallError(dest, `cannot use ${dest}: ${why(err)}`);
  }
  if (destStat && !destStat.isDirectory()) throw new InstallError(dest, `${dest} exists and is not a directory`);

  // Decide everything before writing anything: a file we cannot read stops the
  // run with nothing changed.
  const plan: FileOutcome[] = [];
  const ours = new Map<string, Buffer>();
  for (const file of files) {
    const target = path.join(dest, file);
    const content = fs.readFileSync(path.join(source, file));
    ours.set(file, content);
    let theirs: Buffer | undefined;
    try {
      const st = fs.lstatSync(target);
      if (st.isDirectory()) throw new InstallError(target, `${target} is a directory; websms installs a file there`);
      theirs = fs.readFileSync(target);
    } catch (err) {
      if (err instanceof InstallError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new InstallError(target, `cannot read ${target}: ${why(err)}`);
    }
    if (theirs === undefined) plan.push({ file, dest: target, action: 'installed' });
    else if (theirs.equals(content)) plan.push({ file, dest: target, action: 'unchanged' });
    else if (opts.force) plan.push({ file, dest: target, action: 'replaced', backup: freeName(target + suffix) });
    else plan.push({ file, dest: target, action: 'kept' });
  }

  if (!dryRun) {
    if (!destStat) {
      try {
        fs.mkdirSync(dest, { recursive: true });
      } catch (err) {
        throw new InstallError(dest, `cannot create ${dest}: ${why(err)}`);
      }
    }
    const written: FileOutcome[] = [];
    for (const f of plan) {
      if (f.action !== 'installed' && f.action !== 'replaced') continue;
      try {
        writeOne(f, ours.get(f.file)!, dest);
      } catch (err) {
        const e = err as InstallError;
        throw new InstallError(e.path, e.message, false, written);
      }
      written.push(f);
    }
  }
  return { dest, dryRun, files: plan, kept: plan.filter((f) => f.action === 'kept') };
}

/** name, or name-1, name-2, ... when a backup of the same second exists. */
function freeName(name: string): string {
  let candidate = name;
  for (let i = 1; fs.existsSync(candidate); i++) candidate = `${name}-${i}`;
  return candidate;
}

function writeOne(f: FileOutcome, content: Buffer, destRoot: string): void {
  const dir = path.dirname(f.dest);
  if (dir !== destRoot) {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new InstallError(dir, `cannot create ${dir}: ${why(err)}`);
    }
  }
  const old = f.action === 'replaced' ? fs.statSync(f.dest) : undefined;
  const tmp = path.join(dir, `.${path.basename(f.dest)}.websms-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number | undefined;
  try {
    // A replaced file keeps its mode; a new one is readable by Asterisk.
    fd = fs.openSync(tmp, 'wx', old ? old.mode & 0o7777 : 0o644);
    fs.writeSync(fd, content);
    if (old) {
      fs.fchmodSync(fd, old.mode & 0o7777);
      // Keep the owner (asterisk:asterisk, say) when we may; only root may.
      try {
        fs.fchownSync(fd, old.uid, old.gid);
      } catch {
        /* not root: the file is ours */
      }
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    if (f.backup) backup(f.dest, f.backup);
    fs.renameSync(tmp, f.dest);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    if (err instanceof InstallError) throw err;
    throw new InstallError(f.dest, `cannot write ${f.dest}: ${why(err)}`);
  }
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* some file systems cannot sync a directory */
  }
}

/** A hard link keeps the old file as it was (content, mode, owner); a copy where links are refused. */
function backup(file: string, to: string): void {
  try {
    fs.linkSync(file, to);
  } catch {
    try {
      fs.copyFileSync(file, to, fs.constants.COPYFILE_EXCL);
    } catch (err) {
      throw new InstallError(to, `cannot keep a backup of ${file} as ${to}: ${why(err)}; nothing was replaced`);
    }
  }
}
