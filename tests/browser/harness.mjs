// What every browser story starts from: its settings from the environment (set by
// crates/cli/tests/browser.rs) and Debian's chromium, launched headless.
import { chromium } from 'playwright-core';

/** The value of an environment variable the story needs. */
export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`missing ${name}`);
  return value;
};

export const base = env('JICENG_URL');
export const shots = env('SCREENSHOT_DIR');

export const launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
