// A real browser for the web page's tests: Debian's chromium driven by
// playwright-core, headless, each test with a new profile directory and no
// network beyond what the test serves. Where chromium is not installed the
// tests skip with one line, except in CI (.ci/run sets CI and installs it).

import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { ExecutionContext } from 'ava';
import { tempDir } from './tmp.js';

export const CHROMIUM = process.env.WEBSMS_CHROMIUM ?? '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why the browser tests cannot run here; undefined when they can. Throws in CI, where chromium must be there. */
export function browserMissing(): string | undefined {
  if (fs.existsSync(CHROMIUM)) return undefined;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing in CI: .ci/run installs Debian's chromium`);
  return `${CHROMIUM} is not installed (apt-get install chromium): the web page's browser tests are skipped`;
}

export interface BrowserOptions {
  /** A phone-sized screen. */
  phone?: boolean;
  viewport?: { width: number; height: number };
  colorScheme?: 'light' | 'dark';
  /** For a test proxy's throwaway certificate. */
  ignoreHttpsErrors?: boolean;
}

/** A browser with a fresh profile; closed when the test ends. Every page's console errors fail the test. */
export async function openBrowser(t: ExecutionContext, o: BrowserOptions = {}): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const profile = path.join(tempDir(), 'chromium-profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: o.viewport ?? (o.phone ? { width: 390, height: 844 } : { width: 1280, height: 800 }),
    deviceScaleFactor: o.phone ? 2 : 1,
    isMobile: o.phone ?? false,
    hasTouch: o.phone ?? false,
    colorScheme: o.colorScheme ?? 'light',
    ignoreHTTPSErrors: o.ignoreHttpsErrors ?? false,
    locale: 'en-GB',
    timezoneId: 'Europe/Stockholm',
  });
  t.teardown(() => context.close());
  const errors: string[] = [];
  const watch = (page: Page): void => {
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  page.setDefaultTimeout(10_000);
  return { context, page, errors };
}
