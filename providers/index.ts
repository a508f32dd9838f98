// The adapters by provider name. A named profile (twilio, elks, ...) is one file
// beside generic.ts and one line in ADAPTERS.

import { WebsmsError } from '../src/errors.js';
import { generic } from './generic.js';
import { signalwire, twilio } from './twilio.js';
import type { ProviderAdapter, ProviderSetting } from './types.js';

const ADAPTERS: Readonly<Record<string, ProviderAdapter>> = { generic, twilio, signalwire };

/** Every provider name the configuration may give. */
export const PROVIDER_NAMES: readonly string[] = Object.freeze(Object.keys(ADAPTERS));

export interface ProviderInfo {
  name: string;
  description: string;
  /** What a user of it writes in the interface section (websms providers, GET /api/providers). */
  settings: ProviderSetting[];
}

/** Every provider with its one-line description and settings, by name. */
export function providerList(): ProviderInfo[] {
  return PROVIDER_NAMES.map((name) => {
    const a = ADAPTERS[name]!;
    return { name, description: a.description, settings: (a.settings ?? []).map((s) => ({ ...s })) };
  });
}

/** The adapter of a provider; an unknown name is a configuration error (load.ts should have caught it). */
export function adapterFor(provider: string): ProviderAdapter {
  const adapter = Object.prototype.hasOwnProperty.call(ADAPTERS, provider) ? ADAPTERS[provider] : undefined;
  if (!adapter) throw new WebsmsError('config', `unknown provider "${provider}"; known: ${PROVIDER_NAMES.join(', ')}`);
  return adapter;
}
