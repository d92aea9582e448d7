// Last month's report approved from the bottom up, in a real browser: the district
// cannot approve while the street has not; the community specialist approves, then the
// street office, then the district bureau; each sees the state change on the page.
// Run by crates/cli/tests/browser.rs, which prepares the data and passes it in env.
import assert from 'node:assert/strict';
import { base, env, launch, shots } from './harness.mjs';

const month = env('MONTH');

const browser = await launch();

async function as(user, password) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  return page;
}

async function openReport(page, node) {
  const response = await page.goto(`${base}/reports/${node}?period=${month}`);
  assert.equal(response.status(), 200, `report of ${node} opens`);
  assert.ok(await page.isVisible('svg.chart'), 'the report has charts');
}

async function approve(page, node, shot) {
  await openReport(page, node);
  assert.match(await page.textContent('.approval-state'), /未审核/);
  await Promise.all([page.waitForNavigation(), page.click('#approve')]);
  assert.match(await page.textContent('.approval-state'), /已审核/, `${node} shows as approved`);
  await page.screenshot({ path: `${shots}/${shot}`, fullPage: true });
}

try {
  // The district first: its street has not approved, so there is no button.
  const district = await as('qu', 'password-d');
  await openReport(district, env('COUNTY'));
  assert.equal(await district.locator('#approve').count(), 0, 'the district waits for its streets');
  assert.match(await district.textContent('#approval'), /等待下级审核/);
  const births = await district.textContent('#figures tr[data-key=births] td.num');
  assert.equal(births.trim(), env('BIRTHS'), 'the page shows the figure the store computes');

  await approve(await as('zhuan', 'password-c'), env('COMMUNITY'), 'approval-community.png');
  await approve(await as('jie', 'password-s'), env('STREET'), 'approval-street.png');
  await approve(district, env('COUNTY'), 'approval-district.png');
  await district.screenshot({ path: `${shots}/report.png` });

  // Approved and locked: the community can no longer reopen while its parents are approved.
  const specialist = await as('zhuan', 'password-c');
  await openReport(specialist, env('COMMUNITY'));
  assert.equal(await specialist.locator('input[name=reason]').count(), 0, 'reopening starts at the top');
  console.log('approval story: ok');
} finally {
  await browser.close();
}
