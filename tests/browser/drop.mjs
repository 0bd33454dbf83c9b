// A ticket drop in a real browser (headless chromium through playwright-core, as storefront.mjs),
// against the whole local stack: a seller lists a drop that goes on sale in about 20 seconds, a
// buyer joins its queue early, waits with the countdown running, is let in once sales start,
// orders and pays; then the listing shows the seed, whose hash was published before the sale.
// Run by tests/e2e/tests/browser_drop.rs, which starts the stack and passes BASE_URL and ARTIFACTS
// (steps.mjs).
// Exits non-zero, naming the step, when the storefront does not behave.

import { createHash } from "node:crypto";
import { base, expect, fillCard, run, screenshot, signOut, signUp, timeout, unique, watch } from "./steps.mjs";

const onSaleInSeconds = 20;
const seller = { email: `drop-seller-${unique}@example.com`, password: "correct horse battery" };
const buyer = { email: `drop-buyer-${unique}@example.com`, password: "another good password" };
const title = `Drop Day ${unique}`;

/** Seconds a countdown such as "On sale in 00:17" or "01:54 left" shows. */
function seconds(text) {
  const match = text.match(/(?:(\d+):)?(\d\d):(\d\d)/);
  expect(match, `no mm:ss in "${text}"`);
  return Number(match[1] ?? 0) * 3600 + Number(match[2]) * 60 + Number(match[3]);
}

