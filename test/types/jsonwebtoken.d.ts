// The little of jsonwebtoken (the library @vonage/jwt signs and verifies with)
// that the Vonage tests use to make webhook tokens; it ships no types.
declare module 'jsonwebtoken' {
  interface SignOptions {
    algorithm: 'HS256' | 'HS512' | 'RS256' | 'none';
  }
  interface Decoded {
    header: Record<string, unknown>;
    payload: Record<string, unknown>;
    signature: string;
  }
  const jwt: {
    sign(payload: object, secret: string | Buffer, options: SignOptions): string;
    decode(token: string, options: { complete: true }): Decoded | null;
  };
  export default jwt;
}
