// Drives the console's repair flow in headless Chromium, as an operator
// would: opens a mail that needs attention, reads its decoded text,
// pastes the seller's J·QSM template, tries it on the mail, saves it,
// re-parses the mail and sees the corrected event delivered.
//
// Environment (the driver sets it):
//   BASE_URL      http://127.0.0.1:PORT of the qoo10hook HTTP listener
//   ADMIN_TOKEN   its admin token
//   ORDER_CUSTOM  the order number of the mail no built-in template reads
//   TEMPLATE_FILE the seller's template text
//   OUT_DIR       where screenshots go
//   CHROMIUM      the browser (default /usr/bin/chromium)
import { readFileSync } from 'node:fs';
import { need, openConsole } from './browser.mjs';

const base = need('BASE_URL');
const token = need('ADMIN_TOKEN');
const order = need('ORDER_CUSTOM');
const templateText = readFileSync(need('TEMPLATE_FILE'), 'utf8');
const { page, pageErrors, shot, expectText, outDir, close } = await openConsole();

try {
  await page.goto(`${base}/admin/login`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Mails' }).waitFor();

  // The mails that need attention: the customised mail is unrecognized.
  await page.getByLabel('Status').selectOption('unrecognized');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/status=unrecognized/);
  const rows = page.locator('tbody tr');
  if (await rows.count() !== 1) throw new Error(`${await rows.count()} unrecognized mails listed, want 1`);
  await page.getByRole('button', { name: 'Re-parse every unrecognized mail' }).waitFor();
  await shot('needs-attention');
  await rows.first().getByRole('link').click();
  await page.getByRole('heading', { name: /^Mail / }).waitFor();

  // Its decoded text beside the raw message.
  await expectText(page.getByTestId('decoded-text'), `受注No≫ ${order}`, 'the decoded text');
  await expectText(page.getByTestId('raw'), 'Content-Transfer-Encoding: 8bit', 'the raw message');
  await shot('mail-decoded');

  // Paste the seller's template and try it on this mail.
  await page.getByLabel('Name').fill('acme-order');
  await page.getByLabel('Type').selectOption('order.placed');
  await page.getByLabel('Body (テンプレート詳細)').fill(templateText);
  await page.getByRole('button', { name: 'Try on this mail' }).click();
  await expectText(page.getByTestId('try-result'), 'The template reads this mail.', 'the try');
  await expectText(page.getByTestId('try-result'), '"order_no": "' + order + '"', 'the event it would give');
  await shot('tried');

  // Save it, then re-parse the mail.
  await page.getByRole('button', { name: 'Save template' }).click();
  await expectText(page.getByTestId('template-saved'), 'Template acme-order saved', 'the save');
  await shot('saved');
  await page.getByTestId('reparse').click();
  await page.getByRole('status').filter({ hasText: 'Re-parsed: what changed is stored and queued for delivery.' }).waitFor();
  await shot('reparsed');

  // The order.placed event, delivered.
  const deadline = Date.now() + 20000;
  for (;;) {
    const main = (await page.locator('main').textContent()) || '';
    if (main.includes('order.placed') && /delivered/.test(main) && main.includes('parsed')) {
      const placed = page.locator('h2', { hasText: 'order.placed' });
      if (await placed.count() === 1) {
        const table = page.locator('h2:has-text("order.placed") + table');
        if (((await table.textContent()) || '').includes('delivered')) break;
      }
    }
    if (Date.now() > deadline) throw new Error(`the re-parsed order was not delivered in 20 s: ${main.slice(0, 400)}`);
    await page.waitForTimeout(300);
    await page.reload();
  }
  await shot('delivered');

  // Once: re-parsing again changes nothing.
  await page.getByTestId('reparse').click();
  await page.getByRole('status').filter({ hasText: 'Re-parsed: nothing changed' }).waitFor();
  await shot('reparsed-again');

  if (pageErrors.length) throw new Error(`errors in the pages: ${pageErrors.join('; ')}`);
  console.log(`reparse e2e: PASS (screenshots in ${outDir})`);
} catch (e) {
  await shot('failure').catch(() => {});
  console.error(`reparse e2e: FAIL: ${e.message} (screenshots in ${outDir}; page: ${page.url()})`);
  process.exitCode = 1;
} finally {
  await close();
}
