// Drives the admin console in headless Chromium, as an operator would:
// comes in at / and logs in with the admin token, finds a delivered order
// by its order number and sends it again, retries a dead letter from the
// Problems page and sees it delivered, and opens River UI.
//
// Environment (run.sh and the driver set it):
//   BASE_URL        http://127.0.0.1:PORT of the qoo10hook HTTP listener
//   ADMIN_TOKEN     its admin token
//   ORDER_DELIVERED an order number whose mail was delivered
//   ORDER_DEAD      an order number whose delivery is a dead letter
//   OUT_DIR         where screenshots go
//   CHROMIUM        the browser (default /usr/bin/chromium)
import { need, openConsole } from './browser.mjs';
import { ordersPages } from './orders.mjs';

const base = need('BASE_URL');
const token = need('ADMIN_TOKEN');
const orderDelivered = need('ORDER_DELIVERED');
const orderDead = need('ORDER_DEAD');
const { page, pageErrors, shot, expectText, outDir, close } = await openConsole();

try {
  // / leads to the console; not logged in: 401 with the login form and no data.
  const first = await page.goto(`${base}/`);
  if (first.status() !== 401) throw new Error(`console before login answered ${first.status()}, want 401`);
  if (new URL(page.url()).pathname !== '/admin/') throw new Error(`/ led to ${page.url()}, want /admin/`);
  if ((await page.content()).includes(orderDelivered)) throw new Error('the login page shows order data');
  await shot('login');

  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${base}/admin/`);
  await page.getByRole('heading', { name: 'Mails' }).waitFor();

  // Find the delivered order by its order number.
  await page.getByLabel('Order number').fill(orderDelivered);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/order_no=/);
  const rows = page.locator('tbody tr');
  if (await rows.count() !== 1) throw new Error(`search for ${orderDelivered} found ${await rows.count()} rows`);
  await expectText(rows.first(), 'delivered 1', 'the delivered order\'s row');
  await shot('search-delivered');
  await rows.first().getByRole('link').click();
  await page.getByRole('heading', { name: /^Mail / }).waitFor();
  await expectText(page.locator('main'), orderDelivered, 'the mail page');
  await expectText(page.locator('main table').first(), 'delivered', 'the mail\'s delivery');
  await expectText(page.locator('main dl'), '+09:00', 'the mail\'s time of receipt, with its zone');
  await shot('mail-delivered');

  // Send the delivered order again (a receiver lost it): one more attempt, delivered.
  const mailURL = page.url();
  await page.locator('main table').first().getByRole('button', { name: 'Resend' }).click();
  await page.getByRole('status').filter({ hasText: 'sent again, under the same webhook-id' }).waitFor();
  const resendDeadline = Date.now() + 20000;
  for (;;) {
    const cells = page.locator('main table').first().locator('tbody tr').first().locator('td');
    if (((await cells.nth(2).textContent()) || '').includes('delivered') && ((await cells.nth(3).textContent()) || '').trim() === '2') break;
    if (Date.now() > resendDeadline) throw new Error(`order ${orderDelivered} not delivered again 20 s after Resend`);
    await page.waitForTimeout(300);
    await page.goto(mailURL);
  }
  await shot('mail-resent');

  // The dead letter, among the problems (failed and dead): retry it and see it delivered.
  await page.getByRole('link', { name: 'Problems' }).click();
  await page.getByRole('heading', { name: 'Problems' }).waitFor();
  const dead = page.locator('tbody tr', { hasText: 'dead' });
  if (await dead.count() !== 1) throw new Error(`${await dead.count()} dead letters listed, want 1`);
  await expectText(dead.first(), '+09:00', 'the dead letter\'s time, with its zone');
  await shot('problems');
  await dead.first().getByRole('button', { name: 'Retry' }).click();
  await page.getByRole('status').filter({ hasText: 'Delivery queued for retry.' }).waitFor();
  await shot('retried');

  const deadline = Date.now() + 20000;
  for (;;) {
    await page.goto(`${base}/admin/messages?order_no=${encodeURIComponent(orderDead)}`);
    const row = page.locator('tbody tr').first();
    if (((await row.textContent()) || '').includes('delivered 1')) break;
    if (Date.now() > deadline) throw new Error(`order ${orderDead} not delivered 20 s after the retry: ${await row.textContent()}`);
    await page.waitForTimeout(300);
  }
  await page.locator('tbody tr').first().getByRole('link').click();
  await page.getByRole('heading', { name: /^Mail / }).waitFor();
  await expectText(page.locator('main table').first(), 'delivered', 'the retried mail\'s delivery');
  await shot('dead-letter-delivered');

  await ordersPages({ page, base, shot, expectText });

  // River UI, behind the same login, on this service's store.
  await page.goto(`${base}/admin/river/queues`);
  await page.getByText('ep_default').first().waitFor();
  await shot('river-ui-queues');
  await page.goto(`${base}/admin/river/jobs?state=completed`);
  await page.getByText('delivery').first().waitFor();
  await shot('river-ui-jobs');

  if (pageErrors.length) throw new Error(`errors in the pages: ${pageErrors.join('; ')}`);
  console.log(`console e2e: PASS (screenshots in ${outDir})`);
} catch (e) {
  await shot('failure').catch(() => {});
  console.error(`console e2e: FAIL: ${e.message} (screenshots in ${outDir}; page: ${page.url()})`);
  process.exitCode = 1;
} finally {
  await close();
}
