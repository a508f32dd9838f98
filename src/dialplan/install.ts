// Copies the dialplan suite websms ships (dialplan/) into Asterisk's
// configuration directory without ever losing an administrator's edits, and
// upgrades it later the same way.
//
// Each install keeps a copy of the version it shipped for every file in
// <dest>/.websms-shipped/, so a later run can tell a file the administrator
// edited from one they left alone:
// - not edited (still what we shipped): replaced by the new version, the old one
//   kept as <file>.websms-backup-<YYYYmmddTHHMMSS>;
// - edited, and our version has not changed since: theirs, left alone, nothing to do;
// - edited, and our version changed too (or no record of what we shipped): left
//   alone, the new version written beside it as <file>.websms-new, with a diff of
//   what changed, for them to merge. Once merged they delete <file>.websms-new.
// --force replaces any file that differs (with a backup).
// Each file is written to a temporary file in the same directory and renamed
// into place, so a file is either the old one or the new one, never half.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unifiedDiff } from './diff.js';

/** The package's dialplan/ directory (from dist/src/dialplan/ or src/dialplan/ alike). */
export const SHIPPED_DIALPLAN_DIR = fileURLToPath(new URL('../../../dialplan/', import.meta.url));

/**
 * installed: new at the destination; unchanged: already ours; updated: was the
 * version we shipped before, not edited, now the new one; kept: edited, and our
 * version has not changed since; offered: edited, and ours changed: the new
 * version is written beside it; replaced: --force over an edited file.
 */
export type InstallAction = 'installed' | 'unchanged' | 'updated' | 'kept' | 'offered' | 'replaced';

export interface FileOutcome {
  /** Path relative to the source (and destination) directory. */
  file: string;
  /** Full destination path. */
  dest: string;
  action: InstallAction;
  /** For 'updated' and 'replaced': where the previous file was kept. */
  backup?: string;
  /**
   * <dest>.websms-new: for 'offered', the new version written beside the file;
   * for 'kept', one written by an earlier run that is still there (not merged yet).
   */
  newFile?: string;
  /** A <dest>.websms-new that is no longer needed (the file is ours now) and was removed. */
  removedNew?: string;
  /** For 'offered': a unified diff, and what it is between. */
  diff?: string;
  /** 'shipped': our previous version -> our new one (what websms changed); 'yours': your file -> our new one. */
  diffOf?: 'shipped' | 'yours';
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
  /** Files with a new version beside them to merge: offered now, or still waiting from an earlier run. */
  toMerge: FileOutcome[];
}

/** Where the versions websms installed are kept, to tell edited files from untouched ones. */
export const SHIPPED_COPY_DIR = '.websms-shipped';
export const NEW_SUFFIX = '.websms-new';

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
  const shipped = new Map<string, Buffer | undefined>();
  for (const file of files) {
    const target = path.join(dest, file);
    const content = fs.readFileSync(path.join(source, file));
    ours.set(file, content);
    const theirs = readIfThere(target, true);
    const base = readIfThere(path.join(dest, SHIPPED_COPY_DIR, file), false);
    shipped.set(file, base);
    const beside = target + NEW_SUFFIX;
    const pending = readIfThere(beside, false);
    let f: FileOutcome;
    if (theirs === undefined) f = { file, dest: target, action: 'installed' };
    else if (theirs.equals(content)) f = { file, dest: target, action: 'unchanged' };
    else if (opts.force) f = { file, dest: target, action: 'replaced', backup: freeName(target + suffix) };
    else if (base !== undefined && theirs.equals(base)) f = { file, dest: target, action: 'updated', backup: freeName(target + suffix) };
    else if (base !== undefined && base.equals(content)) f = { file, dest: target, action: 'kept' };
    else {
      // Our change since their version is what they need to carry over; without
      // a record of what we shipped, the difference to their file is all there is.
      const diffOf = base !== undefined ? 'shipped' : 'yours';
      const from = base ?? theirs;
      const label = base !== undefined ? `${file} (as websms shipped it before)` : `${target} (yours)`;
      f = { file, dest: target, action: 'offered', newFile: beside, diffOf, diff: unifiedDiff(from.toString('utf8'), content.toString('utf8'), label, `${beside} (websms's new version)`) };
    }
    if (pending !== undefined) {
      if (f.action === 'kept') f.newFile = beside;
      else if (f.action !== 'offered' && pending.equals(content)) f.removedNew = beside;
    }
    plan.push(f);
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
      const content = ours.get(f.file)!;
      try {
        if (f.action === 'installed' || f.action === 'replaced' || f.action === 'updated') writeOne(f.dest, content, dest, f.backup);
        else if (f.action === 'offered') writeOne(f.newFile!, content, dest);
        if (f.removedNew !== undefined) fs.rmSync(f.removedNew, { force: true });
        // Last: a run that fails before this point offers the file again rather than losing track of it.
        if (!shipped.get(f.file)?.equals(content)) writeOne(path.join(dest, SHIPPED_COPY_DIR, f.file), content, dest);
      } catch (err) {
        const e = err instanceof InstallError ? err : new InstallError(f.dest, `cannot write ${f.dest}: ${why(err)}`);
        throw new InstallError(e.path, e.message, false, written);
      }
      if (f.action !== 'unchanged' && f.action !== 'kept') written.push(f);
    }
  }
  return { dest, dryRun, files: plan, toMerge: plan.filter((f) => f.newFile !== undefined) };
}

/** A file's content, or undefined when there is none; `mustBeFile`: a directory there is an error. */
function readIfThere(file: string, mustBeFile: boolean): Buffer | undefined {
  try {
    const st = fs.lstatSync(file);
    if (st.isDirectory()) {
      if (mustBeFile) throw new InstallError(file, `${file} is a directory; websms installs a file there`);
      return undefined;
    }
    return fs.readFileSync(file);
  } catch (err) {
    if (err instanceof InstallError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new InstallError(file, `cannot read ${file}: ${why(err)}`);
  }
}

/** name, or name-1, name-2, ... when a backup of the same second exists. */
function freeName(name: string): string {
  let candidate = name;
  for (let i = 1; fs.existsSync(candidate); i++) candidate = `${name}-${i}`;
  return candidate;
}

/** Writes `target` whole (temporary file, then rename); with `backupTo`, the file it replaces is kept there first. */
function writeOne(target: string, content: Buffer, destRoot: string, backupTo?: string): void {
  const f = { dest: target, backup: backupTo };
  const dir = path.dirname(f.dest);
  if (dir !== destRoot) {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new InstallError(dir, `cannot create ${dir}: ${why(err)}`);
    }
  }
  const old = f.backup !== undefined ? fs.statSync(f.dest) : undefined;
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
