// The storefront in a real browser: Debian's chromium, headless, driven by playwright-core over the
// DevTools protocol, against the whole local stack (NGINX, every function, DynamoDB Local, NATS,
// localstripe). Run by tests/e2e/tests/browser.rs, which starts the stack and passes BASE_URL and
// ARTIFACTS (steps.mjs).
// Exits non-zero, naming the step, when the storefront does not behave.

import {
  alertText, base, expect, fillCard, run, screenshot, signOut, signUp, timeout, unique, watch,
} from "./steps.mjs";

const seller = { email: `seller-${unique}@example.com`, password: "correct horse battery" };
const buyer = { email: `buyer-${unique}@example.com`, password: "another good password" };
const title = `Browser Concert ${unique}`;

await run("storefront", async (browser, step) => {
  const context = await browser.newContext({ viewport: { width: 1024, height: 720 } });
  const page = await context.newPage();
  watch(page);

  step("a signed-out visitor to /orders lands on sign-in");
  await page.goto(`${base}/orders`);
  await page.waitForURL(`${base}/auth/signin`, { timeout });
  await page.getByRole("heading", { name: "Sign In" }).waitFor({ timeout });
  await screenshot(page, "sign-in-instead-of-orders");

  step("the seller signs up");
  await signUp(page, seller, { shoot: true });

  step("the seller lists 2 tickets, the price tidied to 5.00 on leaving the field");
  await page.getByRole("link", { name: "Sell Tickets" }).click();
  await page.getByLabel("Title").fill(title);
  await page.getByLabel("Price").fill("5");
  await page.getByLabel("Quantity").fill("2");
  const price = await page.getByLabel("Price").inputValue();
  expect(price === "5.00", `the price should read 5.00 after leaving the field, not ${price}`);
  await screenshot(page, "sell-tickets");
  await page.getByRole("button", { name: "Submit" }).click();
  await page.waitForURL(/\/tickets\/[^/]+$/, { timeout });
  await page.getByRole("heading", { name: title }).waitFor({ timeout });
  const listing = page.url();
  await screenshot(page, "listing");

  step("the seller signs out");
  await signOut(page);

  step("a wrong password shows its message in the alert box");
  await page.getByRole("link", { name: "Sign In" }).click();
  await page.getByLabel("Email Address").fill(seller.email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign In" }).click();
  const wrong = await alertText(page);
  expect(wrong.includes("Invalid credentials"), `expected "Invalid credentials", saw: ${wrong}`);
  await screenshot(page, "wrong-password");

  step("a buyer signs up and finds the listing on the home page");
  await signUp(page, buyer, { shoot: true });
  const row = page.getByRole("row").filter({ hasText: title });
  await row.waitFor({ timeout });
  const rowText = await row.innerText();
  expect(rowText.includes("$5.00") && rowText.includes("2"), `listing row reads: ${rowText}`);
  await screenshot(page, "tickets");
  await row.getByRole("link", { name: "View" }).click();
  await page.getByRole("heading", { name: title }).waitFor({ timeout });

  step("reloading a deep link shows the same page");
  await page.reload();
  await page.getByRole("heading", { name: title }).waitFor({ timeout });

  step("the buyer buys 1 and sees the countdown");
  await page.getByLabel("Quantity").fill("1");
  await page.getByRole("button", { name: "Purchase" }).click();
  await page.waitForURL(/\/orders\/[^/]+$/, { timeout });
  const countdown = page.getByText(/Time left to pay: \d\d:\d\d/);
  await countdown.waitFor({ timeout });
  const first = await countdown.innerText();
  await page.waitForTimeout(1_500);
  const later = await countdown.innerText();
  expect(first !== later, `the countdown should move: "${first}" then "${later}"`);

  step("the buyer pays with a test card");
  await fillCard(page);
  // The countdown ticks every second; what the buyer typed must survive it.
  await page.waitForTimeout(2_200);
  const typed = await page.getByPlaceholder("number", { exact: true }).inputValue();
  expect(typed === "4242424242424242", `the card number was lost while the countdown ran: "${typed}"`);
  await screenshot(page, "order");
  await page.getByRole("button", { name: "Pay" }).click();

  step("the order is complete under My Orders");
  await page.waitForURL(`${base}/orders`, { timeout });
  const paid = page.getByRole("row").filter({ hasText: title });
  await paid.getByText("complete").waitFor({ timeout: 30_000 });
  await screenshot(page, "my-orders");

  step("a purchase of a ticket someone else just took shows the sold-out message");
  await page.goto(listing);
  await page.getByRole("button", { name: "Purchase" }).waitFor({ timeout });
  // While this page still offers the last ticket, another buyer takes it through the API.
  const rival = await context.request.post(`${base}/api/users/signup`, {
    data: { email: `rival-${unique}@example.com`, password: "a third password" },
  });
  expect(rival.status() === 201, `rival sign-up answered ${rival.status()}`);
  const ticketId = new URL(listing).pathname.split("/").pop();
  const taken = await context.request.post(`${base}/api/orders`, { data: { ticketId } });
  expect(taken.status() === 201, `rival order answered ${taken.status()}`);
  // The rival's session replaced the buyer's cookie; sign the buyer back in through the API.
  const back = await context.request.post(`${base}/api/users/signin`, { data: buyer });
  expect(back.status() === 200, `buyer sign-in answered ${back.status()}`);
  await page.getByRole("button", { name: "Purchase" }).click();
  const soldOut = await alertText(page);
  expect(soldOut.includes("Ticket is already reserved"), `expected the sold-out message, saw: ${soldOut}`);
  await screenshot(page, "sold-out");

  step("a network failure shows a message, not a blank page");
  await page.route("**/api/**", (route) => route.abort("internetdisconnected"));
  await page.goto(`${base}/`);
  const offline = await alertText(page);
  expect(offline.includes("Cannot reach the server"), `expected the network message, saw: ${offline}`);
  expect(await page.getByRole("heading", { name: "Tickets" }).isVisible(), "the page should still render");
  await screenshot(page, "network-failure");
  await page.unroute("**/api/**");

  step("a card that needs 3-D Secure is authenticated and the order completes");
  const asSeller = await context.request.post(`${base}/api/users/signin`, { data: seller });
  expect(asSeller.status() === 200, `seller sign-in answered ${asSeller.status()}`);
  const secureTitle = `Secure Show ${unique}`;
  const listed = await context.request.post(`${base}/api/tickets`, {
    data: { title: secureTitle, price: 12.5 },
  });
  expect(listed.status() === 201, `second listing answered ${listed.status()}`);
  const secureTicket = (await listed.json()).id;
  const asBuyer = await context.request.post(`${base}/api/users/signin`, { data: buyer });
  expect(asBuyer.status() === 200, `buyer sign-in answered ${asBuyer.status()}`);
  await page.goto(`${base}/tickets/${secureTicket}`);
  await page.getByRole("button", { name: "Purchase" }).click();
  await page.waitForURL(/\/orders\/[^/]+$/, { timeout });
  await fillCard(page, "4000002760003184");
  await page.getByRole("button", { name: "Pay" }).click();
  const authenticate = page.getByRole("button", { name: "Complete authentication" });
  await authenticate.waitFor({ timeout });
  await screenshot(page, "3d-secure");
  await authenticate.click();
  await page.waitForURL(`${base}/orders`, { timeout });
  await page.getByRole("row").filter({ hasText: secureTitle }).getByText("complete")
    .waitFor({ timeout: 30_000 });

  step("a phone-width screen still shows the whole page");
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto(`${base}/orders`);
  await page.getByRole("row").filter({ hasText: title }).first().waitFor({ timeout });
  await screenshot(page, "my-orders-phone");

});
