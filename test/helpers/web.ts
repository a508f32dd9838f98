// A running websms with its web page on, an ITSP double to send through, and
// what the page's tests do most: sign in, post a text in as an ITSP would.

import type { Page } from 'playwright-core';
import type { ExecutionContext } from 'ava';
import { hashPassword } from '../../src/web/password.js';
import { startItspDouble, twilioLike, type ItspDouble, type ResponseSource } from '../doubles/itsp-server.js';
import { startStack, type Stack } from './stack.js';

/** The user's numbers: one per interface. */
export const HOME = '+46812345678';
export const OFFICE = '+46855501234';
export const PASSWORD = 'correct horse battery staple';

export interface WebStack extends Stack {
  itsp: ItspDouble;
  /** The page on the management listener. */
  page: string;
  password: string;
  /** A text in from `from` to `to`, posted as the ITSP posts it. */
  textIn(from: string, to: string, body: string): Promise<void>;
}

export async function startWebStack(
  t: ExecutionContext | undefined,
  o: { itsp?: ResponseSource; web?: string; outbound?: string; general?: string; api?: string } = {},
): Promise<WebStack> {
  const itsp = await startItspDouble({ default: o.itsp ?? twilioLike() });
  // A cheaper hash than websms web-password makes (2^10): the tests sign in many times.
  const hash = await hashPassword(PASSWORD, { ln: 10 });
  const send = `send_url = ${itsp.url}/send\nsend_id_field = sid\nrate = 0\nrate_per_number = 0`;
  const s = await startStack({
    general: `default_interface = home\n${o.general ?? ''}\n[web]\npassword = ${hash}\n${o.web ?? ''}`,
    outbound: o.outbound ?? 'retry_min = 50ms\nretry_max = 100ms\nmax_attempts = 2\nnotify = none',
    api: o.api,
    interfaces: `[home]\n${send}\nnumber = ${HOME}\n\n[office]\n${send}\nnumber = ${OFFICE}\n`,
  });
  const stop = async (): Promise<void> => {
    await s.stop();
    await itsp.stop();
  };
  t?.teardown(stop);
  return {
    ...s,
    stop,
    itsp,
    page: `${s.api}/web/`,
    password: PASSWORD,
    async textIn(from, to, body) {
      const iface = to === OFFICE ? 'office' : 'home';
      const r = await s.post(`/sms/in/${iface}`, { From: from, To: to, Body: body });
      if (r.status !== 200) throw new Error(`webhook answered ${r.status}: ${r.text}`);
    },
  };
}

/** Signs in through the form, as a person does. */
export async function signIn(page: Page, url: string, password = PASSWORD): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Conversations' }).waitFor();
}
