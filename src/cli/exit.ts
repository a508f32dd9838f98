// Exit codes of the CLI, from sysexits.h where one fits. Every command's
// --help lists the ones it uses, with what they mean there.

export { EX_CONFIG, EX_USAGE } from '../errors.js';

export const EX_OK = 0;
/** A check found problems, or install kept files the user changed. */
export const EX_FINDINGS = 1;
/** The input was refused: a bad number, a text too long, a text in a state that does not allow it. */
export const EX_DATAERR = 65;
/** An input file, directory or text does not exist or cannot be read. */
export const EX_NOINPUT = 66;
/** A service (the daemon's API, AMI) is unavailable. */
export const EX_UNAVAILABLE = 69;
/** The package itself is broken (for example its dialplan/ is missing), or the daemon answered nonsense. */
export const EX_SOFTWARE = 70;
/** An output file cannot be created. */
export const EX_CANTCREAT = 73;
/** Reading a file (the database) failed. */
export const EX_IOERR = 74;
/** The daemon is busy or cannot do it right now: try again. */
export const EX_TEMPFAIL = 75;
/** The daemon refused the API token. */
export const EX_NOPERM = 77;

/** The "exit codes:" section of a --help text; code 0 and 64 come first in every one. */
export function exitCodes(list: [number, string][]): string {
  const lines = list.map(([code, what]) => {
    const [first, ...rest] = wrap(what, 68);
    return [`  ${String(code).padEnd(4)}${first}`, ...rest.map((r) => `      ${r}`)].join('\n');
  });
  return `exit codes:\n${lines.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  out.push(line);
  return out;
}
