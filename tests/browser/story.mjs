// A grid worker's morning, in a real browser: log in, find a resident by pinyin
// initials, open the record, change the phone number, see the change in the history;
// then a worker of another community fails to open the same record.
// Run by crates/cli/tests/browser.rs, which starts the server and passes the data in env.
import assert from 'node:assert/strict';
import { base, env, launch, shots } from './harness.mjs';

const residentName = env('RESIDENT_NAME');
const residentPath = env('RESIDENT_PATH');

const browser = await launch();

async function login(page, user, password) {
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
}

try {
  const desk = await browser.newPage({ viewport: { width: 1200, height: 860 } });
  await login(desk, env('USER_A'), env('PASSWORD_A'));
  await desk.screenshot({ path: `${shots}/home.png` });

  await desk.goto(`${base}/search`);
  await desk.fill('input[name=q]', env('RESIDENT_INITIALS'));
  await Promise.all([desk.waitForNavigation(), desk.click('form.search button')]);
  await desk.screenshot({ path: `${shots}/search.png` });
  const link = desk.locator('table a', { hasText: residentName }).first();
  await Promise.all([desk.waitForNavigation(), link.click()]);

  // The record asks why it is opened before showing it.
  await desk.check('input[value=verification]');
  await Promise.all([desk.waitForNavigation(), desk.click('form.record button')]);
  assert.match(await desk.textContent('h1'), new RegExp(residentName));

  await Promise.all([desk.waitForNavigation(), desk.click('a.button[href$="/edit"]')]);
  await desk.fill('input[name=phone]', '12345');
  await Promise.all([desk.waitForNavigation(), desk.click('form.record button')]);
  assert.ok(await desk.isVisible('[data-field=phone]'), 'an invalid phone is reported next to the field');
  await desk.screenshot({ path: `${shots}/edit-error.png` });
  await desk.fill('input[name=phone]', '139 1234 5678');
  await Promise.all([desk.waitForNavigation(), desk.click('form.record button')]);
  const body = await desk.textContent('body');
  assert.ok(body.includes('13912345678'), 'the new phone number is shown');
  assert.ok(body.includes('变更：联系电话'), 'the history lists the change');
  await desk.screenshot({ path: `${shots}/resident.png`, fullPage: true });

  // The header's switch shows the same record in English, and switches back.
  await Promise.all([desk.waitForNavigation(), desk.click('header a.lang')]);
  assert.equal(await desk.getAttribute('html', 'lang'), 'en');
  const english = await desk.textContent('main');
  assert.ok(english.includes('changed: phone') && english.includes('Date of birth'), 'the record reads in English');
  assert.ok(!english.includes('出生日期'), 'no Chinese labels on the English page');
  await desk.screenshot({ path: `${shots}/resident-english.png`, fullPage: true });
  await Promise.all([desk.waitForNavigation(), desk.click('header a.lang')]);
  assert.equal(await desk.getAttribute('html', 'lang'), 'zh-CN');

  // The same record on a 360 px phone.
  const phone = await browser.newPage({ viewport: { width: 360, height: 740 }, isMobile: true });
  await login(phone, env('USER_A'), env('PASSWORD_A'));
  await phone.goto(`${base}${residentPath}?purpose=verification`);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - 360);
  assert.ok(overflow <= 1, `the page fits a 360 px screen (overflows by ${overflow}px)`);
  await phone.screenshot({ path: `${shots}/resident-phone.png`, fullPage: true });

  // A worker of another community cannot open it.
  const other = await browser.newPage();
  await login(other, env('USER_B'), env('PASSWORD_B'));
  const response = await other.goto(`${base}${residentPath}?purpose=verification`);
  assert.equal(response.status(), 404);
  assert.ok(!(await other.textContent('body')).includes('13912345678'));
  await other.screenshot({ path: `${shots}/other-community.png` });
  console.log('browser story: ok');
} finally {
  await browser.close();
}
