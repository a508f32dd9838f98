// Exit codes of the CLI, from sysexits.h where one fits.

export { EX_CONFIG, EX_USAGE } from '../errors.js';

export const EX_OK = 0;
/** A check found problems, or install kept files the user changed. */
export const EX_FINDINGS = 1;
/** An input file or directory does not exist or cannot be read. */
export const EX_NOINPUT = 66;
/** A service (AMI) is unavailable. */
export const EX_UNAVAILABLE = 69;
/** The package itself is broken (for example its dialplan/ is missing). */
export const EX_SOFTWARE = 70;
/** An output file cannot be created. */
export const EX_CANTCREAT = 73;
