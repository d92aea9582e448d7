// A grid worker's day on a 360 px phone: open 今日走访, record a visit with one tap,
// lose the connection, record another (it waits in the page), get the connection back
// and see it sent; sending it again by hand changes nothing.
// Run by crates/cli/tests/browser.rs, which prepares the data and passes it in env.
import assert from 'node:assert/strict';
import { base, env, launch, shots } from './harness.mjs';


const browser = await launch();

try {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', env('USER'));
  await page.fill('input[name=password]', env('PASSWORD'));
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  await page.goto(`${base}/today`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - 360);
  assert.ok(overflow <= 1, `the page fits a 360 px screen (overflows by ${overflow}px)`);
  const cards = page.locator('.visit:not(.done)');
  assert.ok((await cards.count()) >= 2, 'the plan has households to visit');
  const queued = () => page.textContent('#queued');

  // Online: one tap, sent at once.
  const first = cards.nth(0);
  const firstHousehold = await first.getAttribute('data-household');
  await first.locator('button[data-outcome=seen]').tap();
  await page.waitForFunction(() => document.getElementById('queued').textContent === '0');
  assert.doesNotMatch(await page.textContent(`.visit[data-household="${firstHousehold}"] .state`), /待发送/);

  // Offline: the tap waits in the page.
  await context.setOffline(true);
  const second = page.locator('.visit:not(.done)').nth(0);
  const secondHousehold = await second.getAttribute('data-household');
  await second.locator('input.notes').fill('敲门无人应答');
  await second.locator('button[data-outcome=nobody_home]').tap();
  await page.waitForTimeout(500);
  assert.equal(await queued(), '1', 'the offline visit waits to be sent');
  assert.match(await page.textContent(`.visit[data-household="${secondHousehold}"] .state`), /待发送/);
  const waiting = await page.evaluate(() => {
    const key = Object.keys(localStorage).find((k) => k.startsWith('jiceng-visits-'));
    return JSON.parse(localStorage.getItem(key))[0];
  });
  await page.screenshot({ path: `${shots}/visits-offline.png`, fullPage: false });

  // Back online: it goes out by itself.
  await context.setOffline(false);
  await page.waitForFunction(() => document.getElementById('queued').textContent === '0', null, { timeout: 20000 });
  assert.doesNotMatch(await page.textContent(`.visit[data-household="${secondHousehold}"] .state`), /待发送/);

  // Sent again (as a retry after a lost answer would): recorded once.
  const again = await page.evaluate(async (visit) => {
    const csrf = document.querySelector('input[name=csrf]').value;
    const r = await fetch('/api/visits', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify(visit) });
    return r.json();
  }, waiting);
  assert.equal(again.duplicate, true, 'a resent visit is recognised');
  await page.reload();
  assert.ok((await page.locator('.visit.done').count()) >= 2, 'both visits show as done after a reload');
  await page.screenshot({ path: `${shots}/visits.png`, fullPage: false });

  // The community's 四不漏 lists now show what is still to reach, with who answers for it.
  await page.goto(`${base}/coverage/440307003002`);
  assert.match(await page.textContent('#gaps'), /未走访楼层/);
  await page.screenshot({ path: `${shots}/coverage-phone.png`, fullPage: false });

  // A landlord registered on the phone, then a new tenant reported through the form.
  await page.goto(`${base}/parties/440307003002`);
  await page.selectOption('select[name=kind]', 'landlord');
  await page.fill('form.record input[name=name]', '陈房东');
  await page.fill('form.record input[name=phone]', '13800001111');
  await page.locator('form.record button[type=submit]').tap();
  await page.waitForURL(/\/parties\/440307\/[0-9a-f-]+$/);
  const firstHouseholdNo = process.env.HOUSEHOLD_NO;
  await page.fill('input[name=household_no]', firstHouseholdNo);
  await page.locator('form[action$="/units"] button').tap();
  await page.locator('table a', { hasText: firstHouseholdNo }).waitFor();
  await page.fill('#line-form input[name=name]', '吴新租');
  await page.fill('#line-form input[name=id_number]', '440307199001011232');
  await page.fill('#line-form input[name=date]', new Date().toISOString().slice(0, 10));
  await page.fill('#line-form input[name=ethnicity]', '汉');
  await page.locator('#line-form button').tap();
  await page.waitForSelector('#notice');
  assert.match(await page.textContent('#notice'), /已提交社区审核 1 条/);
  assert.match(await page.textContent('#lines'), /待社区审核/);
  await page.screenshot({ path: `${shots}/party-phone.png`, fullPage: true });
  console.log(JSON.stringify({ first: firstHousehold, second: secondHousehold }));
} finally {
  await browser.close();
}
