// What is allowed but probably not meant: the daemon logs each of these at
// start, and `websms check-config` lists them. One list, so the two agree.

import { adapterFor, PROVIDER_NAMES } from '../../providers/index.js';
import { makeAddressMatcher } from './cidr.js';
import type { Config, InterfaceConfig } from './types.js';

export interface ConfigWarning {
  /** Stable, for scripts (check-config --json) and log searches. */
  code:
    | 'ami_secret_missing'
    | 'country_code_default'
    | 'outbound_disabled'
    | 'default_interface_cannot_send'
    | 'webhook_open'
    | 'signature_check_off'
    | 'media_links_off'
    | 'web_off_loopback'
    | 'privatedial_note';
  /** What is wrong and what to do about it. Never a secret's value. */
  message: string;
  /** Which interface it is about, where it is about one. */
  iface?: string;
}

const ANY = new Set(['0.0.0.0/0', '::/0']);

export function configWarnings(config: Config): ConfigWarning[] {
  const out: ConfigWarning[] = [];
  // PrivateDial's websms.conf: its keys websms reads differently or does not need, first, in file order.
  for (const n of config.notes ?? []) {
    out.push({ code: 'privatedial_note', message: n.line === undefined ? n.message : `line ${n.line}: ${n.message}` });
  }
  if (config.ami.secret === '') {
    out.push({
      code: 'ami_secret_missing',
      message: 'no AMI secret configured ([ami] secret or WEBSMS_AMI_SECRET); Asterisk will refuse the login',
    });
  }

  // Only the loader knows what was written; a configuration built by hand says nothing.
  const cc = config.settings?.find((s) => s.name === 'general' && !s.interface)?.keys.country_code;
  if (cc?.source === 'default') {
    out.push({
      code: 'country_code_default',
      message: `[general] country_code is not set: national numbers are read as numbers of country ${config.general.countryCode} (Sweden); set it to your country calling code`,
    });
  }

  const sending = config.interfaces.filter((i) => i.send.url !== '');
  if (sending.length === 0) {
    out.push({
      code: 'outbound_disabled',
      message: 'outbound sending is off: no interface has a send_url, so texts from phones are refused at hand-off; set send_url on an interface to send',
    });
  } else {
    const def = config.interfaces.find((i) => i.name === config.general.defaultInterface);
    if (def && def.send.url === '') {
      out.push({
        code: 'default_interface_cannot_send',
        iface: def.name,
        message: `the default interface [${def.name}] has no send_url: texts from phones without WEBSMS_INDEX are refused; set [general] default_interface to one of ${sending.map((i) => i.name).join(', ')}, or give [${def.name}] a send_url`,
      });
    }
  }

  for (const i of config.interfaces) {
    if (signs(i) && !i.verify) {
      out.push({
        code: 'signature_check_off',
        iface: i.name,
        message: `[${i.name}] verify = no: the signatures of ${i.provider}'s webhooks are not checked; set verify = yes once the webhook works`,
      });
    }
    // A provider's signature is as good a check as a token.
    if (i.allow.some((c) => ANY.has(c)) && i.username === '' && i.token === '' && !(signs(i) && i.verify)) {
      out.push({
        code: 'webhook_open',
        iface: i.name,
        message: `[${i.name}] takes webhooks from any address without a username/password or token: anyone who finds ${i.path} can inject texts; set token (or username and password), or list the ITSP's addresses in allow`,
      });
    }
  }

  // Named providers deliver MMS to the same webhook; without a public URL their pictures cannot reach a phone.
  const mms = config.interfaces.filter((i) => i.provider !== 'generic');
  if (config.media.publicUrl === '' && mms.length > 0) {
    out.push({
      code: 'media_links_off',
      message: `[media] public_url is not set: pictures (MMS) that come to ${mms.map((i) => `[${i.name}]`).join(', ')} are not fetched, and the text tells the phone so; set it to the address phones reach websms's media at (docs/media.md)`,
    });
  }

  // The page's password and cookie would cross the network in the clear unless a TLS proxy is in front.
  if (config.web.password !== '' && !isLoopback(config.api.listenHost)) {
    out.push({
      code: 'web_off_loopback',
      message: `the web page is on (a [web] password is set) and [api] listen is ${config.api.listenHost}, not loopback: its password and sign-in cookie travel unencrypted unless browsers reach it only through a TLS reverse proxy; keep [api] listen on 127.0.0.1 and put the proxy in front (docs/web.md)`,
    });
  }
  return out;
}

const loopbackAddress = makeAddressMatcher(['127.0.0.0/8', '::1/128']);
const isLoopback = (host: string): boolean => host.toLowerCase() === 'localhost' || loopbackAddress(host);

/** Whether the interface's provider signs its webhooks (its profile can check them). */
function signs(i: InterfaceConfig): boolean {
  return PROVIDER_NAMES.includes(i.provider) && adapterFor(i.provider).verifyWebhook !== undefined;
}
