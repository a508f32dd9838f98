import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './tmp.js';

export const MIGRATIONS = fileURLToPath(new URL('../../../db/', import.meta.url));

/** A copy of db/ holding the migrations up to `version` only: openDatabase(file, it) makes a database as that websms did. */
export function migrationsUpTo(version: number): string {
  const dir = path.join(tempDir(), `migrations-${String(version).padStart(3, '0')}`);
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(MIGRATIONS)) {
    if (/^\d{3}_/.test(f) && Number(f.slice(0, 3)) <= version) fs.copyFileSync(path.join(MIGRATIONS, f), path.join(dir, f));
  }
  return dir;
}
