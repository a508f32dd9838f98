// The settings most profiles ask for, in one shape: what `websms providers`
// shows a user about the keys of an interface section. Each profile gives
// only the words that tell where to find the value at its provider.

import type { ProviderSetting } from './types.js';

/** `account`: the account, user or API key id (required, not secret). */
export function accountSetting(doc: string): ProviderSetting {
  return { key: 'account', doc, secret: false, required: true };
}

/** `secret`: the API password, token or key (required, secret). */
export function secretSetting(doc: string): ProviderSetting {
  return { key: 'secret', doc, secret: true, required: true };
}

/** `number`: the provider number texts go out from (optional). */
export function numberSetting(doc: string): ProviderSetting {
  return { key: 'number', doc, secret: false, required: false };
}

/** `signing_secret`: the key of the provider's webhook signatures (secret). */
export function signingSecretSetting(doc: string, required = false): ProviderSetting {
  return { key: 'signing_secret', doc, secret: true, required };
}

/** `token`: the secret in the webhook URL, for providers that do not sign (secret). */
export function tokenSetting(doc: string, required = true): ProviderSetting {
  return { key: 'token', doc, secret: true, required };
}

/** `public_url`: the interface's webhook URL as the provider calls it (optional). */
export function publicUrlSetting(doc: string): ProviderSetting {
  return { key: 'public_url', doc, secret: false, required: false };
}
