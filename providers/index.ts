// The adapters by provider name. A named profile (twilio, elks, ...) is one file
// beside generic.ts and one line in ADAPTERS.

import { WebsmsError } from '../src/errors.js';
import { bandwidth } from './bandwidth.js';
import { elks } from './elks.js';
import { clicksend } from './clicksend.js';
import { flowroute } from './flowroute.js';
import { generic } from './generic.js';
import { plivo } from './plivo.js';
import { sinch } from './sinch.js';
import { telnyx } from './telnyx.js';
import { signalwire, twilio } from './twilio.js';
import type { ProviderAdapter, ProviderSetting } from './types.js';
import { vonage } from './vonage.js';
import { voipms } from './voipms.js';
import { zadarma } from './zadarma.js';

const ADAPTERS: Readonly<Record<string, ProviderAdapter>> = {
  generic,
  '46elks': elks,
  bandwidth,
  clicksend,
  flowroute,
  plivo,
  signalwire,
  sinch,
  telnyx,
  twilio,
  vonage,
  voipms,
  zadarma,
};

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
