// asterisk-manager ships no types; src/asterisk/ami.ts describes the part we use.
declare module 'asterisk-manager' {
  const AsteriskManager: (...args: unknown[]) => unknown;
  export default AsteriskManager;
}
