// A possible match reviewed side by side and accepted, in a real browser: the community
// specialist opens the review queue, sees the department's record beside both
// candidates with each field's comparison and match weight, accepts the right one and
// lands on the marriage event it proposed to the review chain.
// Run by crates/cli/tests/browser.rs, which prepares the data and passes it in env.
import assert from 'node:assert/strict';
import { base, env, launch, shots } from './harness.mjs';

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', env('REVIEWER'));
  await page.fill('input[name=password]', env('PASSWORD'));
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);

  const queue = await page.goto(`${base}/feeds/records/${env('COMMUNITY')}?outcome=possible`);
  assert.equal(queue.status(), 200, 'the review queue opens');
  const link = page.locator(`a[href="${env('REVIEW_PATH')}"]`);
  assert.equal(await link.count(), 1, 'the possible match is in the queue');
  await Promise.all([page.waitForNavigation(), link.click()]);

  // Side by side: the record as received and every candidate with its evidence.
  assert.ok(await page.isVisible('#incoming'), 'the department record is shown');
  assert.match(await page.textContent('#incoming'), new RegExp(env('NAME')));
  assert.equal(await page.locator('table.candidate').count(), 2, 'both candidates are shown');
  const evidence = await page.textContent('#candidate-1');
  assert.match(evidence, /姓名/);
  assert.match(evidence, /权重/);
  assert.match(evidence, /[+-]\d+\.\d/, 'each comparison shows its weight');
  await page.screenshot({ path: `${shots}/feed-review.png`, fullPage: true });

  const accept = page.locator(`form:has(input[name=person][value="${env('PERSON_ID')}"]) button`);
  await Promise.all([page.waitForNavigation(), accept.click()]);
  assert.match(page.url(), /\/events\/440307\//, 'accepting proposes the change to the review chain');
  assert.match(await page.textContent('main'), /结婚/);
  await page.screenshot({ path: `${shots}/feed-accepted.png`, fullPage: true });
  console.log('feeds story: ok');
} finally {
  await browser.close();
}
