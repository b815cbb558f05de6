// The orders, order, stock and catalog pages of the console, driven in
// Chromium after console.mjs has logged in: the order list and its
// filters, the merged order with its per-line states and timeline, the
// CSV export link, the catalog upload with its import report, the stock
// with low stock first; and the Orders and Order pages at a phone's width
// without a horizontal scroll.
//
// Environment (the driver sets it):
//   ORDER_CART     a cart (pack_no) with one line cancelled
//   ORDER_SELLER   its seller
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { need } from './browser.mjs';

// fitsWidth fails when the page scrolls sideways at the viewport's width.
const fitsWidth = async (page, what) => {
  const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (scroll > inner + 1) throw new Error(`${what}: ${scroll}px wide in a ${inner}px viewport`);
};

export async function ordersPages({ page, base, shot, expectText }) {
  const cart = need('ORDER_CART');
  const seller = need('ORDER_SELLER');

  await page.getByRole('link', { name: 'Orders', exact: true }).click();
  await page.getByRole('heading', { name: 'Orders' }).waitFor();
  const rows = page.locator('#orders tbody tr');
  if (await rows.count() < 3) throw new Error(`${await rows.count()} orders listed, want 3`);
  await expectText(page.locator('#orders'), 'partially_cancelled', 'the order list');
  await shot('orders');

  // Search by an order number of a line, then filter by state.
  await page.getByLabel('Search').fill('800000002');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/q=800000002/);
  if (await rows.count() !== 1) throw new Error(`search found ${await rows.count()} orders, want 1`);
  await page.getByLabel('Search').fill('');
  await page.getByLabel('State').selectOption('partially_cancelled');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/state=partially_cancelled/);
  if (await rows.count() !== 1) throw new Error(`state filter found ${await rows.count()} orders, want 1`);
  await shot('orders-filtered');

  // The export link answers CSV.
  const href = await page.getByRole('link', { name: 'CSV for Excel (CP932)' }).getAttribute('href');
  const csv = await page.request.get(new URL(href, base).toString());
  if (csv.status() !== 200 || !csv.headers()['content-type'].includes('Shift_JIS')) {
    throw new Error(`export answered ${csv.status()} ${csv.headers()['content-type']}`);
  }

  // The order: merged record, per-line state, timeline with links.
  await rows.first().getByRole('link', { name: cart }).click();
  await page.getByRole('heading', { name: `Order ${cart}` }).waitFor();
  await expectText(page.locator('#state'), 'partially_cancelled', 'the order state');
  const lines = page.locator('#lines tbody tr');
  if (await lines.count() !== 3) throw new Error(`${await lines.count()} lines, want 3`);
  await expectText(lines.first(), 'cancelled', 'the cancelled line');
  await expectText(lines.nth(1), 'placed', 'a line still placed');
  await expectText(page.locator('main dl'), 'taro@example.com', 'the buyer');
  const timeline = page.locator('#timeline tbody tr');
  if (await timeline.count() < 6) throw new Error(`${await timeline.count()} timeline entries, want mails, events and deliveries`);
  await expectText(page.locator('#timeline'), 'order.updated', 'the timeline');
  await shot('order');
  const mailLink = page.locator('#timeline tbody tr', { hasText: 'mail' }).first().getByRole('link');
  await mailLink.click();
  await page.getByRole('heading', { name: /^Mail / }).waitFor();
  await page.goBack();

  // The order's JSON in the API, from the same session.
  const api = await page.request.get(`${base}/api/v1/orders/${seller}/${cart}`);
  if (api.status() !== 200 || (await api.json()).state !== 'partially_cancelled') {
    throw new Error(`order API answered ${api.status()}`);
  }

  // Catalog upload through the form, with the import report.
  await page.getByRole('link', { name: 'Catalog', exact: true }).click();
  await page.getByRole('heading', { name: 'Catalog' }).waitFor();
  const file = (name) => fileURLToPath(new URL(`../testdata/${name}`, import.meta.url));
  const upload = async () => {
    await page.getByLabel('Seller ID').fill(seller);
    await page.setInputFiles('input[type=file]', [
      { name: 'GoodsList.csv', mimeType: 'text/csv', buffer: readFileSync(file('GoodsList-cm_shop-cp932.csv')) },
      { name: 'InventoryManagement_gridInventory.csv', mimeType: 'text/csv', buffer: readFileSync(file('InventoryManagement_gridInventory-cm_shop.csv')) },
    ]);
    await page.getByRole('button', { name: 'Import' }).click();
    await page.getByRole('heading', { name: /^Import report/ }).waitFor();
  };
  // The GoodsList has a bad row: the files are refused whole, the row
  // named, until the form asks for the good rows alone.
  await upload();
  await expectText(page.getByRole('alert'), 'nothing was changed', 'the refused import');
  await expectText(page.locator('#report'), '在庫数', 'the bad row of the refused import');
  await shot('catalog-refused');
  await page.getByLabel(/Import the good rows/).check();
  await upload();
  await expectText(page.locator('#report'), 'cp932', 'the import report');
  await expectText(page.locator('#report'), '在庫数', 'the bad row of the report');
  await shot('catalog-imported');

  // Stock: the lowest first (below the threshold, then by quantity).
  await page.getByRole('link', { name: 'Stock', exact: true }).click();
  await page.getByRole('heading', { name: 'Stock' }).waitFor();
  const qty = (await page.locator('#stock td[data-label=Stock]').allTextContents()).map((t) => parseInt(t, 10));
  if (qty.length < 5 || qty.some((q, i) => i > 0 && q < qty[i - 1])) throw new Error(`stock not lowest first: ${qty}`);
  await shot('stock');

  // A phone's width: the list and the order read without sideways scroll.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/admin/orders`);
  await fitsWidth(page, 'the orders page');
  await shot('orders-phone');
  await page.goto(`${base}/admin/orders/${seller}/${cart}`);
  await fitsWidth(page, 'the order page');
  await shot('order-phone');
  await page.goto(`${base}/admin/stock`);
  await fitsWidth(page, 'the stock page');
  await page.setViewportSize({ width: 1280, height: 900 });
}
