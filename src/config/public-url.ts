// Where the provider reaches an interface from outside. public_url names the
// interface's webhook as the provider calls it (…/sms/in/<name> behind a
// reverse proxy); the delivery-report URL sits beside it under the same
// prefix. Signatures cover these URLs, and Twilio-like providers are given
// the report URL with every text.

/** The public URL of the delivery-report path, without token; '' without public_url. */
export function publicStatusUrl(publicUrl: string, path: string, statusPath: string): string {
  if (publicUrl === '') return '';
  let u: URL;
  try {
    u = new URL(publicUrl);
  } catch {
    return '';
  }
  const own = u.pathname.endsWith('/') ? u.pathname.slice(0, -1) : u.pathname;
  // A proxy that maps its own path onto ours keeps its prefix; one that renames the path entirely cannot be guessed.
  const prefix = own.endsWith(path) ? own.slice(0, own.length - path.length) : '';
  return `${u.origin}${prefix}${statusPath}`;
}
