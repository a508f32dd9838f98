// The adapters by provider name. A named profile (twilio, elks, ...) is one file
// beside generic.ts and one line in ADAPTERS.

import { WebsmsError } from '../src/errors.js';
import { clicksend } from './clicksend.js';
import { flowroute } from './flowroute.js';
import { generic } from './generic.js';
import { voipms } from './voipms.js';
import { zadarma } from './zadarma.js';
import type { ProviderAdapter } from './types.js';

const ADAPTERS: Readonly<Record<string, ProviderAdapter>> = {
  generic,
  zadarma,
  flowroute,
  clicksend,
  voipms,
};

/** Every provider name the configuration may give. */
export const PROVIDER_NAMES: readonly string[] = Object.freeze(Object.keys(ADAPTERS));

/** Every provider with its one-line description, by name. */
export function providerList(): Array<{ name: string; description: string }> {
  return PROVIDER_NAMES.map((name) => ({ name, description: ADAPTERS[name]!.description }));
}

/** The adapter of a provider; an unknown name is a configuration error (load.ts should have caught it). */
export function adapterFor(provider: string): ProviderAdapter {
  const adapter = Object.prototype.hasOwnProperty.call(ADAPTERS, provider) ? ADAPTERS[provider] : undefined;
  if (!adapter) throw new WebsmsError('config', `unknown provider "${provider}"; known: ${PROVIDER_NAMES.join(', ')}`);
  return adapter;
}
