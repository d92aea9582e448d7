// 委托交接 in a real browser: the sending community's specialist opens a building and
// hands it to a grid of another community; the receiving community's specialist sees
// the households and people in transit, accepts, and the building is theirs.
// Run by crates/cli/tests/browser.rs, which prepares the data and passes it in env.
import assert from 'node:assert/strict';
import { base, env, launch, shots } from './harness.mjs';

const signIn = async (browser, username) => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', env('PASSWORD'));
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  return page;
};

const browser = await launch();
try {
  const sender = await signIn(browser, env('SENDER'));
  const building = await sender.goto(`${base}/buildings/440307/${env('BUILDING')}`);
  assert.equal(building.status(), 200, 'the building opens');
  await Promise.all([sender.waitForNavigation(), sender.click('#hand-over')]);
  await sender.selectOption('select[name=target]', env('GRID'));
  await sender.screenshot({ path: `${shots}/handover-propose.png`, fullPage: true });
  await Promise.all([sender.waitForNavigation(), sender.click('#handover-new button[type=submit]')]);
  assert.match(sender.url(), /\/handovers$/);
  assert.match(await sender.textContent('main'), /待接收方确认/, 'it waits for the receiving side');

  const receiver = await signIn(browser, env('RECEIVER'));
  await receiver.goto(`${base}/handovers`);
  const transit = await receiver.textContent('table.in-transit');
  assert.match(transit, new RegExp(env('MEMBER')), 'the people in transit are shown to the receiving side');
  await receiver.screenshot({ path: `${shots}/handover-incoming.png`, fullPage: true });
  await Promise.all([receiver.waitForNavigation(), receiver.click('form.decide button[value=accept]')]);
  assert.match(await receiver.textContent('main'), /已交接/, 'accepted and moved');
  const moved = await receiver.goto(`${base}/buildings/440307/${env('BUILDING')}`);
  assert.equal(moved.status(), 200, 'the building is the receiving community\'s now');
  await receiver.screenshot({ path: `${shots}/handover-done.png`, fullPage: true });
  console.log('handover story: ok');
} finally {
  await browser.close();
}