await run("drop", async (browser, step) => {
  const context = await browser.newContext({ viewport: { width: 1024, height: 720 } });
  const page = await context.newPage();
  watch(page);

  step("the seller signs up");
  await signUp(page, seller);

  step(`the seller lists a drop going on sale in ${onSaleInSeconds} s, typed on the browser's clock`);
  await page.getByRole("link", { name: "Sell Tickets" }).click();
  await page.getByLabel("Title").fill(title);
  await page.getByLabel("Price").fill("7");
  await page.getByLabel("Quantity").fill("5");
  // The field takes the browser's wall clock; the storefront sends it as UTC.
  const onSaleLocal = await page.evaluate((ahead) => {
    const at = new Date(Date.now() + ahead * 1000);
    const two = (n) => String(n).padStart(2, "0");
    return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())}T${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
  }, onSaleInSeconds);
  await page.getByLabel(/On sale at/).fill(onSaleLocal);
  await screenshot(page, "sell-a-drop");
  await page.getByRole("button", { name: "Submit" }).click();
  await page.waitForURL(/\/tickets\/[^/]+$/, { timeout });
  await page.getByRole("heading", { name: title }).waitFor({ timeout });
  const listing = page.url();
  const ticketId = new URL(listing).pathname.split("/").pop();

  step("the drop's page counts down to the sale and shows the seed's hash");
  const onSale = page.getByText(/On sale in \d\d:\d\d/);
  await onSale.waitFor({ timeout });
  const left = seconds(await onSale.innerText());
  expect(left > 0 && left <= onSaleInSeconds + 1, `the countdown should start near ${onSaleInSeconds} s, not ${left} s`);
  const ticket = await (await context.request.get(`${base}/api/tickets/${ticketId}`)).json();
  expect(ticket.onSaleAt, `the listing should be a drop: ${JSON.stringify(ticket)}`);
  const onSaleAt = Date.parse(ticket.onSaleAt);
  expect(Math.abs(onSaleAt - Date.parse(new Date(onSaleLocal).toISOString())) < 1500,
    `onSaleAt ${ticket.onSaleAt} should be the typed local time ${onSaleLocal} in UTC`);
  const hash = ticket.queueSeedHash;
  expect(/^[0-9a-f]{64}$/.test(hash ?? ""), `queueSeedHash should be hex SHA-256, not ${hash}`);
  await page.getByText(hash).waitFor({ timeout });
  expect(await page.getByText("This is your listing.").isVisible(), "the seller should not be offered the queue");
  await screenshot(page, "drop-countdown-seller");

  step("a buyer signs up and opens the drop");
  await signOut(page);
  await signUp(page, buyer);
  await page.goto(listing);
  await page.getByRole("heading", { name: title }).waitFor({ timeout });
  expect(await page.getByRole("button", { name: "Purchase" }).count() === 0,
    "a drop should offer the queue, not Purchase");

  step("the buyer joins the queue for 2 before the sale");
  await page.getByLabel("Quantity").fill("2");
  await page.getByRole("button", { name: "Join the queue" }).click();
  await page.waitForURL(`${base}/tickets/${ticketId}/queue`, { timeout });
  expect(Date.now() < onSaleAt, "the buyer should have joined before the sale (the machine was too slow)");

  step("the queue page says the buyer waits and counts down to the sale");
  await page.getByText("You are in. Your place in line is drawn when sales start.").waitFor({ timeout });
  const startsIn = page.getByText(/Sales start in \d\d:\d\d/);
  await startsIn.waitFor({ timeout });
  const first = await startsIn.innerText();
  await page.waitForTimeout(1_500);
  if (Date.now() < onSaleAt - 1_000) {
    const later = await startsIn.innerText();
    expect(first !== later, `the countdown should move: "${first}" then "${later}"`);
  }
  await page.getByRole("progressbar").waitFor({ timeout });
  const before = await page.getByRole("progressbar").getAttribute("value");
  if (Date.now() < onSaleAt - 1_000) {
    expect(before === "0", `the bar should be empty before the sale, not ${before}`);
  }
  await screenshot(page, "queue-waiting");

  step("once sales start, the page lets the buyer in by itself, with the admission's countdown");
  const turn = page.getByText("It's your turn");
  await turn.waitFor({ timeout: Math.max(0, onSaleAt - Date.now()) + 30_000 });
  expect(Date.now() >= onSaleAt - 1_000, "the buyer was let in before the sale started");
  const admission = page.getByText(/\d\d:\d\d left to order/);
  await admission.waitFor({ timeout });
  expect(seconds(await admission.innerText()) > 0, "the admission should have time left");
  const bar = await page.getByRole("progressbar").getAttribute("value");
  expect(bar === "100", `the bar should be full once admitted, not ${bar}`);
  await screenshot(page, "queue-admitted");

  step("a phone-width screen shows the whole queue page");
  await page.setViewportSize({ width: 375, height: 740 });
  await screenshot(page, "queue-admitted-phone");
  await page.setViewportSize({ width: 1024, height: 720 });

  step("the buyer orders the admitted 2 and pays");
  const quantity = await page.getByLabel(/Quantity/).inputValue();
  expect(quantity === "2", `the order form should offer the admitted 2, not ${quantity}`);
  await page.getByRole("button", { name: "Purchase" }).click();
  await page.waitForURL(/\/orders\/[^/]+$/, { timeout });
  const orderPage = page.url();
  await fillCard(page);
  await screenshot(page, "drop-order");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.waitForURL(`${base}/orders`, { timeout });
  await page.getByRole("row").filter({ hasText: title }).getByText("complete")
    .waitFor({ timeout: 30_000 });
  await screenshot(page, "drop-paid");

  step("the queue page now says the buyer ordered, with a link to the order");
  await page.goto(`${base}/tickets/${ticketId}/queue`);
  await page.getByText("You have ordered your tickets.").waitFor({ timeout });
  const link = await page.getByRole("link", { name: "Go to your order" }).getAttribute("href");
  expect(orderPage.endsWith(link), `the link should lead to ${orderPage}, not ${link}`);

  step("after the sale the listing shows the seed, and it hashes to what was published");
  await page.goto(listing);
  await page.getByText(/How to verify/).waitFor({ timeout });
  const revealed = (await (await context.request.get(`${base}/api/tickets/${ticketId}`)).json()).queueSeed;
  expect(/^[0-9a-f]{64}$/.test(revealed ?? ""), `queueSeed should be shown after the sale, not ${revealed}`);
  await page.getByText(revealed).waitFor({ timeout });
  const rehashed = createHash("sha256").update(Buffer.from(revealed, "hex")).digest("hex");
  expect(rehashed === hash, `SHA-256 of the seed is ${rehashed}, but ${hash} was published`);
  await screenshot(page, "drop-seed-revealed");

});
